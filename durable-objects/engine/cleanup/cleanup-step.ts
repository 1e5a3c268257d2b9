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
 *   mark    every blob named by a kept snapshot goes into the job's SQLite mark set; a kept
 *           backup whose manifest cannot be read fails the cleanup before anything is swept;
 *   sweep   the blob store is listed a page per step; a blob neither marked nor younger than
 *           the grace period is deleted (the grace outlasts any backup that may have stored a
 *           blob it has not recorded yet: a crashed one, whose blobs are then collected).
 *
 * A dry run plans, counts and lists exactly what a real run would, and writes nothing. Every
 * step is safe to replay: each write is idempotent and counters advance only with the position
 * saved after the step.
 */
import { PermanentError } from "../errors";
import type { Keyring } from "../format/keyring";
import { readChunk, readIndex } from "../format/manifest";
import { withFindings, type Finding, type ManifestJobState } from "../job-state";
import { ended } from "../lifecycle";
import { planRetention, type BackupForRetention, type RetentionPolicy } from "./keep-policy";

export interface CleanupState extends ManifestJobState {
  kind: "cleanup";
  bucketName: string;
  dryRun: boolean;
  policy: RetentionPolicy;
  graceHours: number;
  phase: "plan" | "expire" | "logs" | "mark" | "sweep";
  logRetentionDays: number;
  /** Log rows to prune, counted once when the phase starts (null before). */
  logsDeleted: number | null;
  /** The expired backup being handled, or the last one done. */
  expireAfter: string | null;
  /** Kept backups are marked in id order: the one being read (null: the first) and its next chunk. */
  markBackup: string | null;
  markChunk: number;
  sweepCursor: string | null;
  backupsExpired: number;
  blobsScanned: number;
  blobsDeleted: number;
  bytesFreed: number;
}

/** The job's own storage, as the step needs it (SQLite in the object). */
export interface CleanupStore {
  savePlan(expire: readonly string[], keep: readonly string[]): void;
  nextExpired(after: string | null): string | null;
  nextKept(after: string | null): string | null;
  mark(blobs: readonly string[]): void;
  isMarked(blob: string): boolean;
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
  doomed: { key: string; size: number }[];
}

export interface CleanupDeps {
  backup: Pick<R2Bucket, "get" | "list" | "delete">;
  keyring: Keyring | null;
  store: CleanupStore;
  /** The bucket's finished backups, and the ids running jobs read. */
  history(): Promise<{ backups: BackupForRetention[]; inUse: Set<string> }>;
  /** Marks a backup expired in D1 with its log line (idempotent). */
  expireRecord(backupId: string): Promise<void>;
  /** Counts the log rows of backups that expired before `expiredBefore`. */
  countExpiredLogs(expiredBefore: string): Promise<number>;
  /** Deletes up to `limit` of those rows; returns how many it deleted. */
  deleteExpiredLogs(expiredBefore: string, limit: number): Promise<number>;
  /** Deletes up to `limit` file rows of a backup; returns how many it deleted. */
  deleteFileRows(backupId: string, limit: number): Promise<number>;
  now(): Date;
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
      return pruneLogs(deps, state);
    case "mark":
      return markNext(deps, state);
    case "sweep":
      return sweepNext(deps, state);
  }
}

async function plan(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  const { backups, inUse } = await deps.history();
  const retention = planRetention(backups, state.policy, deps.now(), inUse);
  const withSnapshot = new Set(backups.filter((b) => b.status === "completed" || b.status === "partial").map((b) => b.id));
  deps.store.savePlan(
    retention.expired,
    [...retention.kept.keys()].filter((id) => withSnapshot.has(id)),
  );
  return { ...state, phase: "expire", filesTotal: backups.length };
}

async function expireNext(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  const id = deps.store.nextExpired(state.expireAfter);
  if (id === null) return { ...state, phase: "logs" };
  if (!state.dryRun) {
    await deps.expireRecord(id);
    if ((await deps.deleteFileRows(id, FILE_ROWS_PER_STEP)) === FILE_ROWS_PER_STEP) return state; // more next step
    if (!(await deleteManifest(deps, id))) return state;
  }
  const finding: Finding = { list: "expired", path: id, detail: null };
  return withFindings({ ...state, expireAfter: id, backupsExpired: state.backupsExpired + 1, filesProcessed: state.filesProcessed + 1 }, [finding]);
}

