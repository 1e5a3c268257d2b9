import { fileURLToPath } from "node:url";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { quietExpectedRuntimeLines } from "./tests/setup/quiet-runtime.mjs";
import { WEBHOOK_TEST_SECRET } from "./tests/setup/webhook-receiver.mjs";

// Every integration test runs inside workerd against the real local R2, D1 and Durable Objects
// declared in wrangler.toml. Only the knobs that make tests fast (and the storage options under
// test) are overridden here.
const migrations = await readD1Migrations("./drizzle");
quietExpectedRuntimeLines();

const baseBindings = {
  TEST_MIGRATIONS: migrations,
  JWT_SECRET: "test-secret-that-is-at-least-32-characters-long",
  BACKUP_RETRY_BASE_MS: "1",
  // Steps run only when a test runs the alarm (runDurableObjectAlarm), never on their own.
  BACKUP_STEP_DELAY_MS: "3600000",
  // Cleanup may delete unreferenced blobs at once (the grace period has its own test, below).
  BACKUP_GC_GRACE_HOURS: "0",
  // Whatever a local .dev.vars says (it turns them on for npm start): every machine tests the same.
  BACKUP_DEV_ROUTES: "false",
  // One job object per backup unless a test asks for shards (fan-out.test.ts): a test that drives
  // one job's alarms would otherwise wait on shards nobody steps.
  BACKUP_MAX_SHARDS: "1",
};

/** Test keys: 32 bytes each, base64. Never used outside tests. */
export const TEST_ENCRYPTION_KEY = btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => i + 1)));
export const TEST_OLD_ENCRYPTION_KEY = btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => 200 - i)));

const SEALED = {
  BACKUP_COMPRESSION_ENABLED: "true",
  BACKUP_ENCRYPTION_ENABLED: "true",
  BACKUP_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
  BACKUP_ENCRYPTION_KEYS: TEST_OLD_ENCRYPTION_KEY,
};

const SMALL_MULTIPART = {
  // The fault matrix tries every call unless a quick run samples them (tests/fault-matrix/scenarios.ts).
  ...(process.env.FAULT_MATRIX_SAMPLE ? { FAULT_MATRIX_SAMPLE: process.env.FAULT_MATRIX_SAMPLE } : {}),
  ...(process.env.FAULT_MATRIX_SEED ? { FAULT_MATRIX_SEED: process.env.FAULT_MATRIX_SEED } : {}),
  BACKUP_MULTIPART_THRESHOLD_BYTES: String(1024 * 1024),
  BACKUP_PART_SIZE_BYTES: String(5 * 1024 * 1024),
  BACKUP_STEP_BYTE_BUDGET: String(4 * 1024 * 1024),
  // Objects above the budget are hashed across steps, so crashes land mid-hash too.
  BACKUP_HASH_STEP_BYTES: String(1024 * 1024),
};

/**
 * Injected faults make the jobs log every failed step with its stack; printing (and source-mapping)
 * thousands of those costs minutes of CPU and hides the lines that matter. The failures
 * themselves are asserted by the tests. So are the deliberately malformed object events and the
 * event backups that wait for a busy bucket (event-backups.test.ts).
 */
const EXPECTED_FAULT_LOGS =
  /injected fault|step failed|recording the end failed|could not log the retry|lease holder .* did not answer|object event .* dropped|event backup of .* waits/;

function project(
  name: string,
  include: string[],
  bindings: Record<string, unknown>,
  r2Buckets?: Record<string, string>,
) {
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: { bindings: { ...baseBindings, ...bindings }, ...(r2Buckets ? { r2Buckets } : {}) },
      }),
    ],
    test: {
      name,
      include,
      setupFiles: ["./tests/setup/apply-migrations.ts"],
      testTimeout: 60_000,
      hookTimeout: 60_000,
    },
  };
}

/**
 * Alerts, stats and webhooks: the webhook URL points at a real receiver on this machine's
 * loopback, started by the project's global setup (tests/setup/webhook-receiver.mjs).
 */
function monitoringProject() {
  const base = project("monitoring", ["tests/monitoring/**/*.test.ts"], {});
  return {
    ...base,
    plugins: [
      cloudflareTest(({ inject }) => ({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            ...baseBindings,
            BACKUP_WEBHOOK_URL: `http://127.0.0.1:${inject("webhookPort")}/hook`,
            BACKUP_WEBHOOK_SECRET: WEBHOOK_TEST_SECRET,
            // A receiver that never answers is given up on quickly.
            BACKUP_WEBHOOK_TIMEOUT_MS: "300",
            // Test backups are small: growth is judged by the factor alone, and mass change from
            // 20 objects on (the attack test's bucket holds 50).
            BACKUP_ALERT_GROWTH_MIN_BYTES: "0",
            BACKUP_ALERT_MASS_CHANGE_MIN_OBJECTS: "20",
          },
        },
      })),
    ],
    // One receiver for the whole project: its files run one after another, so that what one test
    // sends never lands among another's deliveries.
    test: { ...base.test, globalSetup: ["./tests/setup/webhook-receiver.mjs"], fileParallelism: false },
  };
}

