/**
 * The one definition of the D1 schema. `drizzle-kit generate` turns it into the migrations in
 * `drizzle/`; never edit those by hand.
 *
 * D1 holds what changes and what is queried: one row per backup and job, one row per object a
 * backup had to store, delete or failed to read, and the audit log. The complete per-object state
 * of a snapshot lives in its manifest in R2, so D1 grows with change, not with bucket size.
 */
import { and, eq, gt, isNull, or, sql, type SQL } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, sqliteView, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export * from "./collection";

export const BACKUP_STATUSES = [
  "pending",
  "in_progress",
  "completed",
  "partial",
  "failed",
  "cancelled",
  "expired",
] as const;
export const BACKUP_TYPES = ["full", "incremental"] as const;

/** One shard of a fanned-out full backup, as the backup's status shows it (durable-objects/engine/backup/fan-out.ts). */
export interface BackupShardProgress {
  index: number;
  /** The keys after `after` (from the start when null) up to and including `through` (to the end when null). */
  range: { after: string | null; through: string | null };
  status: "pending" | "running" | "completed" | "partial" | "failed" | "cancelled";
  filesProcessed: number;
  bytesProcessed: number;
  failedCount: number;
  steps: number;
  retries: number;
  error: string | null;
}
export const BACKUP_TRIGGERS = ["api", "cron", "event"] as const;
export const FILE_STATUSES = ["backed_up", "failed", "deleted"] as const;
export const LOG_LEVELS = ["info", "warn", "error"] as const;
export const LOG_EVENT_TYPES = [
  "start",
  "progress",
  "complete",
  "error",
  "verify",
  "restore",
  "cleanup",
  "replicate",
] as const;
export const JOB_KINDS = ["verify", "restore", "cleanup", "replicate"] as const;
/** A backup's copy in R2_REPLICA_BUCKET (null: no replica configured when it completed). */
export const REPLICA_STATUSES = ["pending", "complete", "incomplete", "failed"] as const;
export const JOB_STATUSES = ["pending", "in_progress", "completed", "failed", "cancelled"] as const;

