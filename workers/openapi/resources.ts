/**
 * The API's response shapes as zod schemas, for the OpenAPI document only: the routes build their
 * responses with schema/present.ts, and tests/integration/openapi.test.ts checks real responses
 * against these, so a field added there and not here fails a test.
 */
import { z } from "zod";
import { SCHEDULES } from "../../durable-objects/engine/settings/schedule";
import {
  ALERT_CODES,
  ALERT_SEVERITIES,
  AUDIT_ACTIONS,
  AUDIT_OUTCOMES,
  BACKUP_STATUSES,
  BACKUP_TRIGGERS,
  BACKUP_TYPES,
  JOB_KINDS,
  JOB_STATUSES,
  LOG_LEVELS,
  REPLICA_STATUSES,
} from "../../schema";

const isoTime = z.string().meta({ format: "date-time", example: "2026-12-01T02:00:00.000Z" });
const nullableTime = isoTime.nullable();
const bytes = z.number().int().min(0);
const nextCursor = z
  .string()
  .nullable()
  .meta({ description: "Pass as `cursor` for the next page; null on the last page." });

export const errorResponse = z
  .object({
    error: z.object({
      code: z.string().meta({ example: "validation_failed" }),
      message: z.string().meta({ example: "type must be one of full, incremental, auto" }),
      details: z.record(z.string(), z.unknown()),
    }),
  })
  .meta({ id: "Error" });

const backupPerformance = z.object({
  durationSeconds: z.number().nullable(),
  objectsPerSecond: z.number().nullable(),
  megabytesPerSecond: z.number().nullable(),
  steps: z.number().int(),
  retries: z.number().int(),
  bytesRead: bytes,
  bytesUploaded: bytes,
  storedBytes: bytes.nullable(),
});

/** What the shards of a backup and of a restore, verification or replication all report: how far each one is. */
const shardProgress = {
  index: z.number().int(),
  status: z.enum(["pending", "running", "completed", "partial", "failed", "cancelled"]),
  filesProcessed: z.number().int(),
  failedCount: z.number().int(),
  steps: z.number().int(),
  retries: z.number().int(),
  error: z.string().nullable(),
};

const backupShard = z
  .object({
    range: z.object({
      after: z.string().nullable().meta({ description: "Its keys sort after this one (null: from the first key)." }),
      through: z.string().nullable().meta({ description: "…up to and including this one (null: to the last key)." }),
    }),
    ...shardProgress,
    bytesProcessed: bytes,
  })
  .meta({ id: "BackupShard" });

const jobShard = z
  .object({
    range: z.object({
      fromLeaf: z
        .number()
        .int()
        .meta({ description: "The first of the snapshot's manifest leaves it walks (restores, verifies or copies)." }),
      toLeaf: z.number().int().meta({
        description:
          "The leaf after its last whole one (with `toOffset`, it walks that many entries of this leaf too).",
      }),
      fromOffset: z.number().int().optional().meta({
        description: "A restore's run: the entries of its first leaf before this one are the previous shard's.",
      }),
      toOffset: z.number().int().optional().meta({
        description: "A restore's run: it also walks this many entries of leaf `toLeaf` (the next shard the rest).",
      }),
    }),
    ...shardProgress,
  })
  .meta({ id: "JobShard" });

export const backup = z
  .object({
    id: z.string(),
    bucketName: z.string(),
    type: z.enum(BACKUP_TYPES),
    status: z.enum(BACKUP_STATUSES),
    trigger: z.enum(BACKUP_TRIGGERS),
    requestedBy: z.string(),
    parentId: z.string().nullable(),
    backupDate: isoTime,
    startedAt: nullableTime,
    completedAt: nullableTime,
    fileCount: z.number().int(),
    totalSize: bytes,
    snapshotFileCount: z.number().int(),
    snapshotSize: bytes,
    deletedCount: z.number().int(),
    failedCount: z.number().int(),
    bytesUploaded: bytes,
    checksum: z.string().nullable().meta({
      description:
        "The manifest's checksum, 64 hex digits: the root chunk's name (a Merkle root over every chunk and entry) since manifest version 3, a hash chain over its leaves before (docs/storage-format.md).",
    }),
    error: z.string().nullable(),
    lastVerifiedAt: nullableTime,
    lastVerificationValid: z.boolean().nullable(),
    lastVerificationMode: z
      .enum(["full", "quick"])
      .nullable()
      .meta({ description: "How the last verification read: full (every SHA-256) or quick (existence and size)." }),
    lastVerificationSamplePercent: z
      .number()
      .int()
      .min(1)
      .max(100)
      .nullable()
      .meta({ description: "The share of the objects the last verification checked (100: all of them)." }),
    replicaStatus: z.enum(REPLICA_STATUSES).nullable().meta({
      description:
        "Its copy in the replica bucket (R2_REPLICA_BUCKET): pending until its replication job ends; null when no replica was configured.",
    }),
    replicaCompletedAt: nullableTime,
    hold: z
      .object({
        by: z.string().meta({ description: "Who placed it (the token's subject)." }),
        at: isoTime,
        reason: z.string().nullable(),
        releaseAt: nullableTime.meta({
          description:
            "A release was asked for and takes effect then (BACKUP_HOLD_RELEASE_DELAY_HOURS after the request); a new hold cancels it.",
        }),
      })
      .nullable()
      .meta({ description: "Its legal hold while it stands: a held backup never expires. Null when not held." }),
    template: z.string().meta({ description: "The backup template it ran (`default`: the environment variables)." }),
    progress: z.object({
      phase: z.string().nullable().meta({
        description:
          "copying, large, finalizing, or shards (a fanned-out full backup whose shards run); done once it has ended.",
      }),
      filesProcessed: z.number().int(),
      bytesProcessed: bytes,
      shards: z.array(backupShard).optional().meta({
        description:
          "A full backup fanned out across job objects (BACKUP_MAX_SHARDS): each shard's key range and progress. Absent when one object ran it.",
      }),
    }),
    performance: backupPerformance,
  })
  .meta({ id: "Backup" });

