/**
 * The state a BackupJob keeps in its own storage between alarm steps. Everything a step needs to
 * resume is here, and every counter reported to D1 is derived from it (set, never incremented in
 * D1), so a replayed step cannot count twice.
 */
import type { BackupTrigger, BackupType } from "../../../schema";
import { RUNNING, type StepState } from "../lifecycle";
import { EMPTY_CHAIN } from "../format/hashing";
import type { LargeObjectState } from "./large-object";
import type { ParentPosition } from "./parent-reader";

/** Where the work stands; whether the job is over is StepState's `stage`, the one notion of done. */
export type BackupPhase = "copying" | "large" | "finalizing";

export interface BackupCounters {
  /** Files this backup recorded: every object (full) or new and modified ones (incremental). */
  fileCount: number;
  totalSize: number;
  /** The whole bucket state this backup's manifest describes. */
  snapshotFileCount: number;
  snapshotSize: number;
  deletedCount: number;
  failedCount: number;
  bytesUploaded: number;
  /** Listing entries handled so far (captured, carried over, gone or failed). */
  filesProcessed: number;
  bytesProcessed: number;
  /** Longest key of the snapshot in UTF-8 bytes: restore checks a target prefix against it. */
  maxKeyBytes: number;
}

export interface BackupCheckpoint extends StepState {
  version: 1;
  backupId: string;
  bucketName: string;
  type: BackupType;
  trigger: BackupTrigger;
  requestedBy: string;
  parentId: string | null;
  backupDate: string;
  startedAt: string;
  /** Logged with the start (for example why the requested type was changed). */
  startNotes: string[];
  phase: BackupPhase;
  /** The last source key handled; the next listing starts after it. */
  cursorKey: string | null;
  /** Chunks in the parent's manifest (0 for a full backup). */
  parentChunkCount: number;
  /** How far the merge has read the parent's manifest. */
  parentPosition: ParentPosition;
  /** The object above the multipart threshold being captured over several steps, if any. */
  largeObject: LargeObjectState | null;
  /** Where the parent merge resumes once the large object is recorded. */
  parentPositionAfterLarge: ParentPosition | null;
  /** Steps completed so far; names the next step's log event. */
  batchNumber: number;
  /** Number of the next manifest chunk to write. */
  nextChunkSeq: number;
  /** Manifest checksum over the chunks written so far. */
  chain: string;
  counters: BackupCounters;
}

export const ZERO_COUNTERS: BackupCounters = {
  fileCount: 0,
  totalSize: 0,
  snapshotFileCount: 0,
  snapshotSize: 0,
  deletedCount: 0,
  failedCount: 0,
  bytesUploaded: 0,
  filesProcessed: 0,
  bytesProcessed: 0,
  maxKeyBytes: 0,
};

export interface NewBackup {
  backupId: string;
  bucketName: string;
  type: BackupType;
  trigger: BackupTrigger;
  requestedBy: string;
  parentId: string | null;
  backupDate: string;
}

export function initialCheckpoint(backup: NewBackup, parentChunkCount: number, startedAt: string, startNotes: string[] = []): BackupCheckpoint {
  return {
    version: 1,
    ...backup,
    startNotes,
    parentChunkCount,
    parentPosition: { chunkSeq: 0, offset: 0 },
    largeObject: null,
    parentPositionAfterLarge: null,
    startedAt,
    phase: "copying",
    cursorKey: null,
    batchNumber: 0,
    nextChunkSeq: 0,
    chain: EMPTY_CHAIN,
    counters: { ...ZERO_COUNTERS },
    ...RUNNING,
  };
}
