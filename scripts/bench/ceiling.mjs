// Runs the ceiling Worker (ceiling-worker.mjs) inside workerd through Miniflare, on the same
// local state the dev server uses (stop the server first: one process writes the state at a time).
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const WORKER = fileURLToPath(new URL("./ceiling-worker.mjs", import.meta.url));

/** Opens the ceiling on a state folder; `run(path)` times one call, `dispose()` closes it. */
export function openCeiling(state) {
  const mf = new Miniflare({
    modules: true,
    scriptPath: WORKER,
    compatibilityDate: "2026-04-20",
    r2Buckets: { SOURCE: "cutty-files", BACKUP: "cutty-backups", SCRATCH: "bench-scratch" },
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
