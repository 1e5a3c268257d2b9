import { describe, expect, it } from "vitest";
import { z } from "zod";
import { API_ROUTES } from "../../workers/api-routes";
import { openApiPath } from "../../workers/openapi/document";
import * as resources from "../../workers/openapi/resources";
import { router } from "../../workers/router";
import { api } from "../helpers/api";
import { putObjects } from "../helpers/buckets";
import { completedBackup, restore, verify } from "../helpers/flows";

type Operation = {
  requestBody?: unknown;
  parameters: { name: string; in: string }[];
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
};

async function document() {
  const response = await api("GET", "/api/openapi.json", { token: null });
  expect(response.status).toBe(200);
  return response.body as {
    openapi: string;
    paths: Record<string, Record<string, Operation>>;
    components: { schemas: Record<string, unknown> };
  };
}

/** The object's keys that the zod object does not name (nested objects included). */
function undocumentedKeys(value: unknown, schema: z.ZodType, at = ""): string[] {
  if (!(schema instanceof z.ZodObject) || value === null || typeof value !== "object" || Array.isArray(value))
    return [];
  const shape = schema.shape as Record<string, z.ZodType>;
  return Object.entries(value).flatMap(([key, inner]) => {
    const field = shape[key];
    if (!field) return schema.def.catchall ? [] : [`${at}${key}`];
    const unwrapped =
      field instanceof z.ZodNullable || field instanceof z.ZodOptional ? (field.unwrap() as z.ZodType) : field;
    return undocumentedKeys(inner, unwrapped, `${at}${key}.`);
  });
}

/** Parses a real response with its documented schema and names any field the schema leaves out. */
function expectDocumented(body: unknown, schema: z.ZodType) {
  const parsed = schema.safeParse(body);
  expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
  expect(undocumentedKeys(body, schema)).toEqual([]);
}

describe("the OpenAPI document", () => {
  it("is served without a token as OpenAPI 3.1, with the shared resources as components", async () => {
    const doc = await document();
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(["Backup", "Job", "Alert", "Error", "Stats"]),
    );
    // Every reference resolves inside the document.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/(\w+)\/(\w+)"/g)];
    expect(refs.length).toBeGreaterThan(10);
    for (const [, section, name] of refs)
      expect(
        (doc.components as Record<string, Record<string, unknown>>)[section!]?.[name!],
        `${section}/${name}`,
      ).toBeDefined();
  });

  it("documents every route the router serves, with its parameters, body, success and error responses", async () => {
    const doc = await document();
    const served = router.routes
      .filter(([method]) => method !== "ALL")
      .map(([method, , , path]) => [method!, (path ?? "").replace(/^\/api/, "")] as const);
    expect(served.length).toBe(API_ROUTES.length + 2); // the table, health and the document itself
    for (const [method, path] of served) {
      const operation = doc.paths[openApiPath(path)]?.[method.toLowerCase()];
      expect(operation, `${method} ${path} is not in the document`).toBeDefined();
      const success = operation!.responses["200"] ?? operation!.responses["201"] ?? operation!.responses["202"];
      expect(success, `${method} ${path} has no success response`).toBeDefined();
      const route = API_ROUTES.find((r) => r.path === path && r.method === method);
      if (!route) continue; // health and the document: public, described by hand
      const mediaType = "binary" in route.success ? "*/*" : "application/json";
      expect(success!.content![mediaType]!.schema, `${method} ${path}`).toBeDefined();
      for (const status of ["400", "401", "403", "500", ...route.errors.map(String)])
        expect(operation!.responses[status], `${method} ${path} ${status}`).toBeDefined();
      expect(Boolean(operation!.requestBody), `${method} ${path} request body`).toBe(Boolean(route.body));
      const queryNames = operation!.parameters.filter((p) => p.in === "query").map((p) => p.name);
      expect(queryNames, `${method} ${path} query`).toEqual(
        route.query ? Object.keys((route.query as z.ZodObject).shape) : [],
      );
    }
  });

  it("gives every route an example that its own success schema accepts", () => {
    for (const route of API_ROUTES) {
      if ("binary" in route.success) continue; // an object's bytes: no schema to check an example by
      const parsed = route.success.schema.safeParse(route.success.example);
      expect(parsed.success, `${route.method} ${route.path}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
    }
  });

  it("describes the download as bytes, with its headers, a 206 and a 416", async () => {
    const download = (await document()).paths["/api/backup/object/{id}"]!.get!;
    for (const status of ["200", "206"]) {
      const response = download.responses[status] as {
        content: Record<string, unknown>;
        headers: Record<string, unknown>;
      };
      expect(Object.keys(response.content)).toEqual(["*/*"]);
      expect(Object.keys(response.headers)).toEqual(
        expect.arrayContaining(["ETag", "Content-Range", "x-amz-meta-<name>"]),
      );
    }
    expect(download.responses["416"]).toEqual({ $ref: "#/components/responses/E416" });
  });

  it("describes the real responses: every field the API answers is in the document", async () => {
    await putObjects([
      { key: "docs/a.txt", body: "alpha" },
      { key: "docs/b.csv", body: "1,2" },
    ]);
    const backup = await completedBackup();
    const schemaOf = (method: string, path: string) => {
      const { success } = API_ROUTES.find((r) => r.method === method && r.path === path)!;
      if ("binary" in success) throw new Error(`${method} ${path} answers bytes, not JSON`);
      return success.schema;
    };

    expectDocumented((await api("GET", `/api/backup/status/${backup.id}`)).body, schemaOf("GET", "/backup/status/:id"));
    expectDocumented((await api("GET", "/api/backup/list")).body, schemaOf("GET", "/backup/list"));
    expectDocumented((await api("GET", `/api/backup/files/${backup.id}`)).body, schemaOf("GET", "/backup/files/:id"));
    expectDocumented((await api("GET", `/api/backup/logs/${backup.id}`)).body, schemaOf("GET", "/backup/logs/:id"));
    expectDocumented((await api("GET", "/api/backup/stats")).body, schemaOf("GET", "/backup/stats"));
    expectDocumented((await api("GET", "/api/backup/alerts")).body, schemaOf("GET", "/backup/alerts"));
    expectDocumented((await api("GET", "/api/backup/audit")).body, schemaOf("GET", "/backup/audit"));
    const template = {
      name: "docs",
      sourceBinding: "R2_BUCKET",
      bucketName: "cutty-files",
      includePrefixes: ["docs/"],
    };
    expectDocumented(
      (await api("POST", "/api/backup/templates", { body: template })).body,
      schemaOf("POST", "/backup/templates"),
    );
    expectDocumented((await api("GET", "/api/backup/templates")).body, schemaOf("GET", "/backup/templates"));
    expectDocumented({ job: await verify(backup.id) }, resources.one("job", resources.job));
    expectDocumented({ job: await restore(backup.id, { dryRun: true }) }, resources.one("job", resources.job));
    const refused = await api("POST", "/api/backup/create", { body: { type: "weekly" } });
    expect(refused.status).toBe(400);
    expectDocumented(refused.body, resources.errorResponse);
  });
});
