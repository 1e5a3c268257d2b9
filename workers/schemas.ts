/** zod schemas for every request body and query string of the API. */
import { z } from "zod";
import { AUDIT_ACTIONS, BACKUP_STATUSES, BACKUP_TRIGGERS, BACKUP_TYPES, LOG_LEVELS } from "../schema";
import { SCHEDULES } from "../durable-objects/engine/settings/schedule";
import { MAX_KEY_BYTES, utf8Length } from "../durable-objects/engine/object-keys";

/** A backup template's name: lowercase letters, digits, `-` and `_` (it appears in URLs and logs). */
export const templateName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,62}$/,
    "must be 1 to 63 lowercase letters, digits, - or _, starting with a letter or digit",
  );

/** Everything optional: no body, `{}`, or no `type` mean `auto` (of the default template unless one is named). */
export const createBackupBody = z.strictObject({
  type: z.enum(["full", "incremental", "auto"]).optional(),
  /** Run this backup template (its bucket, prefixes, storage options). */
  template: templateName.optional(),
});

function limitParam(max: number, fallback: number) {
  return z
    .string()
    .regex(/^\d+$/, `must be a whole number from 1 to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(1, `must be from 1 to ${max}`).max(max, `must be from 1 to ${max}`))
    .default(fallback);
}

export const listBackupsQuery = z.strictObject({
  status: z.enum(BACKUP_STATUSES).optional(),
  type: z.enum(BACKUP_TYPES).optional(),
  trigger: z.enum(BACKUP_TRIGGERS).optional(),
  /** The backups of one backup template (`default`: the environment's). */
  template: templateName.optional(),
  limit: limitParam(100, 20),
  cursor: z.string().min(1).max(512).optional(),
});

export const listLogsQuery = z.strictObject({
  level: z.enum(LOG_LEVELS).optional(),
  limit: limitParam(1000, 100),
  cursor: z.string().min(1).max(512).optional(),
});

/** A key glob (engine/glob.ts): `*` within a segment, `**` across segments, `?` one character. */
const keyGlob = z.string().min(1, "must not be empty").max(1024, "must be at most 1024 characters (R2's key limit)");

export const listFilesQuery = z.strictObject({
  prefix: z.string().max(1024, "must be at most 1024 characters (R2's key limit)").default(""),
  /** Only keys the glob matches (whole key), combinable with prefix. */
  pattern: keyGlob.optional(),
  limit: limitParam(1000, 100),
  cursor: z.string().min(1).max(4096).optional(),
});

export const diffQuery = z.strictObject({
  from: z.string().min(1).max(200),
  to: z.string().min(1).max(200),
  prefix: z.string().max(1024, "must be at most 1024 characters (R2's key limit)").default(""),
  limit: limitParam(1000, 100),
  cursor: z.string().min(1).max(4096).optional(),
});

/** GET /api/backup/object/:id: one object of the backup, by its key. */
export const objectQuery = z.strictObject({
  key: z.string().min(1, "must name an object").max(1024, "must be at most 1024 characters (R2's key limit)"),
});

/** GET /api/backup/history: the versions of one key across a bucket's kept backups. */
export const historyQuery = z.strictObject({
  key: z.string().min(1, "must name an object").max(1024, "must be at most 1024 characters (R2's key limit)"),
  /** The source bucket (default: BACKUP_SOURCE_BUCKET). */
  bucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "must be an R2 bucket name (3 to 63 lowercase letters, digits and -)")
    .optional(),
  limit: limitParam(100, 20),
  cursor: z.string().min(1).max(4096).optional(),
});

/** POST /api/backup/hold/:id: why the backup is held (for the audit and the backup's log). */
export const holdBody = z.strictObject({
  reason: z.string().min(1, "must not be empty").max(500, "must be at most 500 characters").optional(),
});

/** GET /api/dev/diff-cost (local development only). */
export const devDiffCostQuery = z.strictObject({
  from: z.string().min(1).max(200),
  to: z.string().min(1).max(200),
});

export const verifyBody = z.strictObject({
  mode: z.enum(["full", "quick"]).default("full"),
  samplePercent: z
    .number()
    .int("must be a whole number")
    .min(1, "must be from 1 to 100")
    .max(100, "must be from 1 to 100")
    .optional(),
  /** Which backup location to check: the backup bucket, or its replica (R2_REPLICA_BUCKET). */
  copy: z.enum(["primary", "replica"]).default("primary"),
});

const keepCount = z
  .number()
  .int("must be a whole number")
  .min(0, "must be from 0 to 10000")
  .max(10_000, "must be from 0 to 10000");
const retentionDays = z
  .number()
  .int("must be a whole number")
  .min(0, "must be from 0 to 3650")
  .max(3650, "must be from 0 to 3650");
/** restic-style keep rules; rules left out count as 0. */
const keepRules = z.strictObject({
  last: keepCount.default(0),
  daily: keepCount.default(0),
  weekly: keepCount.default(0),
  monthly: keepCount.default(0),
});

/** POST /api/backup/cleanup: every field optional; keep rules left out of `keep` count as 0. */
export const cleanupBody = z.strictObject({
  dryRun: z.boolean().default(false),
  /** Whose backups the policy expires (default: the default template's); its rules are the defaults. */
  template: templateName.optional(),
  retentionDays: retentionDays.optional(),
  keep: keepRules.optional(),
});

const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** At most R2's key limit in UTF-8 bytes (a character count lets a 2,000-byte key through). */
const withinKeyLimit = (schema: z.ZodString) =>
  schema.refine(
    (value) => utf8Length(value) <= MAX_KEY_BYTES,
    `must be at most ${MAX_KEY_BYTES} bytes in UTF-8 (R2's key limit)`,
  );

const keyPrefix = () =>
  withinKeyLimit(z.string()).refine((value) => !CONTROL_CHARACTERS.test(value), "must not contain control characters");

/** `YYYY-MM-DD` (a whole UTC day) or a full ISO-8601 time; returns the bound as an ISO time. */
function dateBound(edge: "start" | "end") {
  return z.string().transform((value, ctx) => {
    if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
      const day = new Date(`${value}T00:00:00.000Z`);
      if (Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== value) {
        ctx.addIssue({ code: "custom", message: `is not a valid date: ${value}` });
        return z.NEVER;
      }
      return edge === "start" ? day.toISOString() : new Date(day.getTime() + 86_400_000 - 1).toISOString();
    }
    if (
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(value) &&
      !Number.isNaN(Date.parse(value))
    ) {
      return new Date(value).toISOString();
    }
    ctx.addIssue({
      code: "custom",
      message: `must be a date (YYYY-MM-DD) or an ISO-8601 time with a zone, got ${JSON.stringify(value)}`,
    });
    return z.NEVER;
  });
}

export const restoreBody = z.strictObject({
  overwriteExisting: z.boolean().default(false),
  verifyAfterRestore: z.boolean().default(false),
  dryRun: z.boolean().default(false),
  targetPrefix: keyPrefix()
    .refine((value) => !value.startsWith("/"), "must not start with /")
    .refine(
      (value) => !value.split("/").some((segment) => segment === "." || segment === ".."),
      "must not contain . or .. segments",
    )
    .default(""),
  filters: z
    .strictObject({
      pathPrefix: keyPrefix().default(""),
      fileExtensions: z
        .array(z.string().regex(/^\.?[A-Za-z0-9][A-Za-z0-9_+-]{0,31}$/, "must be extensions such as .csv or txt"))
        .min(1, "must list at least one extension")
        .max(50, "must list at most 50 extensions")
        .transform((list) => [...new Set(list.map((e) => e.replace(/^\./, "").toLowerCase()))])
        .optional(),
      dateRange: z
        .strictObject({ start: dateBound("start").optional(), end: dateBound("end").optional() })
        .refine(
          (range) => range.start === undefined || range.end === undefined || range.start <= range.end,
          "start must not be after end",
        )
        .optional(),
      /** Keys matching at least one of these globs (all when absent). */
      include: z.array(keyGlob).min(1, "must list at least one glob").max(50, "must list at most 50 globs").optional(),
      /** Keys matching one of these globs are left out, whatever else matches. */
      exclude: z.array(keyGlob).min(1, "must list at least one glob").max(50, "must list at most 50 globs").optional(),
      /** Sizes in bytes, both bounds included. */
      sizeRange: z
        .strictObject({
          min: z.number().int().min(0).optional(),
          max: z.number().int().min(0).optional(),
        })
        .refine((range) => range.min === undefined || range.max === undefined || range.min <= range.max, {
          message: "min must not be above max",
        })
        .optional(),
      /** Content types (`image/*` for a whole type); parameters such as `; charset=` are ignored. */
      contentTypes: z
        .array(
          z
            .string()
            .regex(
              /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/(\*|[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*)$/,
              "must be types such as image/png or image/*",
            )
            .transform((type) => type.toLowerCase()),
        )
        .min(1, "must list at least one content type")
        .max(50, "must list at most 50 content types")
        .optional(),
    })
    .default({ pathPrefix: "" }),
});

const isoTime = z.iso.datetime({ offset: true, message: "must be an ISO 8601 time, for example 2026-12-01T00:00:00Z" });

export const listAuditQuery = z
  .strictObject({
    actor: z.string().min(1).max(256).optional(),
    action: z.enum(AUDIT_ACTIONS).optional(),
    from: isoTime.optional(),
    to: isoTime.optional(),
    limit: limitParam(1000, 100),
    cursor: z.string().min(1).max(512).optional(),
  })
  .refine((q) => !q.from || !q.to || Date.parse(q.from) <= Date.parse(q.to), {
    message: "from must not be after to",
    path: ["from"],
  });

export const listAlertsQuery = z.strictObject({
  state: z.enum(["open", "resolved"]).optional(),
  limit: limitParam(100, 20),
  cursor: z.string().min(1).max(512).optional(),
});

/** POST /api/dev/source-writes (local development only). */
/** POST /api/dev/cron: a cron firing at a chosen time (wrangler's /__scheduled fires at the current time only). */
export const devCronBody = z.strictObject({
  time: isoTime,
  cron: z.string().min(1).max(100).default("0 * * * *"),
});

/** POST /api/dev/damage: which backup, and optionally which of its objects (default: the first). */
export const devDamageBody = z.strictObject({
  backupId: z.string().min(1).max(200),
  key: keyPrefix().min(1, "must not be empty").optional(),
  /** delete: the blob is gone; alter: its last byte changed, size and metadata kept. */
  how: z.enum(["delete", "alter"]).default("delete"),
});

export const devSourceWritesBody = z.strictObject({
  writes: z
    .array(
      z.strictObject({
        key: keyPrefix().min(1, "must not be empty"),
        content: z.string().optional(),
        contentType: z.string().max(256).optional(),
        delete: z.literal(true).optional(),
      }),
    )
    .max(100, "must list at most 100 writes")
    .default([]),
  notify: z
    .array(z.strictObject({ key: keyPrefix().min(1, "must not be empty"), deleted: z.boolean().default(false) }))
    .max(1000, "must list at most 1000 keys")
    .default([]),
});

const keyPrefixes = z
  .array(withinKeyLimit(z.string().min(1, "must not be empty")))
  .max(100, "at most 100 prefixes")
  .default([]);

/** PUT /api/backup/templates/:name (and POST with its name): every option but the source has a default. */
export const templateBody = z.strictObject({
  sourceBinding: z
    .string()
    .regex(/^[A-Z][A-Z0-9_]{0,63}$/, "must be the name of an R2 binding of this Worker, such as R2_BUCKET"),
  bucketName: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "must be an R2 bucket name (3 to 63 lowercase letters, digits and -)"),
  includePrefixes: keyPrefixes,
  excludePrefixes: keyPrefixes,
  schedule: z.enum(SCHEDULES).default("daily"),
  retentionDays: retentionDays.default(30),
  keep: keepRules.default({ last: 3, daily: 7, weekly: 4, monthly: 6 }),
  compression: z.boolean().default(false),
  encryption: z.boolean().default(false),
});

export const createTemplateBody = templateBody.extend({ name: templateName });
