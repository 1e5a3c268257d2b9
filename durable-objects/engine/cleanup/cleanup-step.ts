/**
 * One step of a cleanup (retention and garbage collection), under the bucket's lease:
 *
 *   plan    which backups the policy expires and which it keeps (keep-policy.ts), saved in the
 *           job's SQLite storage (a list as long as the history, never one value);
 *   expire  per backup: D1 status `expired` with a log line, its file rows deleted in bounded
 *           batches, its manifest objects deleted; the `r2_backups` row and logs stay (audit);
 *   logs    the log rows of backups that expired more than the log retention days before the
 *           cleanup started are counted once, then deleted in bounded batches (their
 *           `r2_backups` row stays);
 *   findings  likewise the findings rows of jobs that ended that long ago (the job row and
 *           its result counts stay);
 *   deliveries  likewise the webhook deliveries sent or given up on that long ago (pending
 *           ones stay);
 *   mark    every manifest chunk and blob a kept snapshot names goes into the job's SQLite mark
 *           set. Snapshots share chunks, and a chunk's name fixes everything under it, so a
 *           chunk already marked for another snapshot is skipped with its whole subtree: each
 *           distinct chunk is read once. A kept backup whose manifest cannot be read fails the
 *           cleanup before anything is swept;
 *   sweep   the blob store, then the chunk store, is listed a page per step; an object neither
 *           marked nor younger than the grace period is deleted (the grace outlasts any backup
 *           that may have stored a blob or chunk it has not recorded yet: a crashed one, whose
 *           objects are then collected). The manifests' own objects are listed last, only to be
 *           counted: the sweep measures what the backup bucket holds once it is done
 *           (`storeBytes`, `storeObjects`), the figure GET /api/backup/stats starts from.
 *           With a replica bound, its blobs and chunks are swept the same way afterwards (its
 *           names are the primary's, so the one mark set serves both), and an expired backup's
 *           manifest is deleted from both.
 *
 * A dry run plans, counts and lists exactly what a real run would, and writes nothing. Every
 * step is safe to replay: each write is idempotent and counters advance only with the position
 * saved after the step.
 */
import { PermanentError } from "../errors";
import type { Keyring } from "../format/keyring";
import { readIndex } from "../format/manifest";
import { locatorOf, openManifest, type ManifestReader } from "../format/manifest-reader";
import { CHUNK_PREFIX, chunkKey } from "../format/manifest-tree";
import { withFindings, type Finding, type ManifestJobState } from "../job-state";
import { ended } from "../lifecycle";
import { planRetention, type BackupForRetention, type RetentionPolicy } from "./keep-policy";

export interface CleanupState extends ManifestJobState {
  kind: "cleanup";
  bucketName: string;
  dryRun: boolean;
  /** The backup template whose backups the policy expires (absent: the default). */
  template?: string;
  policy: RetentionPolicy;
  graceHours: number;
  phase: "plan" | "expire" | "logs" | "findings" | "deliveries" | "mark" | "sweep";
  logRetentionDays: number;
  /** Log rows to prune, counted once when the phase starts (null before). */
  logsDeleted: number | null;
  /** Findings rows of old jobs to prune, likewise (absent in cleanups begun before it existed). */
  findingsDeleted?: number | null;
  /** Webhook deliveries sent (or given up) that long ago, likewise (absent before they existed). */
  deliveriesDeleted?: number | null;
  /** The expired backup being handled, or the last one done. */
  expireAfter: string | null;
  /** Kept backups are marked in id order: the one being read (null: the first) and its next leaf. */
  markBackup: string | null;
  markChunk: number;
  /** Which of SWEPT_PREFIXES is being swept (absent: the first), and where its listing resumes. */
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
}

/**
 * What the sweep lists, in order: content blobs, then the shared manifest chunks (both collected),
 * then the manifests' indexes (only counted: expiring a backup deletes its own).
 */
export const SWEPT_PREFIXES = ["blobs/", CHUNK_PREFIX, "manifests/"] as const;
const COLLECTED_PREFIXES: ReadonlySet<string> = new Set(["blobs/", CHUNK_PREFIX]);

/** The job's own storage, as the step needs it (SQLite in the object). */
export interface CleanupStore {
  savePlan(expire: readonly string[], keep: readonly string[]): void;
  nextExpired(after: string | null): string | null;
  nextKept(after: string | null): string | null;
  mark(blobs: readonly string[]): void;
  /** Marks a manifest chunk for backup `by`, unless already marked (the first marker stays). */
  markChunk(key: string, by: string): void;
  /** The backup a chunk was first marked for, or null. */
  chunkMarkedBy(key: string): string | null;
  /** True for a marked blob or chunk. */
  isMarked(key: string): boolean;
  /** The sweep page being handled: what it deletes is decided and saved before deleting. */
  pendingSweep(): SweepPage | null;
  savePendingSweep(page: SweepPage): void;
}

