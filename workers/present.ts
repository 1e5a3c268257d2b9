/** Shapes D1 rows into the API contract's resources. */
import type { BackupJobRow, BackupLogRow, BackupRow, FindingList, JobFindingRow } from "../schema";

export function presentBackup(row: BackupRow) {
  return {
    id: row.id,
    bucketName: row.bucketName,
    type: row.backupType,
    status: row.status,
    trigger: row.trigger,
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
    progress: { phase: row.phase, filesProcessed: row.filesProcessed, bytesProcessed: row.bytesProcessed },
  };
}

export function presentLog(row: BackupLogRow) {
  return { timestamp: row.timestamp, eventType: row.eventType, level: row.level, message: row.message, requestedBy: row.requestedBy };
}

/** The lists a job's result names one by one, as the contract shapes them per job kind. */
function resultLists(kind: BackupJobRow["kind"], findings: Record<FindingList, JobFindingRow[]>, result: Record<string, unknown>) {
  if (kind === "verify") {
    return { problems: findings.problem.map((f) => ({ path: f.path, problem: f.detail, expected: f.expected, actual: f.actual })) };
  }
  if (kind === "restore") {
    return {
      failures: findings.failure.map((f) => ({ path: f.path, reason: f.detail })),
      ...(result.dryRun === true ? { planned: findings.planned.map((f) => f.path) } : {}),
    };
  }
  if (kind === "cleanup") return { backupIdsExpired: findings.expired.map((f) => f.path) };
  return {};
}

export function presentJob(row: BackupJobRow, findings: Record<FindingList, JobFindingRow[]> | null) {
  const result = row.result ?? {};
  return {
    id: row.id,
    kind: row.kind,
    backupId: row.backupId,
    status: row.status,
    requestedBy: row.requestedBy,
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    completedAt: row.completedAt,
    progress: { filesProcessed: row.filesProcessed, filesTotal: row.filesTotal },
    result: row.result && findings ? { ...result, ...resultLists(row.kind, findings, result) } : {},
    error: row.error,
  };
}
