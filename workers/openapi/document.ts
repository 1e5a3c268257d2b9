/**
 * The OpenAPI 3.1 document of the API, built from the route table and its zod schemas (request
 * schemas as their input side: what a client sends, before defaults and transforms).
 */
import { z } from "zod";
import type { ApiRoute, BinarySuccess } from "../api-routes";
import { SCOPES } from "../auth";
import "./resources"; // registers the shared resource schemas

const ERROR_WHEN: Record<number, string> = {
  400: "Malformed JSON, an unknown or ill-typed field, a bad query parameter, an unsafe path or filter.",
  401: "Missing, malformed, expired, not-yet-valid or wrongly signed token; wrong issuer or audience.",
  403: "A valid token without the scope this endpoint needs (`details.requiredScope`).",
  404: "Unknown backup or job id.",
  416: "A byte range that cannot be served: past the object's end, several ranges, or malformed (`Content-Range: bytes */<size>`).",
  409: "Conflicting work: see the endpoint's description; `details` names what conflicts.",
  413: "Request body too large.",
  500: "Unexpected failure: a generic message; the details go to the log.",
};

/** `/backup/status/:id` → `/api/backup/status/{id}` */
export function openApiPath(path: string): string {
  return `/api${path.replace(/:(\w+)/g, "{$1}")}`;
}

const COMPONENT = "#/components/schemas/";
/** What the public endpoints (no token) may answer besides their 200. */
const PUBLIC_ERRORS = { 400: { $ref: "#/components/responses/E400" }, 500: { $ref: "#/components/responses/E500" } };

/**
 * One schema as JSON Schema. Resources with a `meta({ id })` come out as `$defs` of each schema;
 * they are moved to `components.schemas` (see `sharedSchemas`), so the references point there.
 */
function schemaOf(schema: z.ZodType, io: "input" | "output") {
  const { $schema: _dialect, $defs: _shared, ...json } = z.toJSONSchema(schema, { io }) as Record<string, unknown>;
  return JSON.parse(JSON.stringify(json).replaceAll('"#/$defs/', `"${COMPONENT}`)) as Record<string, unknown>;
}

/** Every resource schema with an id (resources.ts), for `components.schemas`. */
function sharedSchemas(): Record<string, unknown> {
  const { schemas } = z.toJSONSchema(z.globalRegistry, { io: "output", uri: (id) => `${COMPONENT}${id}` });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, schema]) => {
      const { $schema: _dialect, $id: _id, ...rest } = schema as Record<string, unknown>;
      return [id, rest];
    }),
  );
}

function queryParameters(schema: z.ZodType | undefined) {
  if (!schema) return [];
  const json = schemaOf(schema, "input") as {
    properties?: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: "query",
    required: json.required?.includes(name) ?? false,
    schema: property,
  }));
}

function operation(route: ApiRoute) {
  const pathParameters = [...route.path.matchAll(/:(\w+)/g)].map(([, name]) => ({
    name,
    in: "path",
    required: true,
    schema: { type: "string" },
    description:
      name === "jobId"
        ? "A job id."
        : name === "name"
          ? "A backup template's name."
          : "A backup id (or, for cancel, a job id).",
  }));
  const scope = route.scope ?? route.scopeNote;
  const errorStatuses = [400, 401, 403, ...route.errors, 500];
  return {
    operationId:
      route.operationId ??
      `${route.method.toLowerCase()}${route.path.replace(/\/:\w+/g, "").replace(/(^|\/)(\w)/g, (_m, _s, c: string) => c.toUpperCase())}`,
    tags: [route.tag],
    summary: route.summary,
    description: [
      route.description,
      `Scope: ${scope}.`,
      route.audit ? `Recorded in the audit trail as \`${route.audit}\`.` : "",
    ]
      .filter(Boolean)
      .join("\n\n"),
    security: [{ bearer: route.scope ? [route.scope] : [] }],
    "x-scope": scope,
    parameters: [...pathParameters, ...queryParameters(route.query)],
    ...(route.body
      ? { requestBody: { required: false, content: { "application/json": { schema: schemaOf(route.body, "input") } } } }
      : {}),
    responses: {
      ...("binary" in route.success ? binaryResponses(route.success) : jsonSuccess(route.success)),
      ...Object.fromEntries(errorStatuses.map((status) => [status, { $ref: `#/components/responses/E${status}` }])),
    },
  };
}