/**
 * One page of the sweep, listed from `from`: the blobs it deletes, decided before any is deleted
 * and kept until the next page, so a step replayed after the deletes counts them again exactly.
 */
export interface SweepPage {
  from: string;
  next: string | null;
  scanned: number;
  /** Bytes of everything listed (absent on a page saved before the store was measured). */
  bytes?: number;
  doomed: { key: string; size: number }[];
}

export interface CleanupDeps {
  backup: Pick<R2Bucket, "get" | "list" | "delete">;
  /** The replica (R2_REPLICA_BUCKET), cleaned like the backup bucket; null when none is bound. */
  replica: Pick<R2Bucket, "list" | "delete"> | null;
  keyring: Keyring | null;
  store: CleanupStore;
  /**
   * The bucket's finished backups, the ids running jobs read, and the snapshots of other source
   * buckets (completed or partial): the backup bucket is shared, so they are marked too, never expired.
   */
  history(): Promise<{ backups: BackupForRetention[]; inUse: Set<string>; otherBuckets: string[] }>;
  /** Marks a backup expired in D1 with its log line (idempotent). */
  expireRecord(backupId: string): Promise<void>;
  /** The log rows of backups that expired before a time, and the findings of jobs that ended before it. */
  prunable: Record<PrunedRows, PrunableRows>;
  /** Deletes up to `limit` file rows of a backup; returns how many it deleted. */
  deleteFileRows(backupId: string, limit: number): Promise<number>;
  now(): Date;
}

export type PrunedRows = "logs" | "findings" | "deliveries";

/** D1 rows older than the log retention: counted once, then deleted in bounded batches. */
export interface PrunableRows {
  count(before: string): Promise<number>;
  /** Deletes up to `limit` of them; returns how many it deleted. */
  delete(before: string, limit: number): Promise<number>;
}

export const FILE_ROWS_PER_STEP = 10_000;
export const MANIFEST_PAGES_PER_STEP = 10;
export const CHUNKS_PER_STEP = 16;
export const LOG_ROWS_PER_STEP = 10_000;

export async function runCleanupStep(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  switch (state.phase) {
    case "plan":
      return plan(deps, state);
    case "expire":
      return expireNext(deps, state);
    case "logs":
      return pruneRows(deps, state, "logs", "logsDeleted", "findings");
    case "findings":
      return pruneRows(deps, state, "findings", "findingsDeleted", "deliveries");
    case "deliveries":
      return pruneRows(deps, state, "deliveries", "deliveriesDeleted", "mark");
    case "mark":
      return markNext(deps, state);
    case "sweep":
      return sweepNext(deps, state);
  }
}

async function plan(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  const { backups, inUse, otherBuckets } = await deps.history();
  const retention = planRetention(backups, state.policy, deps.now(), inUse);
  const withSnapshot = new Set(backups.filter((b) => b.status === "completed" || b.status === "partial").map((b) => b.id));
  // Blobs and chunks are shared by every source bucket backed up into the store, so what another
  // bucket's snapshots need is marked as well (a renamed BACKUP_SOURCE_BUCKET leaves such backups).
  deps.store.savePlan(retention.expired, [...[...retention.kept.keys()].filter((id) => withSnapshot.has(id)), ...otherBuckets]);
  return { ...state, phase: "expire", filesTotal: backups.length };
}

async function expireNext(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  const id = deps.store.nextExpired(state.expireAfter);
  if (id === null) return { ...state, phase: "logs" };
  if (!state.dryRun) {
    await deps.expireRecord(id);
    if ((await deps.deleteFileRows(id, FILE_ROWS_PER_STEP)) === FILE_ROWS_PER_STEP) return state; // more next step
    if (!(await deleteManifest(deps.backup, id))) return state;
    if (deps.replica && !(await deleteManifest(deps.replica, id))) return state;
  }
  const finding: Finding = { list: "expired", path: id, detail: null };
  return withFindings({ ...state, expireAfter: id, backupsExpired: state.backupsExpired + 1, filesProcessed: state.filesProcessed + 1 }, [finding]);
}

/** Deletes a backup's manifest objects, a bounded number of pages a step; true when none is left. */
async function deleteManifest(bucket: Pick<R2Bucket, "list" | "delete">, backupId: string): Promise<boolean> {
  for (let page = 0; page < MANIFEST_PAGES_PER_STEP; page++) {
    const listed = await bucket.list({ prefix: `manifests/${backupId}/`, limit: 1000 });
    if (listed.objects.length === 0) return true;
    await bucket.delete(listed.objects.map((o) => o.key));
    if (!listed.truncated) return true;
  }
  return false;
}

