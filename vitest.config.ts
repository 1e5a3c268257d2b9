import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Every integration test runs inside workerd against the real local R2, D1 and Durable Objects
// declared in wrangler.toml. Only the knobs that make tests fast are overridden here.
export default defineConfig(async () => ({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          TEST_MIGRATIONS: await readD1Migrations("./drizzle"),
          JWT_SECRET: "test-secret-that-is-at-least-32-characters-long",
          BACKUP_RETRY_BASE_MS: "1",
          // Steps run only when a test runs the alarm (runDurableObjectAlarm), never on their own.
          BACKUP_STEP_DELAY_MS: "3600000",
        },
      },
    }),
  ],
  test: {
    include: ["tests/**/*.test.ts"],
    setupFiles: ["./tests/setup/apply-migrations.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
}));
