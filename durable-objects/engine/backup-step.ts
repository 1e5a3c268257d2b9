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
import { mergeListing, minWindowEnd, withinWindow, type ListedObject, type WindowEnd } from "./listing-merge";
import { readParentWindow, type ParentWindow } from "./parent-reader";
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

/** Parent entries read per step at most, so a step stays bounded after mass deletions. */
export const PARENT_WINDOW_LIMIT = 1000;

/**
 * Copies one window of keys: the next page of the listing merged with the parent snapshot's
 * entries over the same keys (a full backup has no parent, so every listed key is new).
 */
async function copyNextBatch(deps: BackupStepDeps, checkpoint: BackupCheckpoint): Promise<BackupCheckpoint> {
  const { source, backup, db, settings } = deps;
  const policy: RetryPolicy = { attempts: settings.readAttempts, baseDelayMs: settings.retryBaseMs };
  const listing = await withRetry(policy, () =>
    source.list({ limit: settings.batchSize, ...(checkpoint.cursorKey === null ? {} : { startAfter: checkpoint.cursorKey }) }),
  );
  if (listing.truncated && listing.objects.length === 0) throw new Error("R2 returned an empty page that claims more keys follow");
  const listingEnd: WindowEnd = listing.truncated ? listing.objects.at(-1)!.key : null;

  const parent: ParentWindow =
    checkpoint.parentId === null
      ? { entries: [], next: checkpoint.parentPosition, exhausted: true, cutAt: null }
      : await withRetry(policy, () =>
          readParentWindow(backup, checkpoint.parentId!, checkpoint.parentChunkCount, checkpoint.parentPosition, listingEnd, PARENT_WINDOW_LIMIT),
        );
  const windowEnd = minWindowEnd(listingEnd, parent.cutAt);
  const listed: ListedObject[] = listing.objects.filter((o) => withinWindow(o.key, windowEnd));
  const actions = mergeListing(listed, parent.entries);

  const toRead = actions.filter((a) => a.kind === "new" || a.kind === "modified");
  const outcomes = new Map<string, ObjectOutcome>();
  const read = await mapWithConcurrency(toRead, settings.concurrency, (a) => captureWithRetry(deps, policy, checkpoint.backupId, a.key));
  toRead.forEach((action, i) => outcomes.set(action.key, read[i]!));

  const entries: ManifestEntry[] = [];
  const fileRecords: FileRecord[] = [];
  const counters: BackupCounters = { ...checkpoint.counters };
  const record = (filePath: string, values: Omit<FileRecord, "backupId" | "filePath">) => fileRecords.push({ backupId: checkpoint.backupId, filePath, ...values });
  const recordDeletion = (previous: ManifestEntry) => {
    counters.deletedCount += 1;
    record(previous.key, { backupPath: previous.blob, fileSize: previous.size, checksum: previous.sha256, status: "deleted", error: null });
  };

  for (const action of actions) {
    counters.filesProcessed += 1;
    if (action.kind === "unchanged") {
      entries.push(action.entry);
      counters.snapshotFileCount += 1;
      counters.snapshotSize += action.entry.size;
      continue;
    }
    if (action.kind === "deleted") {
      recordDeletion(action.previous);
      continue;
    }
    const outcome = outcomes.get(action.key)!;
    if (outcome.kind === "gone") {
      if (action.kind === "modified") recordDeletion(action.previous);
      continue;
    }
    if (outcome.kind === "failed") {
      counters.failedCount += 1;
      record(action.key, { backupPath: null, fileSize: 0, checksum: null, status: "failed", error: outcome.error });
      continue;
    }
    const { entry } = outcome;
    entries.push(entry);
    counters.fileCount += 1;
    counters.totalSize += entry.size;
    counters.snapshotFileCount += 1;
    counters.snapshotSize += entry.size;
    counters.bytesProcessed += entry.size;
    counters.bytesUploaded += outcome.bytesUploaded;
    // A full backup records the content it had to store; an incremental one every change.
    if (checkpoint.type === "incremental" || outcome.newContent) {
      record(action.key, { backupPath: entry.blob, fileSize: entry.size, checksum: entry.sha256, status: "backed_up", error: null });
    }
  }

  let { chain, nextChunkSeq } = checkpoint;
  if (entries.length > 0) {
    const chunkSha256 = await withRetry(policy, () => writeChunk(backup, checkpoint.backupId, nextChunkSeq, entries));
    chain = await extendChain(chain, chunkSha256);
    nextChunkSeq += 1;
  }

  const next: BackupCheckpoint = {
    ...checkpoint,
    phase: windowEnd === null ? "finalizing" : "copying",
    cursorKey: windowEnd ?? listed.at(-1)?.key ?? checkpoint.cursorKey,
    parentPosition: parent.next,
    batchNumber: checkpoint.batchNumber + 1,
    nextChunkSeq,
    chain,
    counters,
    stepFailures: 0,
    lastError: null,
  };

  const changed = toRead.length;
  const failed = counters.failedCount - checkpoint.counters.failedCount;
  const deleted = counters.deletedCount - checkpoint.counters.deletedCount;
  const logs: LogRecord[] = [
    logRecord(checkpoint, `progress:${checkpoint.batchNumber}`, "progress", failed > 0 ? "warn" : "info", deps.now(),
      `Batch ${checkpoint.batchNumber + 1}: ${listed.length} listed, ${changed} read, ${listed.length - changed} unchanged` +
        (deleted > 0 ? `, ${deleted} deleted` : "") +
        (failed > 0 ? `, ${failed} failed` : "") +
        `; ${counters.snapshotFileCount} objects in the snapshot so far.`),
    ...fileRecords
      .filter((r) => r.status === "failed")
      .map((r) => logRecord(checkpoint, `failed:${r.filePath}`, "error", "error", deps.now(), `Could not back up ${r.filePath}: ${r.error}`)),
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
