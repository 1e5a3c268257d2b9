/**
 * The service's configuration, parsed and validated once per isolate from the Worker's
 * environment. A bad value fails every request with an error that names the variable; nothing
 * falls back to a silent default when a value is present but wrong.
 */
import { z } from "zod";
import { SCHEDULES } from "./schedule";
import { parseLatencyProfile } from "../r2-latency";

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** https anywhere, plain http only to this machine (a local receiver during development). */
export function isAllowedWebhookUrl(url: URL): boolean {
  return url.protocol === "https:" || (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname));
}

const flag = z.enum(["true", "false"]).transform((value) => value === "true");

function wholeNumber(min: number, max: number) {
  return z
    .string()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
}

/**
 * BACKUP_KEEP: restic-style keep rules, "last=3,daily=7,weekly=4,monthly=6"; rules left out are 0.
 * Each count is a whole number up to 10,000.
 */
const KEEP_RULES = ["last", "daily", "weekly", "monthly"] as const;
const keepRules = z.string().transform((value, ctx) => {
  const rules = { last: 0, daily: 0, weekly: 0, monthly: 0 };
  for (const part of value
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const match = /^(last|daily|weekly|monthly)=(\d{1,5})$/.exec(part);
    if (!match || Number(match[2]) > 10_000) {
      ctx.addIssue({
        code: "custom",
        message: `must be rules such as "last=3,daily=7,weekly=4,monthly=6" (${KEEP_RULES.join(", ")}; 0 to 10000 each), got ${JSON.stringify(part)}`,
      });
      return z.NEVER;
    }
    rules[match[1] as (typeof KEEP_RULES)[number]] = Number(match[2]);
  }
  return rules;
});

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === "" ? undefined : value.trim()));