export type BackupStatus = (typeof BACKUP_STATUSES)[number];
export type BackupType = (typeof BACKUP_TYPES)[number];
export type BackupTrigger = (typeof BACKUP_TRIGGERS)[number];
export type FileStatus = (typeof FILE_STATUSES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogEventType = (typeof LOG_EVENT_TYPES)[number];

export const r2Backups = sqliteTable(
  "r2_backups",
  {
    id: text("id").primaryKey(),
    bucketName: text("bucket_name").notNull(),
    backupDate: text("backup_date").notNull(),
    status: text("status", { enum: BACKUP_STATUSES }).notNull(),
    backupType: text("backup_type", { enum: BACKUP_TYPES }).notNull(),
    trigger: text("trigger", { enum: BACKUP_TRIGGERS }).notNull(),
    requestedBy: text("requested_by").notNull(),
    parentId: text("parent_id"),
    startedAt: text("started_at"),
    completedAt: text("completed_at"),
    fileCount: integer("file_count").notNull().default(0),
    totalSize: integer("total_size").notNull().default(0),
    snapshotFileCount: integer("snapshot_file_count").notNull().default(0),
    snapshotSize: integer("snapshot_size").notNull().default(0),
    deletedCount: integer("deleted_count").notNull().default(0),
    failedCount: integer("failed_count").notNull().default(0),
    bytesUploaded: integer("bytes_uploaded").notNull().default(0),
    checksum: text("checksum"),
    manifestKey: text("manifest_key"),
    error: text("error"),
    lastVerifiedAt: text("last_verified_at"),
    /** Outcome of the last verification: 1 valid, 0 problems found, null never verified. */
    lastVerificationValid: integer("last_verification_valid", { mode: "boolean" }),
    /** How the last verification read: full or quick, and over what percent of the objects. */
    lastVerificationMode: text("last_verification_mode", { enum: ["full", "quick"] }),
    lastVerificationSamplePercent: integer("last_verification_sample_percent"),
    phase: text("phase").notNull().default("pending"),
    filesProcessed: integer("files_processed").notNull().default(0),
    bytesProcessed: integer("bytes_processed").notNull().default(0),
    /** Longest key of the snapshot in UTF-8 bytes (0 for backups made before it was recorded). */
    maxKeyBytes: integer("max_key_bytes").notNull().default(0),
    /** A fanned-out full backup's shards and how far each is; null when one object ran it. */
    shards: text("shards", { mode: "json" }).$type<BackupShardProgress[]>(),
    /**
     * Bytes this backup added to the backup bucket: new blobs plus the manifest chunks it wrote
     * (a full backup rewrites its chunks, so for it this is an upper bound). Set at its end.
     */
    storedBytes: integer("stored_bytes").notNull().default(0),
    /** Alarm steps that completed, and failed step attempts that were retried (performance). */
    steps: integer("steps").notNull().default(0),
    retries: integer("retries").notNull().default(0),
    /** Its replica: pending until the replication job ends, then complete, incomplete or failed. */
    replicaStatus: text("replica_status", { enum: REPLICA_STATUSES }),
    replicaCompletedAt: text("replica_completed_at"),
    /** The backup template it was taken with (`default`: the one the environment variables define). */
    template: text("template").notNull().default("default"),
    /** The R2 binding of its source bucket: where a restore writes. */
    sourceBinding: text("source_binding").notNull().default("R2_BUCKET"),
    /**
     * Legal hold (POST /api/backup/hold/:id): who placed it, when and why; a held backup never
     * expires. `holdReleaseAt`: a release was asked for and takes effect then (the delay of
     * BACKUP_HOLD_RELEASE_DELAY_HOURS); until then the hold stands and a new hold cancels it.
     */
    holdBy: text("hold_by"),
    holdAt: text("hold_at"),
    holdReason: text("hold_reason"),
    holdReleaseAt: text("hold_release_at"),
    /**
     * What the mass-change alert measures (engine/monitor/mass-change.ts): keys whose content
     * changed from the parent's (deletions are `deletedCount`), and of the new content this backup
     * read, how many objects were sampled and how many of those did not compress. Null in backups
     * made before they were measured.
     */
    modifiedCount: integer("modified_count"),
    sampledCount: integer("sampled_count"),
    incompressibleCount: integer("incompressible_count"),
    /** Modified and deleted keys by top-level prefix (the most frequent, capped). */
    changedPrefixes: text("changed_prefixes", { mode: "json" }).$type<Record<string, number>>(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    // GET /api/backup/list: newest first, optionally filtered by status and/or type.
    index("r2_backups_backup_date_id_idx").on(t.backupDate, t.id),
    index("r2_backups_status_backup_date_idx").on(t.status, t.backupDate, t.id),
    index("r2_backups_backup_type_backup_date_idx").on(t.backupType, t.backupDate, t.id),
    // auto: the newest completed (full) backup of a bucket.
    index("r2_backups_bucket_status_type_date_idx").on(t.bucketName, t.status, t.backupType, t.backupDate),
    // Alert evaluation and stats trends: a bucket's backups, newest first.
    index("r2_backups_bucket_date_idx").on(t.bucketName, t.backupDate),
    // A template's parent for an incremental, and its retention.
    index("r2_backups_bucket_template_status_date_idx").on(t.bucketName, t.template, t.status, t.backupDate),
  ],
);

/** Whether a backup's legal hold stands at `now`: placed, and its release (if asked for) not yet due. */
export function holdStands(backup: Pick<BackupRow, "holdAt" | "holdReleaseAt">, now: Date): boolean {
  return backup.holdAt !== null && (backup.holdReleaseAt === null || Date.parse(backup.holdReleaseAt) > now.getTime());
}

/**
 * Named backup configurations (`/api/backup/templates`). The built-in `default` template is not
 * stored: it is the environment variables (BACKUP_SOURCE_BUCKET, BACKUP_SCHEDULE, ...), so a
 * deployment without templates behaves exactly as before they existed.
 */
export const backupTemplates = sqliteTable("backup_templates", {
  name: text("name").primaryKey(),
  /** The Worker's R2 binding of the source bucket, and that bucket's name (one coordinator per bucket). */
  sourceBinding: text("source_binding").notNull(),
  bucketName: text("bucket_name").notNull(),
  /** Keys under any of these prefixes (all keys when empty), minus those under an excluded one. */
  includePrefixes: text("include_prefixes", { mode: "json" }).$type<string[]>().notNull(),
  excludePrefixes: text("exclude_prefixes", { mode: "json" }).$type<string[]>().notNull(),
  schedule: text("schedule", { enum: ["daily", "hourly", "weekly", "manual"] }).notNull(),
  retentionDays: integer("retention_days").notNull(),
  keep: text("keep", { mode: "json" })
    .$type<{ last: number; daily: number; weekly: number; monthly: number }>()
    .notNull(),
  compression: integer("compression", { mode: "boolean" }).notNull(),
  encryption: integer("encryption", { mode: "boolean" }).notNull(),
  createdAt: text("created_at").notNull(),
  updatedAt: text("updated_at").notNull(),
  updatedBy: text("updated_by").notNull(),
});
export type BackupTemplateRow = typeof backupTemplates.$inferSelect;

export const backupFiles = sqliteTable(
  "backup_files",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    backupId: text("backup_id").notNull(),
    filePath: text("file_path").notNull(),
    backupPath: text("backup_path"),
    fileSize: integer("file_size").notNull().default(0),
    checksum: text("checksum"),
    status: text("status", { enum: FILE_STATUSES }).notNull(),
    error: text("error"),
  },
  (t) => [
    // A replayed batch upserts instead of duplicating.
    uniqueIndex("backup_files_backup_id_file_path_idx").on(t.backupId, t.filePath),
    index("backup_files_backup_id_status_idx").on(t.backupId, t.status),
  ],
);

export const backupLogs = sqliteTable(
  "backup_logs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    // Deterministic per event (for example "<backupId>:progress:<seq>"), so a replayed step
    // cannot log the same event twice.
    eventKey: text("event_key").notNull(),
    backupId: text("backup_id").notNull(),
    timestamp: text("timestamp").notNull(),
    eventType: text("event_type", { enum: LOG_EVENT_TYPES }).notNull(),
    level: text("level", { enum: LOG_LEVELS }).notNull(),
    message: text("message").notNull(),
    requestedBy: text("requested_by"),
  },
  (t) => [
    uniqueIndex("backup_logs_event_key_idx").on(t.eventKey),
    // GET /api/backup/logs/:id, with and without the level filter, in id order.
    index("backup_logs_backup_id_id_idx").on(t.backupId, t.id),
    index("backup_logs_backup_id_level_id_idx").on(t.backupId, t.level, t.id),
  ],
);