/** Deletes a backup's manifest objects, a bounded number of pages a step; true when none is left. */
async function deleteManifest(deps: CleanupDeps, backupId: string): Promise<boolean> {
  for (let page = 0; page < MANIFEST_PAGES_PER_STEP; page++) {
    const listed = await deps.backup.list({ prefix: `manifests/${backupId}/`, limit: 1000 });
    if (listed.objects.length === 0) return true;
    await deps.backup.delete(listed.objects.map((o) => o.key));
    if (!listed.truncated) return true;
  }
  return false;
}

async function pruneLogs(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  // Measured from the cleanup's start, so every step (and a replay) prunes the same set.
  const expiredBefore = new Date(Date.parse(state.startedAt) - state.logRetentionDays * 86_400_000).toISOString();
  if (state.logsDeleted === null) {
    const counted = { ...state, logsDeleted: await deps.countExpiredLogs(expiredBefore) };
    return state.dryRun || counted.logsDeleted === 0 ? { ...counted, phase: "mark" } : counted;
  }
  const deleted = await deps.deleteExpiredLogs(expiredBefore, LOG_ROWS_PER_STEP);
  return deleted < LOG_ROWS_PER_STEP ? { ...state, phase: "mark" } : state;
}

async function markNext(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  const backupId = state.markBackup ?? deps.store.nextKept(null);
  if (backupId === null) return { ...state, phase: "sweep" };
  const index = await readIndex(deps.backup, deps.keyring, backupId);
  // Sweeping with an incomplete mark set could delete what a kept backup needs: stop instead.
  if (!index) throw new PermanentError(`cannot mark what backup ${backupId} needs: its manifest index is missing; nothing was deleted from the blob store`);
  let chunk = state.markChunk;
  for (let read = 0; chunk < index.chunkCount && read < CHUNKS_PER_STEP; chunk++, read++) {
    const entries = await readChunk(deps.backup, deps.keyring, backupId, chunk);
    if (!entries)
      throw new PermanentError(`cannot mark what backup ${backupId} needs: manifest chunk ${chunk} is missing; nothing was deleted from the blob store`);
    deps.store.mark(entries.entries.map((e) => e.blob));
  }
  if (chunk < index.chunkCount) return { ...state, markBackup: backupId, markChunk: chunk };
  const next = deps.store.nextKept(backupId);
  return next === null ? { ...state, phase: "sweep", markBackup: null, markChunk: 0 } : { ...state, markBackup: next, markChunk: 0 };
}

async function sweepNext(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  const from = state.sweepCursor ?? "";
  let page = deps.store.pendingSweep();
  if (page === null || page.from !== from) {
    const listed = await deps.backup.list({ prefix: "blobs/", limit: 1000, ...(state.sweepCursor ? { cursor: state.sweepCursor } : {}) });
    const youngSince = deps.now().getTime() - state.graceHours * 3_600_000;
    const doomed = listed.objects.filter((o) => !deps.store.isMarked(o.key) && o.uploaded.getTime() < youngSince);
    page = { from, next: listed.truncated ? listed.cursor : null, scanned: listed.objects.length, doomed: doomed.map((o) => ({ key: o.key, size: o.size })) };
    deps.store.savePendingSweep(page);
  }
  if (!state.dryRun && page.doomed.length > 0) await deps.backup.delete(page.doomed.map((o) => o.key));
  const next: CleanupState = {
    ...state,
    sweepCursor: page.next,
    blobsScanned: state.blobsScanned + page.scanned,
    blobsDeleted: state.blobsDeleted + page.doomed.length,
    bytesFreed: state.bytesFreed + page.doomed.reduce((sum, o) => sum + o.size, 0),
  };
  return page.next === null ? ended(next, "completed", null) : next;
}

export function cleanupResult(state: CleanupState) {
  return {
    dryRun: state.dryRun,
    retentionDays: state.policy.retentionDays,
    keep: state.policy.keep,
    graceHours: state.graceHours,
    backupsExpired: state.backupsExpired,
    logRetentionDays: state.logRetentionDays,
    logsDeleted: state.logsDeleted ?? 0,
    blobsScanned: state.blobsScanned,
    blobsDeleted: state.blobsDeleted,
    bytesFreed: state.bytesFreed,
  };
}
