/**
 * The simulated month's budget and seed. CI (`npm test`) runs CI_RUNS sequences from a fixed seed,
 * so a commit's outcome depends on the commit alone; `npm run simulate -- --runs N --seed S` runs
 * more, and a failure prints the seed (and fast-check's path) that replays it.
 */
import { env } from "cloudflare:test";
import type { TreeShape } from "../../durable-objects/engine/format/manifest-tree";

export const CI_RUNS = 10;
export const CI_SEED = 2026_12_06;
export const RUNS = env.SIM_RUNS ? Number(env.SIM_RUNS) : CI_RUNS;
export const SEED = env.SIM_SEED ? Number(env.SIM_SEED) : CI_SEED;
/** Time for all histories and the shrinking of a failing one, after which the run fails. */
export const SHRINK_LIMIT_MS = 20 * 60_000;
/** Operations per sequence at most. */
export const MAX_COMMANDS = 30;
/** The project's BACKUP_TEST_TREE_FANOUT (vitest.config.ts): the keys below are laid out for it. */
export const SHAPE: TreeShape = { leafModulus: 4, pageModulus: 4 };
