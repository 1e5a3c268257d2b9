/**
 * The published OpenAPI document passes Redocly's recommended rules (`redocly lint`, the CLI pinned
 * in devDependencies) with no errors: what API tools and validating proxies read is well formed.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { API_ROUTES } from "../../workers/api-routes";
import { openApiDocument } from "../../workers/openapi/document";

it("passes redocly lint's recommended rules without errors or warnings", () => {
  const dir = mkdtempSync(join(tmpdir(), "r2-backup-openapi-"));
  try {
    const file = join(dir, "openapi.json");
    writeFileSync(file, JSON.stringify(openApiDocument(API_ROUTES)));
    const run = spawnSync("node_modules/.bin/redocly", ["lint", file, "--format", "json"], { encoding: "utf8" });
    const report = JSON.parse(run.stdout) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; message: string }[];
    };
    // Warnings are listed too: the document has none today, and a new one should be looked at.
    expect(report.problems.map((p) => `${p.ruleId}: ${p.message}`)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
    expect(run.status).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
