/**
 * Property-based tests of the API edge (fast-check): any body and query on every endpoint gets a
 * 2xx or a 4xx in the contract's error format, never a 500, and a rejected request changes
 * nothing in D1 or in the backup bucket.
 */
import { env } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { listAll, putObjects, variedObjects } from "../helpers/buckets";
import { completedBackup } from "../helpers/flows";

async function stateDigest(): Promise<string> {
  const counts = await env.DB.batch(
    ["r2_backups", "backup_jobs", "backup_files", "job_findings"].map((t) =>
      env.DB.prepare(`SELECT count(*) AS n FROM ${t}`),
    ),
  );
  const objects = (await listAll(env.R2_BACKUP_BUCKET)).length;
  return JSON.stringify([counts.map((c) => c.results[0]), objects]);
}

const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record(
    { type: fc.oneof(fc.constantFrom("full", "incremental", "auto", "FULL", "", "x"), fc.jsonValue({ maxDepth: 1 })) },
    { requiredKeys: [] },
  ),
  fc.record(
    {
      mode: fc.oneof(fc.constantFrom("full", "quick", "deep"), fc.integer()),
      samplePercent: fc.oneof(fc.integer({ min: -5, max: 105 }), fc.double(), fc.string()),
    },
    { requiredKeys: [] },
  ),
  fc.record(
    {
      overwriteExisting: fc.oneof(fc.boolean(), fc.string()),
      dryRun: fc.constant(true),
      targetPrefix: fc.oneof(fc.string(), fc.constantFrom("/abs", "a/../b", "ok/", "x\u0000y", "é".repeat(600))),
      filters: fc.record(
        {
          pathPrefix: fc.string(),
          fileExtensions: fc.array(fc.string(), { maxLength: 3 }),
          dateRange: fc.record({ start: fc.string(), end: fc.string() }, { requiredKeys: [] }),
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ["dryRun"] },
  ),
);
const queryValue = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom("0", "1", "100", "1001", "-1", "warn", "completed", "full", "%", "é"),
);
const query = fc.dictionary(
  fc.constantFrom("limit", "cursor", "status", "type", "level", "prefix", "state", "extra"),
  queryValue,
  { maxKeys: 3 },
);

describe("any input at the API edge", () => {
  it("gets a 2xx or a contract-shaped 4xx, never a 500, and a 4xx changes nothing", { timeout: 120_000 }, async () => {
    await putObjects(variedObjects(6));
    const backup = await completedBackup();
    const ids = fc.oneof(
      fc.constant(backup.id),
      fc.string({ minLength: 1, maxLength: 20 }).map(encodeURIComponent),
      fc.constant("x".repeat(300)),
    );
    const request = fc.oneof(
      fc.record({ method: fc.constant("POST"), path: fc.constant("/api/backup/create"), body: jsonish }),
      fc.record({ method: fc.constant("POST"), path: ids.map((id) => `/api/backup/verify/${id}`), body: jsonish }),
      fc.record({ method: fc.constant("POST"), path: ids.map((id) => `/api/backup/restore/${id}`), body: jsonish }),
      fc.record({
        method: fc.constant("POST"),
        path: ids.map((id) => `/api/backup/cancel/${id}`),
        body: fc.option(jsonish, { nil: undefined }),
      }),
      fc.record({
        method: fc.constant("POST"),
        path: fc.constant("/api/backup/cleanup"),
        body: fc.oneof(
          jsonish,
          fc.record(
            {
              dryRun: fc.boolean(),
              retentionDays: fc.oneof(fc.integer({ min: -2, max: 4000 }), fc.string()),
              keep: fc.dictionary(
                fc.constantFrom("last", "daily", "weekly", "monthly", "yearly"),
                fc.oneof(fc.integer({ min: -1, max: 20_000 }), fc.constant("3")),
              ),
            },
            { requiredKeys: [] },
          ),
        ),
      }),
      fc.record({
        method: fc.constant("GET"),
        path: fc
          .tuple(fc.constantFrom("list", "status/", "files/", "logs/", "jobs/"), ids, query)
          .map(([p, id, q]) => `/api/backup/${p}${p.endsWith("/") ? id : ""}?${new URLSearchParams(q)}`),
      }),
      fc.record({
        method: fc.constantFrom("PUT", "DELETE", "PATCH"),
        path: fc.constantFrom("/api/backup/create", `/api/backup/status/${backup.id}`, "/api/backup/unknown"),
      }),
    );
    await fc.assert(
      fc.asyncProperty(request, fc.boolean(), async (req, raw) => {
        const before = await stateDigest();
        const body =
          "body" in req && req.body !== undefined
            ? raw
              ? { rawBody: JSON.stringify(req.body).slice(0, 40) }
              : { body: req.body }
            : {};
        const response = await api(req.method, req.path, body);
        expect(response.status, `${req.method} ${req.path} → ${JSON.stringify(response.body)}`).toBeLessThan(500);
        if (response.status >= 400) {
          expect(response.body.error).toEqual({
            code: expect.any(String),
            message: expect.any(String),
            details: expect.any(Object),
          });
          expect(response.body.error.message.length).toBeGreaterThan(0);
          expect(await stateDigest(), `${req.method} ${req.path} was rejected but changed state`).toBe(before);
        }
      }),
      { numRuns: 250, seed: 20261201 },
    );
  });
});