/** One shard of a fanned-out restore, as the job's progress shows it (durable-objects/engine/restore/restore-fan-out.ts). */
export interface JobShardProgress {
  index: number;
  /**
   * The snapshot's leaves it walks: from `fromLeaf` up to, not including, `toLeaf`; a restore's
   * run may begin `fromOffset` entries into its first leaf and end `toOffset` entries into leaf `toLeaf`.
   */
  range: { fromLeaf: number; toLeaf: number; fromOffset?: number; toOffset?: number };
  status: "pending" | "running" | "completed" | "partial" | "failed" | "cancelled";
  filesProcessed: number;
  failedCount: number;
  steps: number;
  retries: number;
  error: string | null;
}

export const backupJobs = sqliteTable(
  "backup_jobs",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: JOB_KINDS }).notNull(),
    backupId: text("backup_id"),
    status: text("status", { enum: JOB_STATUSES }).notNull(),
    requestedBy: text("requested_by").notNull(),
    createdAt: text("created_at").notNull(),
    startedAt: text("started_at"),
    completedAt: text("completed_at"),
    filesProcessed: integer("files_processed").notNull().default(0),
    filesTotal: integer("files_total").notNull().default(0),
    result: text("result", { mode: "json" }).$type<Record<string, unknown>>(),
    error: text("error"),
    /** The last time the job wrote progress: a row that stops moving is asked about (watchdog). */
    updatedAt: text("updated_at"),
    steps: integer("steps").notNull().default(0),
    retries: integer("retries").notNull().default(0),
    /** A restore fanned out across job objects: its shards and how far each is; null when one object ran it. */
    shards: text("shards", { mode: "json" }).$type<JobShardProgress[]>(),
  },
  (t) => [
    index("backup_jobs_backup_id_created_at_idx").on(t.backupId, t.createdAt),
    // Sampled verifications rotate through the keyspace: the newest sampled one of a backup.
    index("backup_jobs_backup_id_kind_idx").on(t.backupId, t.kind),
  ],
);