/**
 * Prunes one kind of old D1 rows: the first step counts them (the figure reported, also by a dry
 * run), later steps delete them a batch at a time until a batch comes back short.
 */
async function pruneRows(
  deps: CleanupDeps,
  state: CleanupState,
  rows: PrunedRows,
  figure: "logsDeleted" | "findingsDeleted" | "deliveriesDeleted",
  next: CleanupState["phase"],
): Promise<CleanupState> {
  // Measured from the cleanup's start, so every step (and a replay) prunes the same set.
  const before = new Date(Date.parse(state.startedAt) - state.logRetentionDays * 86_400_000).toISOString();
  const prunable = deps.prunable[rows];
  if (state[figure] === null || state[figure] === undefined) {
    const counted = { ...state, [figure]: await prunable.count(before) };
    return state.dryRun || counted[figure] === 0 ? { ...counted, phase: next } : counted;
  }
  const deleted = await prunable.delete(before, LOG_ROWS_PER_STEP);
  return deleted < LOG_ROWS_PER_STEP ? { ...state, phase: next } : state;
}

async function markNext(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  const backupId = state.markBackup ?? deps.store.nextKept(null);
  if (backupId === null) return { ...state, phase: "sweep", markBackup: null, markChunk: 0 };
  const index = await readIndex(deps.backup, deps.keyring, backupId);
  // Sweeping with an incomplete mark set could delete what a kept backup needs: stop instead.
  if (!index) throw new PermanentError(`cannot mark what backup ${backupId} needs: its manifest index is missing; nothing was deleted`);
  const manifest = openManifest(deps.backup, deps.keyring, locatorOf(index));
  const chunk = manifest.version === 1 ? await markLeaves(deps, manifest, state.markChunk) : await markTree(deps, manifest, state.markChunk);
  if (chunk < manifest.chunkCount) return { ...state, markBackup: backupId, markChunk: chunk };
  const next = deps.store.nextKept(backupId);
  return next === null ? { ...state, phase: "sweep", markBackup: null, markChunk: 0 } : { ...state, markBackup: next, markChunk: 0 };
}

const unmarkable = (manifest: ManifestReader, key: string, problem: string) =>
  new PermanentError(`cannot mark what backup ${manifest.backupId} needs: manifest chunk ${key} is ${problem}; nothing was deleted`);

/** Marks the blobs of up to CHUNKS_PER_STEP leaves from `seq`; returns the next leaf to mark. */
async function markLeaves(deps: CleanupDeps, manifest: ManifestReader, seq: number): Promise<number> {
  for (let read = 0; seq < manifest.chunkCount && read < CHUNKS_PER_STEP; seq++, read++) {
    const leaf = await manifest.leaf(seq);
    if (leaf.kind === "unreadable") throw unmarkable(manifest, leaf.key, leaf.problem);
    deps.store.mark(leaf.entries.map((e) => e.blob));
  }
  return seq;
}

/**
 * Marks a version 2 manifest from leaf `seq`: each chunk on the way down is marked for this
 * backup; a chunk already marked for another (an earlier, fully marked snapshot) is skipped with
 * every leaf under it, once the chunks above it on the path are marked. Chunks marked for this backup are its own ancestors met again after a
 * resumed step, so they are walked, not skipped. Returns the next leaf to mark.
 */
async function markTree(deps: CleanupDeps, manifest: ManifestReader, seq: number): Promise<number> {
  const { store } = deps;
  for (let read = 0; seq < manifest.chunkCount && read < CHUNKS_PER_STEP; read++) {
    const path = await manifest.path(seq);
    if (!Array.isArray(path)) throw unmarkable(manifest, path.key, path.problem);
    const sharedAt = path.findIndex((step) => {
      const by = store.chunkMarkedBy(chunkKey(step.ref.name));
      return by !== null && by !== manifest.backupId;
    });
    if (sharedAt >= 0) {
      // The chunks above the shared one are this snapshot's, and may be new (a page made only of
      // old children, after a folder's deletion): they are marked before the subtree is skipped.
      for (const step of path.slice(0, sharedAt)) store.markChunk(chunkKey(step.ref.name), manifest.backupId);
      const shared = path[sharedAt]!;
      seq = shared.firstSeq + shared.ref.leaves;
      continue;
    }
    for (const step of path) store.markChunk(chunkKey(step.ref.name), manifest.backupId);
    const leaf = await manifest.leaf(seq);
    if (leaf.kind === "unreadable") throw unmarkable(manifest, leaf.key, leaf.problem);
    store.mark(leaf.entries.map((e) => e.blob));
    seq++;
  }
  return seq;
}

