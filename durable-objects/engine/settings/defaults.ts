/**
 * Defaults that are not configuration, each with its reason, in one place (configurable values
 * and their defaults live in config.ts).
 */
export const DEFAULTS = {
  /**
   * Objects read or written in parallel within one step (backup, verify, restore): enough to
   * overlap R2's latency, few enough that six bodies in flight stay far inside 128 MB.
   */
  concurrency: 6,
} as const;
