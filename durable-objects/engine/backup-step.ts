/**
 * One step of a backup, run by BackupJob's alarm. A step either copies the next batch of the
 * listing or finalizes the backup. Order inside a copy step (invariant 3): blobs, then the manifest
 * chunk and the D1 rows, then (by the caller) the checkpoint and the alarm. Every write is
 * idempotent, so a step replayed after a crash at any point produces the same result.
 */
import { captureObject, SourceReadError, type CaptureResult } from "./blob-store";
import type { BackupCheckpoint, BackupCounters, BackupOutcome } from "./backup-checkpoint";
import { mapWithConcurrency } from "./concurrency";
import { extendChain } from "./hashing";
import { manifestIndexKey, writeChunk, writeIndex, type ManifestEntry } from "./manifest";
import { insertLog, runBatch, updateBackup, upsertFileRecords, type Database, type FileRecord, type LogRecord } from "./records";
import { withRetry, type RetryPolicy } from "./retry";

export interface BackupEngineSettings {
  batchSize: number;
  readAttempts: number;
  retryBaseMs: number;
  /** Objects read in parallel within a batch. */
  concurrency: number;
}

export interface BackupStepDeps {
  source: R2Bucket;
  backup: R2Bucket;
  db: Database;
  settings: BackupEngineSettings;
  now: () => Date;
}

export async function runBackupStep(deps: BackupStepDeps, checkpoint: BackupCheckpoint): Promise<BackupCheckpoint> {
  switch (checkpoint.phase) {
    case "copying":
      return copyNextBatch(deps, checkpoint);
    case "finalizing":
      return finalize(deps, checkpoint);
    case "done":
      return checkpoint;
  }
}

type ObjectOutcome = CaptureResult | { kind: "failed"; error: string };

async function copyNextBatch(deps: BackupStepDeps, checkpoint: BackupCheckpoint): Promise<BackupCheckpoint> {
  const { source, backup, db, settings } = deps;
  const policy: RetryPolicy = { attempts: settings.readAttempts, baseDelayMs: settings.retryBaseMs };
  const listing = await withRetry(policy, () =>
    source.list({ limit: settings.batchSize, ...(checkpoint.cursorKey === null ? {} : { startAfter: checkpoint.cursorKey }) }),
  );
  const keys = listing.objects.map((object) => object.key);

  const outcomes = await mapWithConcurrency(keys, settings.concurrency, (key) => captureWithRetry(deps, policy, checkpoint.backupId, key));

  const entries: ManifestEntry[] = [];
  const fileRecords: FileRecord[] = [];
  const counters: BackupCounters = { ...checkpoint.counters };
  keys.forEach((key, i) => {
    const outcome = outcomes[i]!;
    counters.filesProcessed += 1;
    if (outcome.kind === "gone") return;
    if (outcome.kind === "failed") {
      counters.failedCount += 1;
      fileRecords.push({ backupId: checkpoint.backupId, filePath: key, backupPath: null, fileSize: 0, checksum: null, status: "failed", error: outcome.error });
      return;
    }
    const { entry } = outcome;
    entries.push(entry);
    counters.fileCount += 1;
    counters.totalSize += entry.size;
    counters.snapshotFileCount += 1;
    counters.snapshotSize += entry.size;
    counters.bytesProcessed += entry.size;
    counters.bytesUploaded += outcome.bytesUploaded;
    if (outcome.newContent) {
      fileRecords.push({
        backupId: checkpoint.backupId,
        filePath: key,
        backupPath: entry.blob,
        fileSize: entry.size,
        checksum: entry.sha256,
        status: "backed_up",
        error: null,
      });
    }
  });

  let { chain, nextChunkSeq } = checkpoint;
  if (entries.length > 0) {
    const chunkSha256 = await withRetry(policy, () => writeChunk(backup, checkpoint.backupId, nextChunkSeq, entries));
    chain = await extendChain(chain, chunkSha256);
    nextChunkSeq += 1;
  }

  const exhausted = !listing.truncated || keys.length === 0;
  const next: BackupCheckpoint = {
    ...checkpoint,
    phase: exhausted ? "finalizing" : "copying",
    cursorKey: keys.at(-1) ?? checkpoint.cursorKey,
    batchNumber: checkpoint.batchNumber + 1,
    nextChunkSeq,
    chain,
    counters,
    stepFailures: 0,
    lastError: null,
  };

  const failed = counters.failedCount - checkpoint.counters.failedCount;
  const logs: LogRecord[] = [
    logRecord(checkpoint, `progress:${checkpoint.batchNumber}`, "progress", failed > 0 ? "warn" : "info", deps.now(),
      `Batch ${checkpoint.batchNumber + 1}: ${keys.length} listed, ${entries.length} captured` +
        (failed > 0 ? `, ${failed} failed` : "") +
        `; ${counters.filesProcessed} objects and ${counters.bytesProcessed} bytes so far.`),
    ...fileRecords
      .filter((record) => record.status === "failed")
      .map((record) =>
        logRecord(checkpoint, `failed:${record.filePath}`, "error", "error", deps.now(), `Could not back up ${record.filePath}: ${record.error}`),
      ),
  ];
  await runBatch(db, [
    ...upsertFileRecords(db, fileRecords),
    ...logs.map((log) => insertLog(db, log)),
    updateBackup(db, checkpoint.backupId, { ...progressColumns(next), updatedAt: deps.now().toISOString() }),
  ]);
  return next;
}