function jsonSuccess(success: Exclude<ApiRoute["success"], BinarySuccess>) {
  return {
    [success.status]: {
      description:
        success.status === 202
          ? "Accepted: the work runs in the background."
          : success.status === 201
            ? "Created"
            : "OK",
      content: { "application/json": { schema: schemaOf(success.schema, "output"), example: success.example } },
    },
  };
}

/** An object's bytes, of whatever content type, described as a binary string (OpenAPI 3.1). */
function binaryResponses(success: BinarySuccess) {
  const headers = Object.fromEntries(
    Object.entries(success.headers).map(([name, description]) => [name, { description, schema: { type: "string" } }]),
  );
  const content = { "*/*": { schema: { type: "string", contentMediaType: "application/octet-stream" } } };
  return {
    200: { description: "The whole object.", headers, content },
    206: { description: "One range of the object.", headers, content },
  };
}

export function openApiDocument(routes: ApiRoute[], serverUrl?: string) {
  const paths: Record<string, Record<string, unknown>> = {
    "/api/health": {
      get: {
        operationId: "getHealth",
        tags: ["monitoring"],
        summary: "Liveness: answers without a token",
        security: [],
        responses: {
          200: {
            description: "OK",
            content: { "application/json": { schema: { type: "object", properties: { ok: { const: true } } } } },
          },
          ...PUBLIC_ERRORS,
        },
      },
    },
    "/api/openapi.json": {
      get: {
        operationId: "getOpenApi",
        tags: ["monitoring"],
        summary: "This document: answers without a token",
        security: [],
        responses: { 200: { description: "OpenAPI 3.1", content: { "application/json": {} } }, ...PUBLIC_ERRORS },
      },
    },
  };
  for (const route of routes) {
    const path = openApiPath(route.path);
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation(route) };
  }
  const errorSchema = { $ref: `${COMPONENT}Error` };
  return {
    openapi: "3.1.0",
    info: {
      title: "R2 Backup System",
      version: "1.0.0",
      description:
        "Backups of a Cloudflare R2 bucket: full, incremental and scheduled backups, SHA-256 verification, point-in-time restore, retention, statistics and alerts. Every endpoint but `/api/health` and this document needs `Authorization: Bearer <JWT>` carrying a scope (`scope` claim, space-separated, or a `scopes` array). `backup:admin` allows everything. Every GET also answers HEAD, and a query parameter an endpoint does not define is a 400.",
      // package.json is private and names no license: the service is proprietary.
      license: { name: "Proprietary (UNLICENSED): internal use only", identifier: "LicenseRef-Proprietary" },
    },
    // Relative by default: the server that serves this document (its paths start with /api).
    servers: [serverUrl ? { url: serverUrl } : { url: "/", description: "The server this document is served from" }],
    tags: [
      { name: "backups", description: "Start, list and inspect backups." },
      { name: "jobs", description: "Verify, restore and cancel: work that runs in the background." },
      { name: "monitoring", description: "Statistics, alerts and liveness." },
      { name: "admin", description: "Retention and the audit trail (scope backup:admin)." },
      { name: "dev", description: "Local development only; absent unless BACKUP_DEV_ROUTES is set." },
    ],
    paths,
    components: {
      schemas: sharedSchemas(),
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: `HS256 with JWT_SECRET, or RS256/ES256/EdDSA from JWT_JWKS_URL. Scopes: ${SCOPES.join(", ")}.`,
        },
      },
      responses: Object.fromEntries(
        Object.entries(ERROR_WHEN).map(([status, when]) => [
          `E${status}`,
          { description: when, content: { "application/json": { schema: errorSchema } } },
        ]),
      ),
    },
  };
}
