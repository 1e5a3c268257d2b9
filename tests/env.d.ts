import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      /** The migrations in drizzle/, read by vitest.config.ts and applied in tests/setup. */
      TEST_MIGRATIONS: D1Migration[];
      /** Repeats a fault-matrix run's sampled fault points (tests/fault-matrix/scenarios.ts). */
      FAULT_MATRIX_SEED?: string;
      FAULT_MATRIX_SAMPLE?: string;
      /** A second source bucket, bound in the more-buckets project only (backup templates). */
      R2_MEDIA_BUCKET?: R2Bucket;
    }
  }
}
