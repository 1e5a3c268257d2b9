/**
 * Shapes D1 rows into the API contract's resources: used by the routes and by the webhook
 * deliveries, which carry the same shapes.
 */
import {
  holdStands,
  type AlertRow,
  type BackupJobRow,
  type BackupLogRow,
  type BackupRow,
  type FindingList,
  type JobFindingRow,
} from "./index";

/** Seconds between two ISO times, or null when either is missing. */
function secondsBetween(from: string | null, to: string | null): number | null {
  return from && to ? Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000) : null;
}

function perSecond(amount: number, seconds: number | null, scale = 1): number | null {
  return seconds ? Math.round((amount / scale / seconds) * 100) / 100 : null;
}

/**
 * A backup as the API shows it. `hold`: its legal hold while it stands (a release asked for shows
 * its `releaseAt`; once that has passed the hold is gone), else null.
 */
export function presentBackup(row: BackupRow, now: Date = new Date()) {
  return {
    id: row.id,
    bucketName: row.bucketName,
    type: row.backupType,
    status: row.status,
    trigger: row.trigger,
    template: row.template,
    requestedBy: row.requestedBy,
    parentId: row.parentId,
    backupDate: row.backupDate,
    startedAt: row.startedAt,
    completedAt: row.completedAt,
    fileCount: row.fileCount,
    totalSize: row.totalSize,
    snapshotFileCount: row.snapshotFileCount,
    snapshotSize: row.snapshotSize,
    deletedCount: row.deletedCount,
    failedCount: row.failedCount,
    bytesUploaded: row.bytesUploaded,
    checksum: row.checksum,
    error: row.error,
    lastVerifiedAt: row.lastVerifiedAt,
    lastVerificationValid: row.lastVerificationValid,
    lastVerificationMode: row.lastVerificationMode,
    lastVerificationSamplePercent: row.lastVerificationSamplePercent,
    replicaStatus: row.replicaStatus,
    replicaCompletedAt: row.replicaCompletedAt,
    hold: holdStands(row, now)
      ? { by: row.holdBy, at: row.holdAt, reason: row.holdReason, releaseAt: row.holdReleaseAt }
      : null,
    progress: {
      phase: row.phase,
      filesProcessed: row.filesProcessed,
      bytesProcessed: row.bytesProcessed,
      // A fanned-out full backup: each shard's range and progress.
      ...(row.shards ? { shards: row.shards } : {}),
    },
    performance: backupPerformance(row),
  };
}

/** Where a backup's time went: its duration, throughput, steps and retries, bytes read and written. */
export function backupPerformance(row: BackupRow) {
  const durationSeconds = secondsBetween(row.startedAt, row.completedAt);
  return {
    durationSeconds,
    objectsPerSecond: perSecond(row.filesProcessed, durationSeconds),
    megabytesPerSecond: perSecond(row.bytesProcessed, durationSeconds, 1_000_000),
    steps: row.steps,
    retries: row.retries,
    bytesRead: row.bytesProcessed,
    bytesUploaded: row.bytesUploaded,
    storedBytes: row.storedBytes,
  };
}

export function presentAlert(row: AlertRow) {
  return {
    id: row.id,
    code: row.code,
    severity: row.severity,
    bucketName: row.bucketName,
    message: row.message,
    openedAt: row.openedAt,
    resolvedAt: row.resolvedAt,
    // An alert that resolves only when asked (mass_change): the request, until it takes effect.
    resolution:
      row.resolveAt === null || row.resolvedAt !== null
        ? null
        : { requestedBy: row.resolveRequestedBy, requestedAt: row.resolveRequestedAt, takesEffectAt: row.resolveAt },
    details: row.details,
  };
}

export function presentLog(row: BackupLogRow) {
  return {
    timestamp: row.timestamp,
    eventType: row.eventType,
    level: row.level,
    message: row.message,
    requestedBy: row.requestedBy,
  };
}

/** The lists a job's result names one by one, as the contract shapes them per job kind. */
function resultLists(
  kind: BackupJobRow["kind"],
  findings: Record<FindingList, JobFindingRow[]>,
  result: Record<string, unknown>,
) {
  if (kind === "verify" || kind === "replicate") {
    return {
      problems: findings.problem.map((f) => ({
        path: f.path,
        problem: f.detail,
        expected: f.expected,
        actual: f.actual,
      })),
    };
  }
  if (kind === "restore") {
    return {
      failures: findings.failure.map((f) => ({ path: f.path, reason: f.detail })),
      ...(result.dryRun === true ? { planned: findings.planned.map((f) => f.path) } : {}),
    };
  }
  if (kind === "cleanup")
    return {
      backupIdsExpired: findings.expired.map((f) => f.path),
      keptByHoldOrLock: findings.held.map((f) => ({ backupId: f.path, reasons: (f.detail ?? "").split(",") })),
    };
  return {};
}

/**
 * A job as the API shows it. Without `findings` (a webhook body) the result keeps its counts but
 * not its lists, which can hold thousands of entries.
 */
export function presentJob(row: BackupJobRow, findings: Record<FindingList, JobFindingRow[]> | null) {
  const result = row.result ?? {};
  const durationSeconds = secondsBetween(row.startedAt, row.completedAt);
  return {
    id: row.id,
    kind: row.kind,
    backupId: row.backupId,
    status: row.status,
    requestedBy: row.requestedBy,
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    completedAt: row.completedAt,
    progress: {
      filesProcessed: row.filesProcessed,
      filesTotal: row.filesTotal,
      // A restore fanned out across job objects: each shard's leaves and progress.
      ...(row.shards ? { shards: row.shards } : {}),
    },
    result: findings ? { ...result, ...resultLists(row.kind, findings, result) } : result,
    error: row.error,
    performance: {
      durationSeconds,
      objectsPerSecond: perSecond(row.filesProcessed, durationSeconds),
      steps: row.steps,
      retries: row.retries,
    },
  };
}
