/**
 * Property tests in plain Node run from a fixed seed, so CI's outcome depends on the commit alone;
 * `FC_SEED=<n>` tries another. A failure prints the seed and the shrunk path that replay it.
 */
import fc from "fast-check";

fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 20261206) });
