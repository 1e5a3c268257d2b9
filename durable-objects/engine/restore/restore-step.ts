/**
 * Restoring a backup into the source bucket, one manifest chunk per step. The manifest is the
 * complete bucket state at backup time, so restoring it reproduces that point in time, whether
 * the backup was full or incremental: objects deleted before it are simply not in it.
 *
 * Each object is written with its HTTP and custom metadata and R2's SHA-256 check. Without
 * `overwriteExisting` the put is conditional (only if absent), so an object that exists, even one
 * written while the restore runs, is never replaced; it is counted as skipped. A replayed step
 * recognises its own earlier writes (same SHA-256, written after the job started) as restored.
 */
import type { RestoreTarget } from "../buckets";
import { isBlobIntegrityError } from "../errors";
import { writeContent } from "../known-length-feed";
import { openBlobContent } from "../format/blob-reader";
import { mapWithConcurrency } from "../concurrency";
import { sha256OfR2Body, toHex } from "../format/hashing";
import {
  advancePosition,
  manifestOf,
  NO_FINDINGS,
  sliceWithinBudget,
  withFindings,
  type Finding,
  type ManifestJobState,
} from "../job-state";
import { ended, RUNNING } from "../lifecycle";
import type { Keyring } from "../format/keyring";
import { advanceLargeRestore, startLargeRestore, type LargeRestoreState } from "./large-restore";
import { toR2HttpMetadata, type ManifestEntry, type ManifestIndex } from "../format/manifest";
import { requireLeaf, type ManifestReader } from "../format/manifest-reader";
import { withReplicaFallback } from "../replica/fallback-reader";
import { MAX_KEY_BYTES, utf8Length } from "../object-keys";
import { entryMatches, pathMatches, type RestoreFilter } from "./restore-filter";
import { entriesWalked, summedCounts } from "../leaf-fan-out";

/** R2's largest single put (4.995 GiB); larger objects would need a multipart restore. */
export const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3 - 5 * 1024 ** 2;

export interface RestoreOptions {
  overwriteExisting: boolean;
  verifyAfterRestore: boolean;
  dryRun: boolean;
  targetPrefix: string;
  filter: RestoreFilter;
}

export interface RestoreState extends ManifestJobState {
  kind: "restore";
  bucketName: string;
  /** The binding of the bucket restored into (absent: R2_BUCKET). */
  sourceBinding?: string;
  options: RestoreOptions;
  /** Whether this job holds the bucket's lease (a dry run writes nothing and takes none). */
  holdsLease: boolean;
  filesRestored: number;
  filesSkipped: number;
  filesFailed: number;
  bytesRestored: number;
  verified: number;
  verifyFailures: number;
  /** Where counting a partial backup's unreadable objects resumes (after this path). */
  unreadableAfter: string | null;
  /** The object above the multipart threshold being restored over several steps, if any. */
  large: LargeRestoreState | null;
  /** Where the walk through the manifest resumes once it is done. */
  positionAfterLarge: Pick<ManifestJobState, "nextChunkSeq" | "nextOffset"> | null;
  /** Objects restored from the replica because the primary's copy was missing or damaged (absent: 0). */
  filesFromReplica?: number;
  firstFromReplica?: string | null;
  /** Manifest leaves read from the replica because the primary's chunk was missing or damaged (absent: 0). */
  chunksFromReplica?: number;
}

/** What a restore counts, summed over its shards when it fans out (leaf-fan-out.ts). */
const RESTORE_COUNTS = [
  "filesProcessed",
  "filesRestored",
  "filesSkipped",
  "filesFailed",
  "bytesRestored",
  "verified",
  "verifyFailures",
  "filesFromReplica",
  "chunksFromReplica",
] as const;
export const restoreCounting = summedCounts<RestoreState, (typeof RESTORE_COUNTS)[number]>(
  RESTORE_COUNTS,
  "filesFailed",
);

