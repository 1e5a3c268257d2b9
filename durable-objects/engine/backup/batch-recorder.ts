/**
 * Turns one step's outcomes into what the step writes: manifest entries (added to the chunk tree,
 * which stores the chunks they finish, or for a path edit applied to the tree so far), counters
 * (set from the checkpoint, never incremented in D1), file records, and log rows.
 */
import type { CaptureResult } from "./blob-store";
import type { BackupCheckpoint, BackupCounters } from "./backup-checkpoint";
import { codecOf, policyOf, type BackupStepDeps } from "./backup-deps";
import { storeChunks } from "../format/chunk-store";
import type { MergeAction } from "./listing-merge";
import type { ManifestEntry } from "../format/manifest";
import { appendEntries, chunkKey, type NewChunk } from "../format/manifest-tree";
import { compareKeys } from "../format/key-order";
import { editTree, type TreeEdit } from "../format/tree-edit";
import { StepChunks } from "./path-edit";
import {
  clearFileRecordWindow,
  insertLog,
  updateBackup,
  upsertFileRecords,
  type FileRecord,
  type LogRecord,
} from "../records";
import { commitWithReferences } from "../collection/ledger";
import { withRetry } from "../retry";
import { countChange, countSample, NO_CHANGES, type ChangeSignal } from "./change-signal";

export type ObjectOutcome = CaptureResult | { kind: "failed"; error: string };

export class BatchRecorder {
  /** Entries the step adds to the snapshot, in key order. */
  readonly entries: ManifestEntry[] = [];
  /** A path edit's keys whose parent entry leaves the snapshot (replaced, gone or failed). */
  private readonly removed: string[] = [];
  readonly fileRecords: FileRecord[] = [];
  /** Blobs found damaged or foreign at their name and written again in this step. */
  readonly repairs: { key: string; blob: string; reason: string }[] = [];
  /** Keys named by change events that R2 refuses: left out of the snapshot, each logged once. */
  readonly refused: { key: string; reason: string }[] = [];
  readonly counters: BackupCounters;
  /** Blobs the step's captures named (stored, or found present): its references in the ledger. */
  readonly namedBlobs: string[] = [];
  read = 0;

  /**
   * A path edit's snapshot starts as its parent's (counters included) and each change replaces
   * the parent's entry; otherwise the snapshot is built from every entry, unchanged ones too.
   */
  private readonly pathEdit: boolean;

  /** `chunks`: the chunks this step read already, for a path edit (the leaves it looked keys up in). */
  constructor(
    private readonly checkpoint: BackupCheckpoint,
    private readonly chunks?: StepChunks,
  ) {
    this.counters = { ...checkpoint.counters };
    this.pathEdit = checkpoint.edit?.stage === "editing";
  }

  apply(action: MergeAction, outcome: ObjectOutcome | undefined): void {
    const counters = this.counters;
    counters.filesProcessed += 1;
    if (action.kind === "unchanged") {
      if (!this.pathEdit) this.enter(action.entry);
      return;
    }
    if (action.kind === "deleted") {
      this.leave(action.previous);
      return this.recordDeletion(action.previous);
    }
    this.read += 1;
    // The parent's version leaves the snapshot whatever happens now: replaced, gone, or failed
    // (an object that cannot be read is in no snapshot, as in a listing backup).
    if (action.kind === "modified") this.leave(action.previous);
    if (!outcome || outcome.kind === "gone") {
      if (action.kind === "modified") this.recordDeletion(action.previous);
      return;
    }
    if (outcome.kind === "failed") {
      counters.failedCount += 1;
      this.record(action.key, {
        backupPath: null,
        fileSize: 0,
        checksum: null,
        status: "failed",
        error: outcome.error,
      });
      return;
    }
    const { entry } = outcome;
    // A modification to content the store already holds (a restore writing back an earlier
    // version, a file reverted) is not what an attack looks like: only new content counts.
    if (action.kind === "modified" && outcome.newContent) this.countChange(action.key, "modified");
    if (outcome.newContent) counters.change = countSample(this.change, outcome.incompressible);
    this.namedBlobs.push(entry.blob);
    if (outcome.repaired) this.repairs.push({ key: action.key, blob: entry.blob, reason: outcome.repaired });
    this.enter(entry);
    counters.fileCount += 1;
    counters.totalSize += entry.size;
    counters.bytesProcessed += entry.size;
    counters.bytesUploaded += outcome.bytesUploaded;
    // A full backup records the content it had to store; an incremental one every change.
    if (this.checkpoint.type === "incremental" || outcome.newContent) {
      this.record(action.key, {
        backupPath: entry.blob,
        fileSize: entry.size,
        checksum: entry.sha256,
        status: "backed_up",
        error: null,
      });
    }
  }