/** `held`: backups a cleanup's policy would have expired that a legal hold or the retention lock kept. */
export const FINDING_LISTS = ["problem", "failure", "planned", "expired", "held"] as const;
export type FindingList = (typeof FINDING_LISTS)[number];
/** How many entries of each list a job keeps (the API shows them all; counts stay exact). */
export const FINDINGS_KEPT = 1000;

/**
 * The lists a job's result names one by one (verify problems, restore failures, a dry run's
 * planned keys), at most FINDINGS_KEPT per list, written by the step that found them. Kept here
 * rather than in the job's state or result column: 1,000 keys of up to 1 KiB are too large for
 * one storage value or one D1 statement.
 */
export const jobFindings = sqliteTable(
  "job_findings",
  {
    jobId: text("job_id").notNull(),
    list: text("list", { enum: FINDING_LISTS }).notNull(),
    /** Order of discovery within the list; a replayed step rewrites the same numbers. */
    seq: integer("seq").notNull(),
    path: text("path").notNull(),
    /** problem: its code; failure: its reason; planned and expired (backup ids): null. */
    detail: text("detail"),
    expected: text("expected"),
    actual: text("actual"),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.list, t.seq] })],
);

/** What the audit trail records: every mutating API call, every download, and every scheduled run. */
export const AUDIT_ACTIONS = [
  "backup.create",
  "backup.verify",
  "backup.restore",
  "backup.replicate",
  "backup.cancel",
  "backup.cleanup",
  /** One object's content read through the API (not a change, but as sensitive as a restore). */
  "backup.download",
  /** A legal hold placed, and its release asked for (it takes effect after a delay). */
  "backup.hold",
  "backup.release",
  /** An admin asked for an alert that does not resolve by itself to resolve (after a delay), or cancelled that. */
  "alert.resolve",
  "alert.resolve_cancel",
  "template.create",
  "template.update",
  "template.delete",
  "schedule.run",
  /** A scheduled verification started (BACKUP_VERIFY_SCHEDULE). */
  "schedule.verify",
  /** A stored template's scheduled run (the default's is schedule.run). */
  "template.run",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];
/** accepted: 2xx; refused: 4xx (nothing changed); failed: 5xx; skipped: a scheduled run that started nothing. */
export const AUDIT_OUTCOMES = ["accepted", "refused", "failed", "skipped"] as const;

export const auditEvents = sqliteTable(
  "audit_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: text("at").notNull(),
    /** The token's subject, or `cron`. */
    actor: text("actor").notNull(),
    action: text("action", { enum: AUDIT_ACTIONS }).notNull(),
    /** The backup or job the call named or started, when there is one. */
    target: text("target"),
    outcome: text("outcome", { enum: AUDIT_OUTCOMES }).notNull(),
    /** The HTTP status answered (null for a scheduled run). */
    status: integer("status"),
    /** The error code and message, or what a scheduled run did. */
    detail: text("detail"),
  },
  (t) => [
    index("audit_events_at_id_idx").on(t.at, t.id),
    index("audit_events_actor_id_idx").on(t.actor, t.id),
    index("audit_events_action_id_idx").on(t.action, t.id),
  ],
);
export type AuditEventRow = typeof auditEvents.$inferSelect;

/** The conditions the system watches (docs/operations.md has what each means and what to do). */
export const ALERT_CODES = [
  "consecutive_failures",
  "no_recent_backup",
  "verification_failed",
  "storage_growth",
  "schedule_skipped",
  "replica_incomplete",
  "changes_pending",
  "mass_change",
  "not_verified",
] as const;
export type AlertCode = (typeof ALERT_CODES)[number];
export const ALERT_SEVERITIES = ["warning", "critical"] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

/**
 * One row per opening of an alert: it stays open (resolved_at null) while its condition holds.
 * The partial unique index allows one open alert per bucket and code, so two evaluations racing
 * can never open it twice.
 */
