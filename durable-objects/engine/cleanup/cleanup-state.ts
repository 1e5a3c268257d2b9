/**
 * What a cleanup keeps between steps, and what its steps are given (cleanup-step.ts drives it).
 */
import type { Keyring } from "../format/keyring";
import type { ManifestJobState } from "../job-state";
import type { Registration, SweepPageRequest } from "../collection/ledger";
import type { RetentionLock, BackupForRetention, RetentionPolicy } from "./keep-policy";

export type CleanupPhase = "plan" | "expire" | "logs" | "findings" | "deliveries" | "collect" | "mark" | "sweep";

export interface CleanupState extends ManifestJobState {
  kind: "cleanup";
  bucketName: string;
  dryRun: boolean;
  /** The backup template whose backups the policy expires (absent: the default). */
  template?: string;
  policy: RetentionPolicy;
  graceHours: number;
  phase: CleanupPhase;
  logRetentionDays: number;
  /** Log rows to prune, counted once when the phase starts (null before). */
  logsDeleted: number | null;
  /** Findings rows of old jobs to prune, likewise (absent in cleanups begun before it existed). */
  findingsDeleted?: number | null;
  /** Webhook deliveries sent (or given up) that long ago, likewise (absent before they existed). */
  deliveriesDeleted?: number | null;
  /** The expired backup being handled, or the last one done. */
  expireAfter: string | null;
  /** Backups the plan expired that a verification, restore or replication began to read first: kept. */
  keptInUse?: number;
  /** Backups the policy alone would have expired, kept by a legal hold, and by the retention lock. */
  keptByHold?: number;
  keptByLock?: number;
  /** ...and by an open mass_change alert (older than the backup it suspects). */
  keptByAlert?: number;
  /** Expiries an earlier cleanup began and did not finish, finished by this one. */
  expiriesFinished?: number;
  /**
   * The ledger sequence at which this cleanup became the store's collector (null: not yet); the
   * other collector it waits for meanwhile, if any.
   */
  collectorSince?: number | null;
  waitingFor?: string | null;
  /** The kept backup being read (null: the next one still to mark) and its next leaf. */
  markBackup: string | null;
  markChunk: number;
  /**
   * "role": the snapshots still to mark are those not yet recorded as marked (cleanup-store.ts).
   * Absent in a cleanup begun before that, which walked them in id order: on its first mark step
   * under this engine, every snapshot before `markBackup` is recorded as marked.
   */
  markOrder?: "role";
  /** Which of the sweep's areas is being swept (absent: the first), and where its listing resumes. */
  sweepArea?: number;
  sweepCursor: string | null;
  backupsExpired: number;
  blobsScanned: number;
  blobsDeleted: number;
  /** Manifest chunks deleted, and their bytes (absent before manifests were shared chunks). */
  chunksDeleted?: number;
  chunkBytesFreed?: number;
  /** Bytes deleted in all: blobs and chunks. */
  bytesFreed: number;
  /** What the swept areas hold after the sweep (absent in cleanups begun before it was measured). */
  storeBytes?: number;
  storeObjects?: number;
  /** Blobs and chunks deleted from the replica, and their bytes (absent: none swept yet). */
  replicaObjectsDeleted?: number;
  replicaBytesFreed?: number;
  /**
   * Unneeded blobs and chunks of the backup bucket kept because they are younger than the grace
   * period: how many, their bytes, and when the first of them may go (absent: none, or begun
   * before it was measured).
   */
  graceObjects?: number;
  graceBytes?: number;
  graceReclaimableAt?: string | null;
}

/** A backup the plan expires: by its policy now, or an expiry an earlier cleanup did not finish. */
export interface PlannedExpiry {
  id: string;
  /** Already `expired` in D1: only its file rows and manifest are left to delete. */
  finishing: boolean;
}