export interface RestoreDeps {
  source: RestoreTarget;
  backup: Pick<R2Bucket, "get" | "head">;
  /** The replica (R2_REPLICA_BUCKET), read when the backup bucket's copy of a blob is missing or damaged. */
  replica: Pick<R2Bucket, "get" | "head"> | null;
  keyring: Keyring | null;
  concurrency: number;
  /** Content bytes one step restores at most (at least one object). */
  byteBudget: number;
  /** Objects above this size are restored part by part over several steps. */
  multipartThreshold: number;
  partSize: number;
  /** A large object up to this size is restored within one step, hashed natively (BACKUP_HASH_STEP_BYTES). */
  hashStepBytes: number;
  /** Saves the state in the middle of a step (a large object's finished parts). */
  save: (state: RestoreState) => Promise<void>;
  /**
   * Paths of the backup's objects that could not be read when it was taken (a partial backup),
   * in key order after `after`, at most `limit`: a page, so no step loads them all.
   */
  unreadableFiles: (after: string | null, limit: number) => Promise<string[]>;
}

type EntryOutcome =
  | { kind: "restored"; bytes: number; verified: boolean | null; verifyProblem: string | null; fromReplica?: boolean }
  | { kind: "skipped" }
  | { kind: "failed"; reason: string };

/** What reading one copy of a blob gave: an outcome, or a copy that is missing or damaged. */
type CopyAttempt = EntryOutcome | { kind: "bad_copy"; reason: string };

/** The manifest a restore reads: the backup bucket's, with the replica's behind it when one is bound. */
export function restoredManifest(
  deps: Pick<RestoreDeps, "backup" | "replica" | "keyring">,
  state: Pick<RestoreState, "backupId" | "chunkCount" | "root">,
): ManifestReader {
  return withReplicaFallback(
    manifestOf(deps.backup, deps.keyring, state),
    deps.replica ? manifestOf(deps.replica, deps.keyring, state) : null,
  );
}

export function targetKey(options: RestoreOptions, key: string): string {
  return options.targetPrefix + key;
}

export async function runRestoreStep(deps: RestoreDeps, initial: RestoreState): Promise<RestoreState> {
  let state = initial;
  if (state.large) return advanceLarge(deps, state);
  if (state.nextChunkSeq >= state.chunkCount) return finishRestore(deps, state);
  const seq = state.nextChunkSeq;
  const chunk = await requireLeaf(restoredManifest(deps, state), seq);
  // A shard whose run ends inside this leaf walks its entries up to that point only.
  const entries = entriesWalked(state, seq, chunk.entries);
  // Counted once per leaf (a leaf restored over several steps is read by each).
  if (chunk.fromReplica && state.nextOffset === 0)
    state = { ...state, chunksFromReplica: (state.chunksFromReplica ?? 0) + 1 };
  const matches = (entry: ManifestEntry) => entryMatches(state.options.filter, entry);
  const sliced = sliceWithinBudget(
    entries,
    state.nextOffset,
    deps.byteBudget,
    (entry) => !state.options.dryRun && matches(entry),
  );

  // An object above the multipart threshold is restored on its own, part by part over steps.
  const isLarge = (entry: ManifestEntry) =>
    !state.options.dryRun &&
    matches(entry) &&
    entry.size > deps.multipartThreshold &&
    utf8Length(targetKey(state.options, entry.key)) <= MAX_KEY_BYTES;
  const largeAt = sliced.part.findIndex(isLarge);
  if (largeAt === 0) {
    const entry = sliced.part[0]!;
    return {
      ...state,
      large: startLargeRestore(entry, targetKey(state.options, entry.key)),
      positionAfterLarge: advancePosition(state, state.nextOffset + 1, entries.length),
    };
  }
  const part = largeAt > 0 ? sliced.part.slice(0, largeAt) : sliced.part;
  const end = state.nextOffset + part.length;

  const selected = part.filter(matches);
  const outcomes = await mapWithConcurrency(selected, deps.concurrency, (entry) => restoreEntry(deps, state, entry));
  const tally = new RestoreTally({
    ...state,
    ...advancePosition(state, end, entries.length),
    filesProcessed: state.filesProcessed + part.length,
  });
  outcomes.forEach((outcome, i) => tally.add(selected[i]!, outcome));
  return tally.result();
}

