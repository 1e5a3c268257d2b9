#!/usr/bin/env node
// npm run simulate -- [--runs N] [--seed S]: the simulated month (tests/simulation/) with more
// histories than CI runs, or another seed; a failure prints the seed and path that replay it.
import { spawnSync } from "node:child_process";
import { scriptArgs, wholeNumberOption } from "./script-args.mjs";

const values = scriptArgs({
  usage: `Usage: npm run simulate -- [--runs N] [--seed S]
Runs the simulated month (tests/simulation/): N histories (default: CI's 10) from seed S (default:
CI's). A failure prints the seed and the shrunk history that replay it.`,
  options: { runs: { type: "string" }, seed: { type: "string" } },
});
const runs = values.runs === undefined ? undefined : wholeNumberOption(values, "runs", 1);
const seed = values.seed === undefined ? undefined : wholeNumberOption(values, "seed");
const env = {
  ...process.env,
  ...(runs ? { SIM_RUNS: String(runs) } : {}),
  ...(seed !== undefined ? { SIM_SEED: String(seed) } : {}),
};
const result = spawnSync("npx", ["vitest", "run", "--project", "simulation"], { stdio: "inherit", env });
process.exit(result.status ?? 1);