export const job = z
  .object({
    id: z.string(),
    kind: z.enum(JOB_KINDS),
    backupId: z.string().nullable(),
    status: z.enum(JOB_STATUSES),
    requestedBy: z.string(),
    createdAt: isoTime,
    startedAt: nullableTime,
    completedAt: nullableTime,
    progress: z.object({
      filesProcessed: z.number().int(),
      filesTotal: z.number().int().nullable(),
      shards: z.array(jobShard).optional().meta({
        description:
          "A restore, verification or replication fanned out across job objects (BACKUP_MAX_SHARDS): each shard's run of the snapshot's leaves and its progress. Absent when one object ran it.",
      }),
    }),
    result: z.record(z.string(), z.unknown()).meta({
      description:
        "verify: valid, copy, filesChecked, filesMissing, checksumMismatches, problems; restore: filesRestored, filesSkipped, filesFailed, bytesRestored, verified, verifyFailures, filesFromReplica, chunksFromReplica, dryRun, failures, planned (dry run); cleanup: backupsExpired, backupIdsExpired, keptInUse, expiriesFinished, blobsDeleted, chunksDeleted, bytesFreed, replicaObjectsDeleted, replicaBytesFreed, dryRun; replicate: complete, objectsCopied, bytesCopied, objectsPresent, problemCount, problems.",
    }),
    error: z.string().nullable(),
    performance: z.object({
      durationSeconds: z.number().nullable(),
      objectsPerSecond: z.number().nullable(),
      steps: z.number().int(),
      retries: z.number().int(),
    }),
  })
  .meta({ id: "Job" });

export const alert = z
  .object({
    id: z.string(),
    code: z.enum(ALERT_CODES),
    severity: z.enum(ALERT_SEVERITIES),
    bucketName: z.string(),
    message: z.string(),
    openedAt: isoTime,
    resolvedAt: nullableTime,
    resolution: z
      .object({ requestedBy: z.string().nullable(), requestedAt: nullableTime, takesEffectAt: isoTime })
      .nullable()
      .meta({
        description:
          "An alert that resolves only when asked (mass_change): the pending request, until it takes effect (null otherwise).",
      }),
    details: z.record(z.string(), z.unknown()),
  })
  .meta({ id: "Alert" });

export const snapshotFile = z
  .object({
    path: z.string(),
    size: bytes,
    checksum: z.string(),
    lastModified: isoTime,
    contentType: z.string().nullable(),
  })
  .meta({ id: "SnapshotFile" });

export const snapshotChange = z
  .object({
    path: z.string(),
    change: z.enum(["added", "modified", "deleted"]).meta({
      description:
        "modified: the content (SHA-256, size) or the metadata differ; the same bytes written again is no change",
    }),
    before: snapshotFile.nullable().meta({ description: "In `from` (null when added)." }),
    after: snapshotFile.nullable().meta({ description: "In `to` (null when deleted)." }),
  })
  .meta({ id: "SnapshotChange" });

export const snapshotDiff = z.object({
  from: z.string().meta({ description: "The older backup's id, as asked." }),
  to: z.string(),
  changes: z.array(snapshotChange),
  nextCursor: z.string().nullable(),
});

export const keyVersion = z
  .object({
    checksum: z.string().meta({ description: "The content's SHA-256, hex." }),
    size: bytes,
    lastModified: isoTime,
    contentType: z.string().nullable(),
    firstBackupId: z.string().meta({ description: "The oldest kept backup holding this version." }),
    firstSeen: isoTime,
    lastBackupId: z.string().meta({ description: "The newest kept backup holding this version." }),
    lastSeen: isoTime,
    deletedAt: isoTime.nullable().meta({
      description:
        "When the key was first found gone after this version (the date of the first backup without it that could have held it); null when it never was.",
    }),
    backupIds: z.array(z.string()).meta({ description: "Every kept backup holding this version, newest first." }),
  })
  .meta({ id: "KeyVersion" });