/** Adds outcomes to a restore's counters, failures and (dry run) planned keys. */
class RestoreTally {
  private readonly findings: Finding[] = [];

  constructor(private next: RestoreState) {}

  add(entry: ManifestEntry, outcome: EntryOutcome): void {
    const next = this.next;
    if (outcome.kind === "skipped") this.next = { ...next, filesSkipped: next.filesSkipped + 1 };
    if (outcome.kind === "failed") {
      this.next = { ...next, filesFailed: next.filesFailed + 1 };
      this.findings.push({ list: "failure", path: entry.key, detail: outcome.reason });
    }
    if (outcome.kind === "restored") {
      if (next.options.dryRun)
        this.findings.push({ list: "planned", path: targetKey(next.options, entry.key), detail: null });
      this.next = { ...next, filesRestored: next.filesRestored + 1, bytesRestored: next.bytesRestored + outcome.bytes };
      if (outcome.fromReplica) {
        this.next = {
          ...this.next,
          filesFromReplica: (next.filesFromReplica ?? 0) + 1,
          firstFromReplica: next.firstFromReplica ?? entry.key,
        };
      }
      if (outcome.verified === true) this.next = { ...this.next, verified: this.next.verified + 1 };
      if (outcome.verified === false) {
        this.next = { ...this.next, verifyFailures: this.next.verifyFailures + 1 };
        this.findings.push({
          list: "failure",
          path: entry.key,
          detail: `verification after restore failed: ${outcome.verifyProblem}`,
        });
      }
    }
  }

  result(): RestoreState {
    return withFindings(this.next, this.findings);
  }
}

async function advanceLarge(deps: RestoreDeps, state: RestoreState): Promise<RestoreState> {
  const large = state.large!;
  const fromReplica = large.copy === "replica";
  const advanced = await advanceLargeRestore(
    {
      source: deps.source,
      backup: fromReplica && deps.replica ? deps.replica : deps.backup,
      keyring: deps.keyring,
      partSize: deps.partSize,
      hashStepBytes: deps.hashStepBytes,
      overwriteExisting: state.options.overwriteExisting,
      startedAt: state.startedAt,
      save: (next) => deps.save({ ...state, large: next }),
    },
    large,
    deps.byteBudget,
  );
  if ("state" in advanced) return { ...state, large: advanced.state };
  const { entry } = large;
  const result = advanced.outcome;
  // The primary's copy is missing or damaged: start the object again from the replica's.
  if (result.kind === "failed" && !fromReplica && deps.replica) {
    return {
      ...state,
      large: { ...startLargeRestore(entry, large.target), copy: "replica", primaryProblem: result.reason },
    };
  }
  const outcome: EntryOutcome =
    result.kind === "not_rangeable"
      ? await restoreEntry(deps, state, entry)
      : result.kind === "restored"
        ? {
            kind: "restored",
            bytes: entry.size,
            verified: state.options.verifyAfterRestore ? result.verified : null,
            verifyProblem: result.verified ? null : "the restored object has the wrong size",
            fromReplica,
          }
        : result.kind === "failed" && fromReplica
          ? { kind: "failed", reason: `${large.primaryProblem}; the replica's copy too: ${result.reason}` }
          : result;
  const tally = new RestoreTally({
    ...state,
    ...state.positionAfterLarge!,
    large: null,
    positionAfterLarge: null,
    filesProcessed: state.filesProcessed + 1,
  });
  tally.add(entry, outcome);
  return tally.result();
}

