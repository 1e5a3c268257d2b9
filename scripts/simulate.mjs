#!/usr/bin/env node
// npm run simulate -- [--runs N] [--seed S]: the simulated month (tests/simulation/) with more
// histories than CI runs, or another seed; a failure prints the seed and path that replay it.
import { spawnSync } from "node:child_process";

const args = process.argv.slice(2);
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const runs = option("--runs");
const seed = option("--seed");
for (const [name, value] of [
  ["--runs", runs],
  ["--seed", seed],
]) {
  if (value !== undefined && !/^\d+$/.test(value)) {
    console.error(`${name} must be a whole number (got ${value})`);
    process.exit(2);
  }
}
const env = { ...process.env, ...(runs ? { SIM_RUNS: runs } : {}), ...(seed ? { SIM_SEED: seed } : {}) };
const result = spawnSync("npx", ["vitest", "run", "--project", "simulation"], { stdio: "inherit", env });
process.exit(result.status ?? 1);