async function captureWithRetry(deps: BackupStepDeps, policy: RetryPolicy, backupId: string, key: string): Promise<ObjectOutcome> {
  try {
    return await withRetry(policy, () => captureObject(deps.source, deps.backup, key, backupId));
  } catch (error) {
    // Only an unreadable source object is this object's failure; a failing backup bucket fails
    // the whole step, which is retried, so the backup is never `partial` for the store's sake.
    if (error instanceof SourceReadError) return { kind: "failed", error: error.message };
    throw error;
  }
}

async function finalize(deps: BackupStepDeps, checkpoint: BackupCheckpoint): Promise<BackupCheckpoint> {
  const completedAt = deps.now().toISOString();
  const outcome: BackupOutcome = checkpoint.counters.failedCount > 0 ? "partial" : "completed";
  await writeIndex(deps.backup, {
    format: "r2-backup-manifest",
    version: 1,
    backupId: checkpoint.backupId,
    bucketName: checkpoint.bucketName,
    type: checkpoint.type,
    parentId: checkpoint.parentId,
    createdAt: checkpoint.backupDate,
    completedAt,
    chunkCount: checkpoint.nextChunkSeq,
    fileCount: checkpoint.counters.snapshotFileCount,
    totalSize: checkpoint.counters.snapshotSize,
    checksum: checkpoint.chain,
  });
  const next: BackupCheckpoint = { ...checkpoint, phase: "done", outcome, stepFailures: 0, lastError: null };
  const { counters } = checkpoint;
  await runBatch(deps.db, [
    updateBackup(deps.db, checkpoint.backupId, {
      ...progressColumns(next),
      status: outcome,
      completedAt,
      checksum: checkpoint.chain,
      manifestKey: manifestIndexKey(checkpoint.backupId),
      error: outcome === "partial" ? `${counters.failedCount} object(s) could not be read; see the file records with status failed.` : null,
      updatedAt: completedAt,
    }),
    insertLog(deps.db, logRecord(checkpoint, "complete", "complete", outcome === "completed" ? "info" : "warn", deps.now(),
      `Backup ${outcome}: ${counters.fileCount} files (${counters.totalSize} bytes) recorded, ` +
        `snapshot of ${counters.snapshotFileCount} files (${counters.snapshotSize} bytes), ` +
        `${counters.bytesUploaded} bytes uploaded, ${counters.deletedCount} deleted, ${counters.failedCount} failed.`)),
  ]);
  return next;
}

export function progressColumns(checkpoint: BackupCheckpoint) {
  const { counters } = checkpoint;
  return {
    phase: checkpoint.phase,
    fileCount: counters.fileCount,
    totalSize: counters.totalSize,
    snapshotFileCount: counters.snapshotFileCount,
    snapshotSize: counters.snapshotSize,
    deletedCount: counters.deletedCount,
    failedCount: counters.failedCount,
    bytesUploaded: counters.bytesUploaded,
    filesProcessed: counters.filesProcessed,
    bytesProcessed: counters.bytesProcessed,
  };
}

export function logRecord(
  checkpoint: Pick<BackupCheckpoint, "backupId" | "requestedBy">,
  event: string,
  eventType: LogRecord["eventType"],
  level: LogRecord["level"],
  at: Date,
  message: string,
): LogRecord {
  return {
    eventKey: `${checkpoint.backupId}:${event}`,
    backupId: checkpoint.backupId,
    timestamp: at.toISOString(),
    eventType,
    level,
    message,
    requestedBy: checkpoint.requestedBy,
  };
}