async function restoreEntry(deps: RestoreDeps, state: RestoreState, entry: ManifestEntry): Promise<EntryOutcome> {
  const { options } = state;
  const target = targetKey(options, entry.key);
  const keyBytes = utf8Length(target);
  if (keyBytes > MAX_KEY_BYTES)
    return { kind: "failed", reason: `the restored key would be ${keyBytes} bytes long; R2 allows ${MAX_KEY_BYTES}` };
  if (entry.size > MAX_SINGLE_PUT_BYTES) {
    // Not yet supported: restoring one object over several steps (multipart). Said, not skipped silently.
    return {
      kind: "failed",
      reason: `objects over 4.995 GiB (${entry.size} bytes) cannot be restored by this version; recover it by hand as docs/storage-format.md describes`,
    };
  }

  if (options.dryRun) {
    if (!options.overwriteExisting && (await deps.source.head(target))) return { kind: "skipped" };
    return { kind: "restored", bytes: entry.size, verified: null, verifyProblem: null };
  }
  const existing = options.overwriteExisting ? null : await deps.source.head(target);
  if (existing) {
    return restoredEarlierByThisJob(state, existing, entry)
      ? restoredOutcome(deps, options, target, entry)
      : { kind: "skipped" };
  }

  const primary = await restoreFromCopy(deps, deps.backup, options, target, entry);
  if (primary.kind !== "bad_copy") return primary;
  if (!deps.replica) return { kind: "failed", reason: primary.reason };
  // Object by object: only this object is read from the replica.
  const replica = await restoreFromCopy(deps, deps.replica, options, target, entry);
  if (replica.kind === "bad_copy")
    return { kind: "failed", reason: `${primary.reason}; the replica's copy too: ${replica.reason}` };
  return replica.kind === "restored" ? { ...replica, fromReplica: true } : replica;
}

/** Writes `entry` from one copy of its blob (the primary's or the replica's). */
async function restoreFromCopy(
  deps: RestoreDeps,
  copy: Pick<R2Bucket, "get">,
  options: RestoreOptions,
  target: string,
  entry: ManifestEntry,
): Promise<CopyAttempt> {
  let content: Awaited<ReturnType<typeof openBlobContent>>;
  try {
    content = await openBlobContent(copy, entry.blob, deps.keyring, entry.size);
  } catch (error) {
    if (isBlobIntegrityError(error))
      return { kind: "bad_copy", reason: `the backup's copy is unreadable: ${error.message}` };
    throw error;
  }
  if (!content)
    return { kind: "bad_copy", reason: `the backup's copy (${entry.blob}) is missing from the backup store` };

  // A failed precondition (null) leaves the body unread: the feed stops then too. Both sides
  // settle before deciding, so neither failure goes unobserved.
  const { written: put, fed: piped } = await writeContent(
    content,
    entry.size,
    (body) =>
      deps.source.put(target, body, {
        httpMetadata: toR2HttpMetadata(entry.httpMetadata),
        customMetadata: entry.customMetadata,
        sha256: entry.sha256,
        ...(options.overwriteExisting ? {} : { onlyIf: { etagDoesNotMatch: "*" } }),
      }),
    (written) => written === null,
  );
  if (piped.status === "rejected" && isBlobIntegrityError(piped.reason))
    return { kind: "bad_copy", reason: `the backup's copy is unreadable: ${piped.reason.message}` };
  if (put.status === "rejected") {
    const message = put.reason instanceof Error ? put.reason.message : String(put.reason);
    if (/sha-?256|checksum|digest/i.test(message))
      return { kind: "bad_copy", reason: `the backup's copy does not match its checksum: ${message}` };
    throw put.reason;
  }
  // Written by someone else between our check and our put: never replaced.
  if (put.value === null) return { kind: "skipped" };
  if (piped.status === "rejected") throw piped.reason;
  return restoredOutcome(deps, options, target, entry);
}