  /** An entry joins the snapshot. */
  private enter(entry: ManifestEntry): void {
    const counters = this.counters;
    this.entries.push(entry);
    counters.snapshotFileCount += 1;
    counters.snapshotSize += entry.size;
    counters.maxKeyBytes = Math.max(counters.maxKeyBytes ?? 0, keyBytes(entry.key));
  }

  /**
   * A path edit's parent entry leaves the snapshot. (The longest key stays an upper bound: which
   * key is longest after a deletion would take the whole snapshot to know; restore only checks a
   * target prefix against it.)
   */
  private leave(previous: ManifestEntry): void {
    if (!this.pathEdit) return;
    this.removed.push(previous.key);
    this.counters.snapshotFileCount -= 1;
    this.counters.snapshotSize -= previous.size;
  }

  /** The step's changes to a path-edited tree: each key's new entry, or null when it left, in key order. */
  private edits(): TreeEdit[] {
    const next = new Map<string, ManifestEntry | null>(this.removed.map((key) => [key, null]));
    for (const entry of this.entries) next.set(entry.key, entry);
    return [...next].sort(([a], [b]) => compareKeys(a, b)).map(([key, entry]) => ({ key, entry }));
  }

  /** The manifest chunks the step finishes and the checkpoint's tree after it. */
  private async advanceTree(
    deps: BackupStepDeps,
  ): Promise<{ chunks: NewChunk[]; tree: Partial<Pick<BackupCheckpoint, "tree" | "edit" | "chunksRead">> }> {
    const { checkpoint } = this;
    const keyring = codecOf(deps.settings).keyring;
    const { edit } = checkpoint;
    if (edit?.stage !== "editing") {
      const added = await appendEntries(checkpoint.tree, this.entries, keyring, deps.settings.treeShape);
      return { chunks: added.chunks, tree: { tree: added.state } };
    }
    // One reader per step: what it read to look the keys up counts with what the edit reads.
    const chunks = this.chunks ?? new StepChunks(deps, `backup ${checkpoint.parentId}`, deps.parentPages);
    const edits = this.edits();
    const edited = await withRetry(policyOf(deps.settings), () =>
      editTree(chunks, edit.root, edits, keyring, deps.settings.treeShape),
    );
    return {
      chunks: edited.chunks,
      tree: {
        edit: { stage: "editing", root: edited.root },
        chunksRead: (checkpoint.chunksRead ?? 0) + chunks.reads,
      },
    };
  }

  refusedKey(key: string, reason: string): void {
    this.refused.push({ key, reason });
  }

  private get change(): ChangeSignal {
    return this.counters.change ?? NO_CHANGES;
  }

  private countChange(key: string, kind: "modified" | "deleted"): void {
    this.counters.change = countChange(this.change, key, kind);
  }

  private recordDeletion(previous: ManifestEntry): void {
    this.counters.deletedCount += 1;
    this.countChange(previous.key, "deleted");
    this.record(previous.key, {
      backupPath: previous.blob,
      fileSize: previous.size,
      checksum: previous.sha256,
      status: "deleted",
      error: null,
    });
  }

  private record(filePath: string, values: Omit<FileRecord, "backupId" | "filePath">): void {
    this.fileRecords.push({ backupId: this.checkpoint.backupId, filePath, ...values });
  }

