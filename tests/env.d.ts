import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      /** The migrations in drizzle/, read by vitest.config.ts and applied in tests/setup. */
      TEST_MIGRATIONS: D1Migration[];
    }
  }
}