export const keyHistory = z.object({
  key: z.string(),
  versions: z.array(keyVersion).meta({ description: "Newest first." }),
  nextCursor: z.string().nullable(),
});

export const logEntry = z
  .object({
    timestamp: isoTime,
    eventType: z.string(),
    level: z.enum(LOG_LEVELS),
    message: z.string(),
    requestedBy: z.string().nullable(),
  })
  .meta({ id: "LogEntry" });

export const auditEvent = z
  .object({
    id: z.number().int(),
    at: isoTime,
    actor: z.string(),
    action: z.enum(AUDIT_ACTIONS),
    target: z.string().nullable(),
    outcome: z.enum(AUDIT_OUTCOMES),
    status: z.number().int().nullable(),
    detail: z.string().nullable(),
  })
  .meta({ id: "AuditEvent" });

const healthFigures = {
  totalBackups: z.number().int(),
  completedBackups: z.number().int(),
  failedBackups: z.number().int(),
  expiredBackups: z.number().int(),
  successRate: z.number().nullable().meta({ description: "Percent of finished backups that completed." }),
  lastBackupDate: nullableTime,
  lastSuccessfulBackupDate: nullableTime,
  consecutiveFailures: z.number().int(),
  averageDurationSeconds: z.number().nullable(),
  logicalBytes: bytes,
};

export const stats = z
  .object({
    ...healthFigures,
    storedBytes: bytes.meta({
      description: "Bytes in the backup bucket: the last cleanup's measurement plus what backups stored since.",
    }),
    dedupRatio: z.number().nullable(),
    alerts: z.array(
      z.object({
        id: z.string(),
        code: z.enum(ALERT_CODES),
        severity: z.enum(ALERT_SEVERITIES),
        message: z.string(),
        since: isoTime,
        bucketName: z.string(),
      }),
    ),
    storage: z.object({
      source: z.enum(["measured", "estimated"]),
      measuredAt: nullableTime,
      measuredBy: z.string().nullable(),
      measuredBytes: bytes.nullable(),
      writtenSinceBytes: bytes,
    }),
    webhooks: z.object({
      pending: z.number().int(),
      failed: z.number().int(),
      lastProblem: z.record(z.string(), z.unknown()).nullable(),
    }),
    buckets: z.array(z.object({ bucketName: z.string() }).catchall(z.unknown())).meta({
      description:
        "Per source bucket: the same figures, bytesWritten, recentBackups (the last 30 finished, with their performance) and trend.",
    }),
    schedule: z.object({ schedule: z.string(), lastRun: z.record(z.string(), z.unknown()).nullable() }),
    protection: z
      .object({
        heldBackups: z.number().int().meta({ description: "Backups under a legal hold (releases pending included)." }),
        releasesPending: z
          .number()
          .int()
          .meta({ description: "Holds whose release was asked for and is not yet in effect." }),
        retentionLockDays: z
          .number()
          .int()
          .meta({ description: "BACKUP_MIN_RETENTION_DAYS: no cleanup expires a younger backup." }),
        massChangeHolds: z
          .array(
            z.object({
              bucketName: z.string(),
              alertId: z.string(),
              heldBefore: isoTime,
              suspectBackupId: z.string(),
              resolveAt: nullableTime,
            }),
          )
          .meta({
            description:
              "Open mass_change alerts: every backup of the bucket older than `heldBefore` is kept until the alert's resolution takes effect.",
          }),
      })
      .meta({ description: "What keeps backups whatever a cleanup asks: legal holds and the retention lock." }),
    unprotectedChanges: z.object({ keys: z.number().int(), oldestAt: nullableTime, overflow: z.boolean() }).meta({
      description:
        "Changed keys that object-change events named and no completed backup covers yet; overflow: more than are kept one by one.",
    }),
  })
  .meta({ id: "Stats" });

export const template = z
  .object({
    name: z.string(),
    builtIn: z.boolean().meta({
      description: "The `default` template: the environment variables; it cannot be changed through the API.",
    }),
    sourceBinding: z.string().meta({ description: "The Worker's R2 binding of the source bucket." }),
    bucketName: z.string(),
    includePrefixes: z.array(z.string()).meta({ description: "Keys under any of these (every key when empty)..." }),
    excludePrefixes: z.array(z.string()).meta({ description: "...minus keys under any of these." }),
    schedule: z.enum(SCHEDULES),
    retentionDays: z.number().int(),
    keep: z.object({
      last: z.number().int(),
      daily: z.number().int(),
      weekly: z.number().int(),
      monthly: z.number().int(),
    }),
    compression: z.boolean(),
    encryption: z.boolean(),
    createdAt: nullableTime,
    updatedAt: nullableTime,
    updatedBy: z.string().nullable(),
  })
  .meta({ id: "Template" });

/** `{ name: [item], nextCursor }`: one page of a list. */
export const page = (name: string, item: z.ZodType) => z.object({ [name]: z.array(item), nextCursor });

/** `{ name: resource }`: how single resources are answered. */
export const one = (name: string, resource: z.ZodType) => z.object({ [name]: resource });