  /**
   * Stores the manifest chunks the entries finish, then the D1 rows with the step's references
   * (blobs and chunks it named, engine/collection/ledger.ts); returns the checkpoint to save.
   * Throws CollectionConflict when a sweep deleted something the step found present after `fence`.
   */
  async commit(
    deps: BackupStepDeps,
    position: BackupCheckpoint,
    what: string,
    fence: number,
  ): Promise<BackupCheckpoint> {
    const { checkpoint, counters } = this;
    const advanced = await this.advanceTree(deps);
    const stored = await storeManifestChunks(deps, checkpoint, advanced.chunks);
    const next: BackupCheckpoint = {
      ...position,
      ...advanced.tree,
      chunksWritten: stored.chunksWritten,
      chunkBytesWritten: stored.chunkBytesWritten,
      batchNumber: checkpoint.batchNumber + 1,
      counters,
      stepFailures: 0,
      lastError: null,
    };

    const failed = counters.failedCount - checkpoint.counters.failedCount;
    const deleted = counters.deletedCount - checkpoint.counters.deletedCount;
    const now = deps.now();
    const logs: LogRecord[] = [
      logRecord(
        checkpoint,
        `progress:${checkpoint.batchNumber}`,
        "progress",
        failed > 0 ? "warn" : "info",
        now,
        `Step ${checkpoint.batchNumber + 1} (${what}): ${this.read} read` +
          (deleted > 0 ? `, ${deleted} deleted` : "") +
          (failed > 0 ? `, ${failed} failed` : "") +
          `; ${counters.snapshotFileCount} objects in the snapshot so far.`,
      ),
      ...this.fileRecords
        .filter((r) => r.status === "failed")
        .map((r) =>
          logRecord(
            checkpoint,
            `failed:${r.filePath}`,
            "error",
            "error",
            now,
            `Could not back up ${r.filePath}: ${r.error}`,
          ),
        ),
      ...this.refused.map((r) =>
        logRecord(
          checkpoint,
          `refused:${r.key}`,
          "progress",
          "warn",
          now,
          `Dropped a key named by a change event that R2 refuses (${r.key.slice(0, 100)}${r.key.length > 100 ? "..." : ""}): ${r.reason}. It can never hold such an object, so there is nothing to back up.`,
        ),
      ),
      ...this.repairs.map((r) =>
        logRecord(
          checkpoint,
          `repaired:${r.blob}`,
          "progress",
          "warn",
          now,
          `Repaired ${r.blob} (content of ${r.key}): the stored blob could not be trusted, ${r.reason}.`,
        ),
      ),
    ];
    // The window's rows are replaced as a whole, so a replayed step leaves exactly the rows its
    // final attempt decided (an object that failed first and was captured on replay loses its
    // `failed` row). The window is (the previous cursor, the new one], or to the end when the
    // listing is done.
    // A shard's window ends with its range; its parent records the backup's progress (the sum).
    const windowEnd = next.phase === "finalizing" ? (checkpoint.shard?.range.through ?? null) : next.cursorKey;
    const named = [...this.namedBlobs, ...advanced.chunks.map((c) => chunkKey(c.ref.name))];
    await commitWithReferences(
      deps.db,
      [
        clearFileRecordWindow(deps.db, checkpoint.backupId, checkpoint.cursorKey, windowEnd),
        ...upsertFileRecords(deps.db, this.fileRecords),
        ...logs.map((log) => insertLog(deps.db, log)),
        ...(checkpoint.shard
          ? []
          : [updateBackup(deps.db, checkpoint.backupId, { ...progressColumns(next), updatedAt: now.toISOString() })]),
      ],
      { holder: checkpoint.backupId, keys: named, fence },
    );
    return next;
  }
}

/**
 * Stores finished manifest chunks (a full backup rewrites them, an incremental one writes only
 * those not stored yet) and returns the checkpoint with what it stored counted.
 */
export async function storeManifestChunks(
  deps: BackupStepDeps,
  checkpoint: BackupCheckpoint,
  chunks: readonly NewChunk[],
): Promise<BackupCheckpoint> {
  const mode = checkpoint.type === "full" ? "rewrite" : "if-absent";
  const written =
    chunks.length === 0
      ? { chunks: 0, bytes: 0 }
      : await withRetry(policyOf(deps.settings), () =>
          storeChunks(deps.backup, codecOf(deps.settings), chunks, mode, checkpoint.backupId),
        );
  return {
    ...checkpoint,
    chunksWritten: checkpoint.chunksWritten + written.chunks,
    chunkBytesWritten: checkpoint.chunkBytesWritten + written.bytes,
  };
}

const keyBytes = (key: string) => new TextEncoder().encode(key).length;

export function progressColumns(checkpoint: BackupCheckpoint) {
  const { counters } = checkpoint;
  const change = counters.change ?? NO_CHANGES;
  return {
    phase: checkpoint.stage === "running" ? checkpoint.phase : "done",
    fileCount: counters.fileCount,
    totalSize: counters.totalSize,
    snapshotFileCount: counters.snapshotFileCount,
    snapshotSize: counters.snapshotSize,
    deletedCount: counters.deletedCount,
    failedCount: counters.failedCount,
    bytesUploaded: counters.bytesUploaded,
    filesProcessed: counters.filesProcessed,
    bytesProcessed: counters.bytesProcessed,
    maxKeyBytes: counters.maxKeyBytes ?? 0,
    // A backup that changed nothing is measured too (as zeros): it is the trailing median's norm.
    modifiedCount: change.modified,
    sampledCount: change.sampled,
    incompressibleCount: change.incompressible,
    changedPrefixes: change.prefixes,
  };
}

/** A log row of the backup; a shard's events are its own (`shard-2:progress:7`), its lines say which shard. */
export function logRecord(
  checkpoint: Pick<BackupCheckpoint, "backupId" | "requestedBy" | "shard">,
  event: string,
  eventType: LogRecord["eventType"],
  level: LogRecord["level"],
  at: Date,
  message: string,
): LogRecord {
  const shard = checkpoint.shard;
  return {
    eventKey: `${checkpoint.backupId}:${shard ? `shard-${shard.index}:` : ""}${event}`,
    backupId: checkpoint.backupId,
    timestamp: at.toISOString(),
    eventType,
    level,
    message: shard ? `Shard ${shard.index + 1} of ${shard.count}: ${message}` : message,
    requestedBy: checkpoint.requestedBy,
  };
}