/**
 * The areas the sweep goes through, in order: the backup bucket's prefixes, then the replica's
 * collected ones (its manifests are deleted with their backups, and not measured).
 */
function sweepAreas(deps: CleanupDeps): { bucket: Pick<R2Bucket, "list" | "delete">; prefix: string; replica: boolean }[] {
  const primary = SWEPT_PREFIXES.map((prefix) => ({ bucket: deps.backup, prefix, replica: false }));
  const replica = deps.replica;
  return replica ? [...primary, ...[...COLLECTED_PREFIXES].map((prefix) => ({ bucket: replica, prefix, replica: true }))] : primary;
}

async function sweepNext(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  const areas = sweepAreas(deps);
  const area = state.sweepArea ?? 0;
  const { bucket, prefix, replica } = areas[area]!;
  const from = `${replica ? "replica:" : ""}${prefix}${state.sweepCursor ?? ""}`;
  let page = deps.store.pendingSweep();
  if (page === null || page.from !== from) {
    const listed = await bucket.list({ prefix, limit: 1000, ...(state.sweepCursor ? { cursor: state.sweepCursor } : {}) });
    const youngSince = deps.now().getTime() - state.graceHours * 3_600_000;
    const doomed = COLLECTED_PREFIXES.has(prefix) ? listed.objects.filter((o) => !deps.store.isMarked(o.key) && o.uploaded.getTime() < youngSince) : [];
    page = {
      from,
      next: listed.truncated ? listed.cursor : null,
      scanned: listed.objects.length,
      bytes: listed.objects.reduce((sum, o) => sum + o.size, 0),
      doomed: doomed.map((o) => ({ key: o.key, size: o.size })),
    };
    deps.store.savePendingSweep(page);
  }
  if (!state.dryRun && page.doomed.length > 0) await bucket.delete(page.doomed.map((o) => o.key));
  const freed = page.doomed.reduce((sum, o) => sum + o.size, 0);
  const following = (next: CleanupState): CleanupState => {
    if (page.next !== null) return { ...next, sweepCursor: page.next };
    return area + 1 < areas.length ? { ...next, sweepArea: area + 1, sweepCursor: null } : ended({ ...next, sweepCursor: null }, "completed", null);
  };
  if (replica) {
    return following({
      ...state,
      replicaObjectsDeleted: (state.replicaObjectsDeleted ?? 0) + page.doomed.length,
      replicaBytesFreed: (state.replicaBytesFreed ?? 0) + freed,
    });
  }
  // A dry run deletes nothing, so the store keeps everything it listed.
  const kept = { objects: page.scanned - (state.dryRun ? 0 : page.doomed.length), bytes: (page.bytes ?? NaN) - (state.dryRun ? 0 : freed) };
  const measured: CleanupState =
    state.storeBytes === undefined || page.bytes === undefined
      ? { ...state, storeBytes: undefined, storeObjects: undefined }
      : { ...state, storeBytes: state.storeBytes + kept.bytes, storeObjects: (state.storeObjects ?? 0) + kept.objects };
  const next: CleanupState =
    prefix === CHUNK_PREFIX
      ? {
          ...measured,
          chunksDeleted: (state.chunksDeleted ?? 0) + page.doomed.length,
          chunkBytesFreed: (state.chunkBytesFreed ?? 0) + freed,
          bytesFreed: state.bytesFreed + freed,
        }
      : prefix === "blobs/"
        ? {
            ...measured,
            blobsScanned: state.blobsScanned + page.scanned,
            blobsDeleted: state.blobsDeleted + page.doomed.length,
            bytesFreed: state.bytesFreed + freed,
          }
        : measured;
  return following(next);
}

export function cleanupResult(state: CleanupState) {
  return {
    dryRun: state.dryRun,
    template: state.template ?? "default",
    retentionDays: state.policy.retentionDays,
    keep: state.policy.keep,
    graceHours: state.graceHours,
    backupsExpired: state.backupsExpired,
    logRetentionDays: state.logRetentionDays,
    logsDeleted: state.logsDeleted ?? 0,
    findingsDeleted: state.findingsDeleted ?? 0,
    deliveriesDeleted: state.deliveriesDeleted ?? 0,
    blobsScanned: state.blobsScanned,
    blobsDeleted: state.blobsDeleted,
    chunksDeleted: state.chunksDeleted ?? 0,
    chunkBytesFreed: state.chunkBytesFreed ?? 0,
    bytesFreed: state.bytesFreed,
    // What the backup bucket holds after this cleanup (null: begun before it was measured).
    storeBytes: state.storeBytes ?? null,
    storeObjects: state.storeObjects ?? null,
    replicaObjectsDeleted: state.replicaObjectsDeleted ?? 0,
    replicaBytesFreed: state.replicaBytesFreed ?? 0,
  };
}
