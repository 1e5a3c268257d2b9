import type { ChangeSignal } from "./change-signal";

/** What a backup counts as it goes (the checkpoint's counters, and a shard's report to its parent). */
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
  /** What the mass-change alert measures (absent in checkpoints begun before it was measured). */
  change?: ChangeSignal;
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
