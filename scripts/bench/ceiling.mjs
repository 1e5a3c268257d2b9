// Runs the ceiling Worker (ceiling-worker.mjs) inside workerd through Miniflare, on the same
// local state the dev server uses (stop the server first: one process writes the state at a time).
// With `latency` (a BACKUP_TEST_R2_LATENCY spec), every R2 call of one request goes through the
// engine's own latency layer (durable-objects/engine/r2-latency.ts, compiled here with esbuild, which
// wrangler and vitest bring): 6 connections and the same per-call delays, so "× ceiling" compares like with like.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { transformSync } from "esbuild";
import { Miniflare } from "miniflare";

const WORKER = fileURLToPath(new URL("./ceiling-worker.mjs", import.meta.url));
const LATENCY_LAYER = fileURLToPath(new URL("../../durable-objects/engine/r2-latency.ts", import.meta.url));

/** Opens the ceiling on a state folder; `run(path)` times one call, `dispose()` closes it. */
export function openCeiling(state, { latency } = {}) {
  const layer = transformSync(readFileSync(LATENCY_LAYER, "utf8"), { loader: "ts", format: "esm" }).code;
  const mf = new Miniflare({
    modules: [
      { type: "ESModule", path: WORKER, contents: readFileSync(WORKER, "utf8") },
      { type: "ESModule", path: join(dirname(WORKER), "r2-latency.mjs"), contents: layer },
    ],
    compatibilityDate: "2026-04-20",
    r2Buckets: { SOURCE: "cutty-files", BACKUP: "cutty-backups", SCRATCH: "bench-scratch" },
    bindings: latency ? { LATENCY: latency } : {},
    defaultPersistRoot: `${state}/v3`,
  });
  return {
    async run(path) {
      const started = performance.now();
      const response = await mf.dispatchFetch(`http://ceiling${path}`, { method: "POST" });
      if (!response.ok) throw new Error(`ceiling ${path}: ${response.status} ${await response.text()}`);
      const totals = await response.json();
      return { ...totals, seconds: (performance.now() - started) / 1000 };
    },
    dispose: () => mf.dispose(),
  };
}