export const alerts = sqliteTable(
  "alerts",
  {
    id: text("id").primaryKey(),
    bucketName: text("bucket_name").notNull(),
    code: text("code", { enum: ALERT_CODES }).notNull(),
    severity: text("severity", { enum: ALERT_SEVERITIES }).notNull(),
    message: text("message").notNull(),
    details: text("details", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    openedAt: text("opened_at").notNull(),
    resolvedAt: text("resolved_at"),
    /**
     * An alert that does not resolve by itself (mass_change) resolves when an admin asks
     * (POST /api/backup/alerts/:id/resolve), BACKUP_HOLD_RELEASE_DELAY_HOURS later: who asked,
     * when, and when it takes effect. Backups up to the request are then acknowledged evidence.
     */
    resolveRequestedAt: text("resolve_requested_at"),
    resolveAt: text("resolve_at"),
    resolveRequestedBy: text("resolve_requested_by"),
  },
  (t) => [
    uniqueIndex("alerts_open_bucket_code_idx")
      .on(t.bucketName, t.code)
      .where(sql`resolved_at IS NULL`),
    // GET /api/backup/alerts: newest first, optionally open or resolved only.
    index("alerts_opened_at_id_idx").on(t.openedAt, t.id),
  ],
);
export type AlertRow = typeof alerts.$inferSelect;

/**
 * The mass_change alerts that still hold their bucket's older backups at `now`: open, and their
 * resolution (asked for by an admin, effective after a delay) not yet in effect. One definition,
 * in SQL, for the cleanup's plan and expiries and for the stats' protection figures.
 */
export function massChangeHolding(now: Date): SQL | undefined {
  return and(
    eq(alerts.code, "mass_change"),
    isNull(alerts.resolvedAt),
    or(isNull(alerts.resolveAt), gt(alerts.resolveAt, now.toISOString())),
  );
}

export const WEBHOOK_EVENTS = [
  "alert.opened",
  "alert.resolved",
  "alert.resolve_requested",
  "alert.resolve_cancelled",
  "backup.hold_release_requested",
  "backup.hold_release_cancelled",
  "backup.completed",
  "backup.failed",
  "verify.completed",
  "restore.completed",
  "cleanup.completed",
  "replicate.completed",
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
export const DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;

/**
 * The webhook outbox: a delivery is written in the same D1 batch as the decision it reports, with
 * its body fixed then, and sent (and retried) by the WebhookDispatcher's alarm. The id is derived
 * from what it reports, so a replayed decision cannot queue it twice.
 */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    event: text("event", { enum: WEBHOOK_EVENTS }).notNull(),
    /** The exact bytes sent on every attempt. */
    body: text("body").notNull(),
    createdAt: text("created_at").notNull(),
    status: text("status", { enum: DELIVERY_STATUSES }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: text("next_attempt_at").notNull(),
    lastAttemptAt: text("last_attempt_at"),
    lastError: text("last_error"),
    deliveredAt: text("delivered_at"),
  },
  (t) => [index("webhook_deliveries_status_next_idx").on(t.status, t.nextAttemptAt)],
);
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;

export type JobFindingRow = typeof jobFindings.$inferSelect;
export type NewJobFindingRow = typeof jobFindings.$inferInsert;

export type BackupRow = typeof r2Backups.$inferSelect;
export type NewBackupRow = typeof r2Backups.$inferInsert;
export type BackupFileRow = typeof backupFiles.$inferSelect;
export type NewBackupFileRow = typeof backupFiles.$inferInsert;
export type BackupLogRow = typeof backupLogs.$inferSelect;
export type NewBackupLogRow = typeof backupLogs.$inferInsert;
export type BackupJobRow = typeof backupJobs.$inferSelect;

const durationSeconds = sql`(julianday(${r2Backups.completedAt}) - julianday(${r2Backups.startedAt})) * 86400.0`;
/** Statuses whose backup left a snapshot that cleanup keeps until it expires. */
const KEPT = sql.raw(`('completed', 'partial')`);
/** The outer row's bucket inside a correlated subquery (a bare column name would mean the inner one). */
const OUTER_BUCKET = sql.raw(`"r2_backups"."bucket_name"`);

/**
 * One row per backup with its duration, throughput and whether it succeeded (the seed's
 * `backup_summary`, with the performance figures of GET /api/backup/stats).
 */
export const backupSummary = sqliteView("backup_summary").as((qb) =>
  qb
    .select({
      id: r2Backups.id,
      bucketName: r2Backups.bucketName,
      template: r2Backups.template,
      backupDate: r2Backups.backupDate,
      backupType: r2Backups.backupType,
      status: r2Backups.status,
      fileCount: r2Backups.fileCount,
      totalSize: r2Backups.totalSize,
      snapshotFileCount: r2Backups.snapshotFileCount,
      snapshotSize: r2Backups.snapshotSize,
      bytesUploaded: r2Backups.bytesUploaded,
      storedBytes: r2Backups.storedBytes,
      failedCount: r2Backups.failedCount,
      filesProcessed: r2Backups.filesProcessed,
      bytesProcessed: r2Backups.bytesProcessed,
      steps: r2Backups.steps,
      retries: r2Backups.retries,
      durationSeconds: sql<
        number | null
      >`CASE WHEN ${r2Backups.startedAt} IS NOT NULL AND ${r2Backups.completedAt} IS NOT NULL
        THEN ${durationSeconds} END`.as("duration_seconds"),
      succeeded: sql<number>`CASE WHEN ${r2Backups.status} = 'completed' THEN 1 ELSE 0 END`.as("succeeded"),
    })
    .from(r2Backups),
);

/**
 * Bucket-level health over the retained history (expired backups are counted apart): success
 * rate, last backups, failures since the last success, average duration, the bytes its backups
 * wrote and the bytes its kept snapshots represent.
 */
export const backupHealthMetrics = sqliteView("backup_health_metrics").as((qb) =>
  qb
    .select({
      bucketName: r2Backups.bucketName,
      totalBackups: sql<number>`sum(CASE WHEN ${r2Backups.status} <> 'expired' THEN 1 ELSE 0 END)`.as("total_backups"),
      completedBackups: sql<number>`sum(CASE WHEN ${r2Backups.status} = 'completed' THEN 1 ELSE 0 END)`.as(
        "completed_backups",
      ),
      failedBackups: sql<number>`sum(CASE WHEN ${r2Backups.status} IN ('failed', 'partial') THEN 1 ELSE 0 END)`.as(
        "failed_backups",
      ),
      expiredBackups: sql<number>`sum(CASE WHEN ${r2Backups.status} = 'expired' THEN 1 ELSE 0 END)`.as(
        "expired_backups",
      ),
      successRate: sql<number | null>`round(100.0 * sum(CASE WHEN ${r2Backups.status} = 'completed' THEN 1 ELSE 0 END)
        / nullif(sum(CASE WHEN ${r2Backups.status} IN ('completed', 'partial', 'failed') THEN 1 ELSE 0 END), 0), 2)`.as(
        "success_rate",
      ),
      lastBackupDate: sql<string | null>`max(${r2Backups.backupDate})`.as("last_backup_date"),
      lastSuccessfulBackupDate: sql<
        string | null
      >`max(CASE WHEN ${r2Backups.status} = 'completed' THEN ${r2Backups.backupDate} END)`.as(
        "last_successful_backup_date",
      ),
      // Failed or partial backups newer than the newest completed one (the newest completed
      // backup is never expired, so this survives cleanup).
      consecutiveFailures: sql<number>`(SELECT count(*) FROM r2_backups f WHERE f.bucket_name = ${OUTER_BUCKET}
        AND f.status IN ('failed', 'partial') AND f.backup_date > coalesce((SELECT max(c.backup_date) FROM r2_backups c
        WHERE c.bucket_name = ${OUTER_BUCKET} AND c.status = 'completed'), ''))`.as("consecutive_failures"),
      bytesWritten: sql<number>`sum(${r2Backups.storedBytes})`.as("bytes_written"),
      logicalBytes:
        sql<number>`sum(CASE WHEN ${r2Backups.status} IN ${KEPT} THEN ${r2Backups.snapshotSize} ELSE 0 END)`.as(
          "logical_bytes",
        ),
      averageDurationSeconds: sql<
        number | null
      >`avg(CASE WHEN ${r2Backups.status} = 'completed' AND ${r2Backups.startedAt} IS NOT NULL AND ${r2Backups.completedAt} IS NOT NULL
        THEN ${durationSeconds} END)`.as("average_duration_seconds"),
    })
    .from(r2Backups)
    .groupBy(r2Backups.bucketName),
);
