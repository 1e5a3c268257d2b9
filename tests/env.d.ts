import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      /** The migrations in drizzle/, read by vitest.config.ts and applied in tests/setup. */
      TEST_MIGRATIONS: D1Migration[];
      /** Repeats a fault-matrix run's sampled fault points (tests/fault-matrix/scenarios.ts). */
      FAULT_MATRIX_SEED?: string;
      FAULT_MATRIX_SAMPLE?: string;
      /** A second source bucket, bound in the more-buckets and simulation projects (backup templates). */
      R2_MEDIA_BUCKET?: R2Bucket;
      /** Where the simulation restores to (never a bucket later backups read); simulation project only. */
      R2_SCRATCH_BUCKET?: R2Bucket;
      /** The simulation's budget and seed (tests/simulation/settings.ts). */
      SIM_RUNS?: string;
      SIM_SEED?: string;
    }
  }
}