/** The job's own storage, as the steps need it (SQLite in the object). */
export interface CleanupStore {
  savePlan(expire: readonly PlannedExpiry[]): void;
  nextExpired(after: string | null): PlannedExpiry | null;
  /** The snapshots the mark covers, read once this cleanup is the store's collector. */
  saveKept(keep: readonly string[]): void;
  /** Adds snapshots to mark (those already known, marked or planned, stay as they are). */
  addKept(keep: readonly string[]): void;
  /** The first snapshot (in id order) still to mark, or null when every one is. */
  nextKept(): string | null;
  /** Records a snapshot's walk as finished (or abandoned: it was expired meanwhile). */
  keptMarked(backupId: string): void;
  /** Records every snapshot before `backupId` (in id order) as marked. */
  keptMarkedBefore(backupId: string): void;
  mark(blobs: readonly string[]): void;
  /** Marks a manifest chunk for backup `by`, unless already marked (the first marker stays). */
  markChunk(key: string, by: string): void;
  /** Forgets the chunk marks made for a backup whose walk was abandoned (it was expired meanwhile). */
  forgetChunksOf(backupId: string): void;
  /** The backup a chunk was first marked for, or null. */
  chunkMarkedBy(key: string): string | null;
  /** True for a marked blob or chunk. */
  isMarked(key: string): boolean;
  /** The sweep page being handled: what it deletes is decided and saved before deleting. */
  pendingSweep(): SweepPage | null;
  savePendingSweep(page: SweepPage): void;
}

/**
 * One page of the sweep, listed from `from`: what it deletes, condemned in the ledger and saved
 * before any is deleted, and kept until the next page, so a replayed step counts them again exactly.
 */
export interface SweepPage {
  from: string;
  next: string | null;
  scanned: number;
  /** Bytes of everything listed (absent on a page saved before the store was measured). */
  bytes?: number;
  doomed: { key: string; size: number }[];
  /** Unneeded objects kept for the grace period: how many, their bytes, when the first may go. */
  young?: { objects: number; bytes: number; reclaimableAt: string | null };
}

export type PrunedRows = "logs" | "findings" | "deliveries";

/** D1 rows older than the log retention: counted once, then deleted in bounded batches. */
export interface PrunableRows {
  count(before: string): Promise<number>;
  /** Deletes up to `limit` of them; returns how many it deleted. */
  delete(before: string, limit: number): Promise<number>;
}

/** The store's collection (engine/collection/ledger.ts), as the cleanup's steps use it. */
export interface StoreCollection {
  /** Frees the bucket's lease: from here on only the store's collection excludes anyone. */
  releaseLease(): Promise<void>;
  register(): Promise<Registration>;
  /** Prunes old ledger rows, a bounded number; returns how many it deleted. */
  prune(since: number): Promise<number>;
  /** Every snapshot in the store: completed or partial backups of any source bucket or template. */
  snapshots(): Promise<string[]>;
  /** A backup's status in D1 now (null: unknown). */
  statusOf(backupId: string): Promise<string | null>;
  condemn(page: Omit<SweepPageRequest, "collector">): Promise<string[]>;
  pageDeleting(pageId: string): Promise<boolean>;
  finishPage(pageId: string): Promise<void>;
}

/** in_use: a reader began first; held: a legal hold was placed after the plan. Both keep the backup. */
export type ExpireOutcome = "expired" | "in_use" | "held" | "held_by_alert";

export interface CleanupDeps {
  backup: Pick<R2Bucket, "get" | "list" | "delete">;
  /** The replica (R2_REPLICA_BUCKET), cleaned like the backup bucket; null when none is bound. */
  replica: Pick<R2Bucket, "list" | "delete"> | null;
  keyring: Keyring | null;
  store: CleanupStore;
  /**
   * The policy's template's finished backups, the ids running jobs read, and the bucket's
   * expiries an earlier cleanup did not finish.
   */
  history(): Promise<{ backups: BackupForRetention[]; inUse: Set<string>; unfinishedExpiries: string[] }>;
  /** The deployment's retention lock (BACKUP_MIN_RETENTION_DAYS), read at every plan, never from the request. */
  lock: RetentionLock;
  /**
   * Marks a backup expired in D1 with its log line, unless a verification, restore or replication
   * reads it (then it is kept: `in_use`). Idempotent.
   */
  expireRecord(backupId: string): Promise<ExpireOutcome>;
  /** Records that an expired backup's rows and manifest are gone (its expiry is finished). */
  expiryFinished(backupId: string): Promise<void>;
  /** The log rows of backups that expired before a time, and the findings of jobs that ended before it. */
  prunable: Record<PrunedRows, PrunableRows>;
  /** Deletes up to `limit` file rows of a backup; returns how many it deleted. */
  deleteFileRows(backupId: string, limit: number): Promise<number>;
  collection: StoreCollection;
  now(): Date;
}