const configSchema = z
  .object({
    BACKUP_RETENTION_DAYS: wholeNumber(1, 3650).default(30),
    /**
     * Retention lock: no cleanup expires a backup younger than this many days (or, so, anything it
     * needs), whatever a request asks. Set by deploy, never by a token. 0: no lock.
     */
    BACKUP_MIN_RETENTION_DAYS: wholeNumber(0, 36500).default(0),
    /**
     * The longest retention of the R2 bucket lock rules on the backup bucket (and the replica), in
     * days; 0: none. The engine then never asks R2 for what a rule would refuse (bucket-lock.ts).
     */
    BACKUP_BUCKET_LOCK_DAYS: wholeNumber(0, 36500).default(0),
    /** How long after it is asked for the release of a legal hold takes effect (cancellable meanwhile). */
    BACKUP_HOLD_RELEASE_DELAY_HOURS: wholeNumber(0, 24 * 365).default(24),
    /** Keep rules applied by cleanup besides the retention days (see keepRules). */
    BACKUP_KEEP: keepRules.default({ last: 3, daily: 7, weekly: 4, monthly: 6 }),
    /**
     * Hours an unreferenced blob must be old before cleanup deletes it: longer than any backup
     * may take between storing a blob and recording it. 0 is for tests.
     */
    BACKUP_GC_GRACE_HOURS: wholeNumber(0, 720).default(24),
    /** Days the log rows of an expired backup are kept after it expired (the audit trail). */
    BACKUP_LOG_RETENTION_DAYS: wholeNumber(1, 3650).default(90),
    /**
     * When the cron starts an automatic backup (schedule.ts): daily (02:00 UTC), hourly, weekly
     * (Sundays 02:00 UTC) or manual (the cron only looks after jobs, alerts and webhooks).
     */
    BACKUP_SCHEDULE: z.enum(SCHEDULES).default("daily"),
    BACKUP_INCREMENTAL_ENABLED: flag.default(true),
    /**
     * Event backups edit their parent's manifest tree by path (engine/backup/path-edit.ts); false:
     * they walk the parent's whole manifest as before manifest version 3 (the same tree, built the
     * slow way: for comparison in `npm run bench -- --change`, and a way back from path edits; the
     * manifests stay version 3, which an older engine cannot read).
     */
    BACKUP_PATH_EDITS: flag.default(true),
    BACKUP_COMPRESSION_ENABLED: flag.default(false),
    BACKUP_ENCRYPTION_ENABLED: flag.default(false),
    /** The name of the bucket bound as R2_BUCKET: the coordinator's key and the backups' bucketName. */
    BACKUP_SOURCE_BUCKET: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "must be an R2 bucket name")
      .default("cutty-files"),
    BACKUP_FULL_INTERVAL_DAYS: wholeNumber(1, 365).default(7),
    /** Objects per alarm step; the design's ceiling is 100. */
    BACKUP_BATCH_SIZE: wholeNumber(1, 100).default(100),
    /** Attempts per object read before it is recorded as failed. */
    BACKUP_READ_ATTEMPTS: wholeNumber(1, 10).default(4),
    /** First retry delay; later ones double (with jitter). Tests set it to a few ms. */
    BACKUP_RETRY_BASE_MS: wholeNumber(0, 60_000).default(250),
    /**
     * Delay before the next step's alarm. 0 in production; the tests set it far in the future so
     * that they, not the clock, decide when each step runs (runDurableObjectAlarm).
     */
    BACKUP_STEP_DELAY_MS: wholeNumber(0, 86_400_000).default(0),
    /**
     * Tests only: cut manifest leaves and pages after this many entries and children on average
     * (the format's own are 100 and 32), so that a few hundred keys grow a tree of several levels.
     */
    BACKUP_TEST_TREE_FANOUT: wholeNumber(2, 100).optional(),
    /**
     * Benches and tests only: production-shaped latency on every job object's R2 calls
     * (engine/r2-latency.ts): "production", "production×N", or JSON over the defaults.
     */
    BACKUP_TEST_R2_LATENCY: optionalText.pipe(
      z
        .string()
        .optional()
        .transform((value, ctx) => {
          if (value === undefined) return undefined;
          try {
            return parseLatencyProfile(value);
          } catch (error) {
            ctx.addIssue({ code: "custom", message: error instanceof Error ? error.message : String(error) });
            return z.NEVER;
          }
        }),
    ),
    /**
     * Shards a full backup fans out to at most (engine/backup/fan-out.ts): one job object per key
     * range, in parallel. 1 turns fan-out off. The count follows the bucket's size
     * (BACKUP_SHARD_MIN_OBJECTS objects a shard at least), so a small bucket runs in one object.
     * At most 99: a leaf shard's name carries its index in two digits (leaf-fan-out.ts), and 99
     * are what a restore of 10 million objects in under an hour needs with room (docs/scale.md).
     */
    BACKUP_MAX_SHARDS: wholeNumber(1, 99).default(8),
    /** Objects a shard backs up at least: below twice this, a full backup runs in one object. */
    BACKUP_SHARD_MIN_OBJECTS: wholeNumber(1, 100_000_000).default(5_000),
    /** How often a fanned-out backup's parent asks its shards how far they are. */
    BACKUP_SHARD_POLL_MS: wholeNumber(0, 600_000).default(1_000),
    /** Consecutive failed steps after which a job gives up and is marked failed. */
    BACKUP_MAX_STEP_ATTEMPTS: wholeNumber(1, 50).default(6),
    /** Objects larger than this are uploaded part by part across steps (multipart). */
    BACKUP_MULTIPART_THRESHOLD_BYTES: wholeNumber(1024 * 1024, 5 * 1024 ** 4).default(64 * 1024 * 1024),
    /** Part size of those uploads; R2 needs at least 5 MiB (all parts but the last are equal). */
    BACKUP_PART_SIZE_BYTES: wholeNumber(5 * 1024 * 1024, 100 * 1024 * 1024).default(16 * 1024 * 1024),
    /**
     * How often the capture of an object above the multipart threshold starts over because the
     * object changed under it, before it is recorded as failed (the backup ends `partial`).
     */
    BACKUP_LARGE_OBJECT_MAX_RESTARTS: wholeNumber(0, 100).default(3),
    /** Bytes of content one step reads at most (at least one object or one part per step). */
    BACKUP_STEP_BYTE_BUDGET: wholeNumber(1024 * 1024, 4 * 1024 ** 3).default(512 * 1024 * 1024),
    /**
     * An object above the multipart threshold but at most this size is hashed in one step with the
     * runtime's native SHA-256: a backup's hashing pass (a read and a hash, nothing written), and a
     * restore of the object, which moves all of it in that step. A larger one is hashed across
     * steps of BACKUP_STEP_BYTE_BUDGET with the resumable JavaScript hash, several times slower.
     * A crash mid-hash starts the object again, so this bounds the work one crash loses.
     */
    BACKUP_HASH_STEP_BYTES: wholeNumber(1024 * 1024, 16 * 1024 ** 3).default(2 * 1024 ** 3),
    /** Secret: 32 random bytes, base64. Required when encryption is enabled. */
    BACKUP_ENCRYPTION_KEY: optionalText,
    /** Secret: older keys (comma-separated base64), kept to decrypt backups made before a rotation. */
    BACKUP_ENCRYPTION_KEYS: optionalText.transform((value) =>
      value
        ? value
            .split(",")
            .map((k) => k.trim())
            .filter(Boolean)
        : [],
    ),
    /**
     * Local development only: enables POST /api/dev/source-writes, which writes to the source
     * bucket and sends the R2 event notifications R2 would (wrangler dev has no R2 notifications).
     * Set in .dev.vars, never in production.
     */
    BACKUP_DEV_ROUTES: flag.default(false),
    /** Event-driven backups: this many changed keys start an incremental backup at once... */
    BACKUP_EVENT_THRESHOLD: wholeNumber(1, 10_000).default(100),
    /** ...and so does the oldest unprotected change once it has waited this long. */
    BACKUP_EVENT_MAX_DELAY_SECONDS: wholeNumber(0, 86_400).default(60),
    /** Failed or partial backups in a row (since the last completed one) that open an alert. */
    BACKUP_ALERT_CONSECUTIVE_FAILURES: wholeNumber(1, 100).default(3),
    /** Hours without a completed backup after which `no_recent_backup` opens. */
    BACKUP_ALERT_STALE_HOURS: wholeNumber(1, 8760).default(48),
    /** `storage_growth`: a backup that stored more than this many times the trailing average... */
    BACKUP_ALERT_GROWTH_FACTOR: wholeNumber(2, 1000).default(5),
    /** ...of this many completed backups before it... */
    BACKUP_ALERT_GROWTH_WINDOW: wholeNumber(3, 100).default(10),
    /** ...and more than this many bytes (small backups vary a lot and matter little). */
    BACKUP_ALERT_GROWTH_MIN_BYTES: wholeNumber(0, 2 ** 50).default(1024 ** 3),
    /** Scheduled runs in a row that found a backup still running, after which `schedule_skipped` opens. */
    BACKUP_ALERT_SKIPPED_RUNS: wholeNumber(1, 100).default(3),
    /** `changes_pending`: this many changed keys waiting for a backup (or more than the coordinator keeps)... */
    BACKUP_ALERT_PENDING_CHANGES: wholeNumber(1, 10_000).default(1000),
    /** ...or the oldest of them waiting this many hours. */
    BACKUP_ALERT_PENDING_HOURS: wholeNumber(1, 8760).default(6),
    /**
     * `mass_change` (ransomware's signature): a backup, or the backups of the last
     * BACKUP_ALERT_MASS_CHANGE_WINDOW_HOURS together, that modified or deleted at least this
     * percent of the bucket...
     */
    BACKUP_ALERT_MASS_CHANGE_PERCENT: wholeNumber(1, 100).default(25),
    /** ...and this many times the bucket's trailing median share... */
    BACKUP_ALERT_MASS_CHANGE_FACTOR: wholeNumber(1, 1000).default(5),
    /** ...or whose new content is this many percentage points more incompressible than the median... */
    BACKUP_ALERT_INCOMPRESSIBLE_RISE_PERCENT: wholeNumber(1, 100).default(40),
    /** ...counting at least this many objects (changed, or incompressible), so a small bucket's noise pages no one. */
    BACKUP_ALERT_MASS_CHANGE_MIN_OBJECTS: wholeNumber(1, 10_000_000).default(100),
    BACKUP_ALERT_MASS_CHANGE_WINDOW_HOURS: wholeNumber(1, 720).default(24),
    /**
     * Scheduled verification of each bucket's newest completed backup (and of its replica), at
     * 04:00 UTC: `daily` samples BACKUP_VERIFY_SAMPLE_PERCENT of it every day and verifies it
     * whole on Sundays; `weekly` only the Sunday's full one; `manual` none.
     */
    BACKUP_VERIFY_SCHEDULE: z.enum(["daily", "weekly", "manual"]).default("daily"),
    BACKUP_VERIFY_SAMPLE_PERCENT: wholeNumber(1, 100).default(10),
    /** `not_verified` opens when no kept backup of a bucket has had a valid verification for this many days. */
    BACKUP_VERIFY_STALE_DAYS: wholeNumber(1, 365).default(3),
    /**
     * Where alert and job events are POSTed (api.md): https, or http to this machine only, since
     * anything else would send backup details in clear text.
     */
    BACKUP_WEBHOOK_URL: optionalText.pipe(z.url({ message: "must be a URL" }).optional()).superRefine((value, ctx) => {
      if (value !== undefined && URL.canParse(value) && !isAllowedWebhookUrl(new URL(value)))
        ctx.addIssue({
          code: "custom",
          message: "must be https, or http to a loopback address (localhost, 127.0.0.1, ::1)",
        });
    }),
    /** Secret: the HMAC key of webhook signatures; required with BACKUP_WEBHOOK_URL. */
    BACKUP_WEBHOOK_SECRET: optionalText,
    /** How long one delivery attempt waits for the receiver's answer. */
    BACKUP_WEBHOOK_TIMEOUT_MS: wholeNumber(100, 60_000).default(10_000),
    JWT_SECRET: optionalText,
    // Keys fetched over plain http could be swapped on the way, so only https is accepted.
    JWT_JWKS_URL: optionalText.pipe(z.url({ protocol: /^https$/, message: "must be an https URL" }).optional()),
    JWT_ISSUER: optionalText,
    JWT_AUDIENCE: optionalText,
  })
  .superRefine((value, ctx) => {
    const keyProblem = (key: string) => {
      try {
        const length = atob(key).length;
        return length === 32 ? null : `must be 32 bytes encoded as base64 (got ${length} bytes)`;
      } catch {
        return "must be base64 (32 random bytes, for example from `openssl rand -base64 32`)";
      }
    };
    const keyIssue =
      value.BACKUP_ENCRYPTION_KEY !== undefined
        ? keyProblem(value.BACKUP_ENCRYPTION_KEY)
        : value.BACKUP_ENCRYPTION_ENABLED
          ? "is required when BACKUP_ENCRYPTION_ENABLED is true"
          : null;
    if (keyIssue) ctx.addIssue({ code: "custom", path: ["BACKUP_ENCRYPTION_KEY"], message: keyIssue });
    for (const old of value.BACKUP_ENCRYPTION_KEYS) {
      const problem = keyProblem(old);
      if (problem)
        ctx.addIssue({ code: "custom", path: ["BACKUP_ENCRYPTION_KEYS"], message: `has a key that ${problem}` });
    }
    if (value.BACKUP_WEBHOOK_URL !== undefined && (value.BACKUP_WEBHOOK_SECRET?.length ?? 0) < 16) {
      ctx.addIssue({
        code: "custom",
        path: ["BACKUP_WEBHOOK_SECRET"],
        message: "is required with BACKUP_WEBHOOK_URL (at least 16 characters; receivers check signatures with it)",
      });
    }
    if (value.JWT_JWKS_URL === undefined && (value.JWT_SECRET === undefined || value.JWT_SECRET.length < 32)) {
      ctx.addIssue({
        code: "custom",
        path: ["JWT_SECRET"],
        message:
          value.JWT_SECRET === undefined
            ? "is required (a secret of at least 32 characters) unless JWT_JWKS_URL is set"
            : "must be at least 32 characters long",
      });
    }
  });

export type Config = z.output<typeof configSchema>;

export class ConfigError extends Error {
  constructor(
    readonly variables: string[],
    message: string,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

/** The variables the schema reads; anything else in the environment (bindings) is ignored. */
const CONFIG_KEYS = Object.keys(configSchema.shape) as (keyof typeof configSchema.shape)[];

export function parseConfig(env: Record<string, unknown>): Config {
  const raw: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) raw[key] = env[key];
  const parsed = configSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const variable = String(issue.path[0] ?? "configuration");
    const message = issue.code === "invalid_type" ? "must be a string" : issue.message;
    return { variable, text: `${variable} ${message}` };
  });
  return throwConfigError(problems);
}

function throwConfigError(problems: { variable: string; text: string }[]): never {
  const variables = [...new Set(problems.map((p) => p.variable))];
  throw new ConfigError(variables, `Invalid configuration: ${problems.map((p) => p.text).join("; ")}`);
}

const cache = new WeakMap<object, Config>();

/** Parses once per environment object; Workers hand the same `env` to every request of an isolate. */
export function getConfig(env: object): Config {
  let config = cache.get(env);
  if (!config) {
    config = parseConfig(env as Record<string, unknown>);
    cache.set(env, config);
  }
  return config;
}