/** A replayed step finds its own earlier write: same content, written after the job started. */
function restoredEarlierByThisJob(state: RestoreState, existing: R2Object, entry: ManifestEntry): boolean {
  if (!existing.checksums.sha256) return false;
  const sha256 = toHex(existing.checksums.sha256);
  return sha256 === entry.sha256 && existing.uploaded.getTime() >= Date.parse(state.startedAt);
}

async function restoredOutcome(
  deps: RestoreDeps,
  options: RestoreOptions,
  target: string,
  entry: ManifestEntry,
): Promise<EntryOutcome> {
  if (!options.verifyAfterRestore) return { kind: "restored", bytes: entry.size, verified: null, verifyProblem: null };
  const object = await deps.source.get(target);
  if (!object)
    return { kind: "restored", bytes: entry.size, verified: false, verifyProblem: "the restored object is gone" };
  const { sha256 } = await sha256OfR2Body(object.body);
  const size = object.size;
  const ok = sha256 === entry.sha256 && size === entry.size;
  return {
    kind: "restored",
    bytes: entry.size,
    verified: ok,
    verifyProblem: ok ? null : `expected ${entry.sha256} (${entry.size} bytes), read ${sha256} (${size} bytes)`,
  };
}

/** Rows of unreadable objects one step reads at most. */
export const UNREADABLE_PAGE = 500;

/**
 * Counts the objects a partial backup could not read (matching the filter) as failed, a page per
 * step, then ends the restore.
 */
async function finishRestore(deps: RestoreDeps, state: RestoreState): Promise<RestoreState> {
  if (state.options.dryRun) return ended(state, "completed", null);
  const page = await deps.unreadableFiles(state.unreadableAfter, UNREADABLE_PAGE);
  // Their last-modified time is unknown, so only the path filters apply to them.
  const failures: Finding[] = page
    .filter((path) => pathMatches(state.options.filter, path))
    .map((path) => ({
      list: "failure",
      path,
      detail: "not in the backup: it could not be read when the backup was taken",
    }));
  const next = withFindings(
    {
      ...state,
      filesFailed: state.filesFailed + failures.length,
      unreadableAfter: page.at(-1) ?? state.unreadableAfter,
    },
    failures,
  );
  return page.length < UNREADABLE_PAGE ? ended(next, "completed", null) : next;
}

/** A restore's first state, for a backup whose manifest index says how much there is. */
export function initialRestoreState(
  request: Pick<RestoreState, "jobId" | "backupId" | "bucketName" | "requestedBy" | "options" | "holdsLease">,
  index: Pick<ManifestIndex, "chunkCount" | "fileCount" | "root">,
  startedAt: string,
): RestoreState {
  return {
    ...request,
    kind: "restore",
    startedAt,
    chunkCount: index.chunkCount,
    root: index.root, // absent for a version 1 manifest
    nextChunkSeq: 0,
    nextOffset: 0,
    filesProcessed: 0,
    filesTotal: index.fileCount,
    filesRestored: 0,
    filesSkipped: 0,
    filesFailed: 0,
    bytesRestored: 0,
    verified: 0,
    verifyFailures: 0,
    unreadableAfter: null,
    large: null,
    positionAfterLarge: null,
    filesFromReplica: 0,
    firstFromReplica: null,
    chunksFromReplica: 0,
    ...NO_FINDINGS,
    ...RUNNING,
  };
}

export function restoreResult(state: RestoreState) {
  return {
    filesRestored: state.filesRestored,
    filesSkipped: state.filesSkipped,
    filesFailed: state.filesFailed,
    bytesRestored: state.bytesRestored,
    verified: state.verified,
    verifyFailures: state.verifyFailures,
    filesFromReplica: state.filesFromReplica ?? 0,
    chunksFromReplica: state.chunksFromReplica ?? 0,
    dryRun: state.options.dryRun,
  };
}
