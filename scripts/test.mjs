#!/usr/bin/env node
// `npm test`: everything CI runs, in order, stopping at the first that fails: lint (typecheck,
// prettier, import rules), the bundle check, then the whole vitest suite. Arguments after `--` go
// to vitest (CI passes its reporters), whatever steps come before it.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** A package's own entry script (vitest's is not among its exports, so found by its folder). */
const resolveBin = (pkg, bin) => join(dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), bin);
const steps = [
  ["lint", "npm", ["run", "-s", "lint"]],
  ["bundle", process.execPath, ["scripts/check-bundle.mjs"]],
  ["vitest", process.execPath, [resolveBin("vitest", "vitest.mjs"), "run", ...process.argv.slice(2)]],
];
for (const [name, command, args] of steps) {
  const run = spawnSync(command, args, { stdio: "inherit" });
  if (run.status !== 0) {
    console.error(`npm test: ${name} failed${run.signal ? ` (${run.signal})` : ""}.`);
    process.exit(run.status ?? 1);
  }
}
