/** Shapes D1 rows into the API contract's resources. */
import type { BackupJobRow, BackupLogRow, BackupRow } from "../schema";

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

export function presentJob(row: BackupJobRow) {
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
    result: row.result ?? {},
    error: row.error,
  };
}