export default defineConfig({
  test: {
    // Read from the root config only (a project's own onConsoleLog is not consulted).
    onConsoleLog: (log: string) => (EXPECTED_FAULT_LOGS.test(log) ? false : undefined),
    // CI has two cores: one workerd per core.
    maxWorkers: 2,
    projects: [
      // Event backups: five changed keys start one at once; fewer wait an hour (event-backups.test.ts).
      project("engine", ["tests/unit/workerd/**/*.test.ts", "tests/integration/**/*.test.ts"], {
        BACKUP_DEV_ROUTES: "true",
        BACKUP_EVENT_THRESHOLD: "5",
        BACKUP_EVENT_MAX_DELAY_SECONDS: "3600",
      }),
      // Pure logic in plain Node: no bindings, so no workerd to set up per file (a few seconds
      // each). Unit tests that need the runtime's own APIs (crypto.DigestStream) are in unit/workerd/.
      {
        test: {
          name: "unit",
          include: ["tests/unit/**/*.test.ts"],
          exclude: ["tests/unit/workerd/**"],
          environment: "node",
          setupFiles: ["./tests/setup/fast-check-seed.ts"],
        },
        // The OpenAPI document is built from the routes, whose modules load the Durable Object classes.
        resolve: {
          alias: {
            "cloudflare:workers": fileURLToPath(new URL("./tests/setup/cloudflare-workers-stub.ts", import.meta.url)),
          },
        },
      },
      // Compression, encryption (with an old key kept for reading) and small multipart settings.
      project("storage-options", ["tests/storage-options/**/*.test.ts"], {
        ...SEALED,
        BACKUP_GC_GRACE_HOURS: "24",
        BACKUP_MULTIPART_THRESHOLD_BYTES: String(6 * 1024 * 1024),
        BACKUP_PART_SIZE_BYTES: String(5 * 1024 * 1024),
        BACKUP_STEP_BYTE_BUDGET: String(6 * 1024 * 1024),
        BACKUP_HASH_STEP_BYTES: String(1024 * 1024),
      }),
      // The fault matrix, with small multipart settings so that large objects stay small, once
      // with plain storage and once with compression and encryption. The plain run hashes a
      // large object across steps (the resumable hash); the sealed one within its hashing
      // allowance (the native hash, whose state a crash loses: a restore hashes its finished parts again).
      project(
        "matrix-plain",
        ["tests/fault-matrix/**/*.test.ts", "tests/small-multipart/**/*.test.ts"],
        SMALL_MULTIPART,
      ),
      project("matrix-sealed", ["tests/fault-matrix/**/*.test.ts"], {
        ...SMALL_MULTIPART,
        ...SEALED,
        BACKUP_HASH_STEP_BYTES: String(8 * 1024 * 1024),
      }),
      monitoringProject(),
      // A real `wrangler dev` on the loopback, started by each test file: the dashboard in
      // headless Chromium and the command-line client.
      {
        test: {
          name: "local-server",
          include: ["tests/local-server/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // Alone, after every other project: a real server and a browser on two cores shared with
          // the fault matrix and the simulation answered too slowly for a page to render in time.
          sequence: { groupOrder: 1 },
        },
      },
      // More buckets than wrangler.toml binds: a second backup location (R2_REPLICA_BUCKET) and a
      // second source bucket for backup templates. Small multipart settings, so that large blobs
      // are copied and restored part by part too.
      project(
        "more-buckets",
        ["tests/replica/**/*.test.ts", "tests/templates/**/*.test.ts"],
        { ...SMALL_MULTIPART, BACKUP_DEV_ROUTES: "true" },
        {
          R2_BUCKET: "cutty-files",
          R2_BACKUP_BUCKET: "cutty-backups",
          R2_REPLICA_BUCKET: "cutty-backups-replica",
          R2_MEDIA_BUCKET: "media-files",
        },
      ),
      project("incremental-disabled", ["tests/incremental-disabled/**/*.test.ts"], {
        BACKUP_INCREMENTAL_ENABLED: "false",
      }),
      // A deployment with a retention lock: no cleanup expires a backup younger than a week.
      project("retention-lock", ["tests/retention-lock/**/*.test.ts"], { BACKUP_MIN_RETENTION_DAYS: "7" }),
      // A backup bucket under R2 bucket lock rules of 10 days: the engine never asks for what they refuse.
      project("bucket-lock", ["tests/bucket-lock/**/*.test.ts"], { BACKUP_BUCKET_LOCK_DAYS: "10" }),
      // Production-shaped R2 on every job object (engine/r2-latency.ts), four times the defaults.
      project("production-latency", ["tests/latency/**/*.test.ts"], { BACKUP_TEST_R2_LATENCY: "production×4" }),
      // The simulated month (tests/simulation/): two source buckets into one store and a replica,
      // restores into a scratch bucket bound only here, small multipart settings and small
      // manifest trees (a few hundred keys grow several levels), a grace period of 0, every
      // pending change due at once, and full backups fanned out over shards. SIM_RUNS and SIM_SEED
      // come from `npm run simulate`.
      project(
        "simulation",
        ["tests/simulation/**/*.test.ts"],
        {
          ...SMALL_MULTIPART,
          BACKUP_TEST_TREE_FANOUT: "4",
          BACKUP_EVENT_THRESHOLD: "1",
          // Full backups of a bucket of 24 objects or more fan out over 2 or 3 shards.
          BACKUP_MAX_SHARDS: "3",
          BACKUP_SHARD_MIN_OBJECTS: "12",
          ...(process.env.SIM_RUNS ? { SIM_RUNS: process.env.SIM_RUNS } : {}),
          ...(process.env.SIM_SEED ? { SIM_SEED: process.env.SIM_SEED } : {}),
        },
        {
          R2_BUCKET: "cutty-files",
          R2_BACKUP_BUCKET: "cutty-backups",
          R2_REPLICA_BUCKET: "cutty-backups-replica",
          R2_MEDIA_BUCKET: "media-files",
          R2_SCRATCH_BUCKET: "sim-scratch",
        },
      ),
    ],
  },
});
