/**
 * Replicating a completed backup into the replica bucket, one manifest leaf per step (at most a
 * step's byte budget of blobs): the chunks on the way from the manifest's root to the leaf, then
 * the blobs its entries name, each only if the replica lacks it. The backup's manifest index is
 * copied last, as in the primary, so a replica index means everything before it was attempted.
 *
 * When the backup's parent is wholly in the replica (its replication ended complete), only what
 * differs from it is copied: the diff of the two trees (format/tree-diff.ts) reads exactly the
 * chunks of the backup's tree the parent does not share, and names the keys whose content is new;
 * those chunks and blobs are copied, a few per changed key, whatever the snapshot's size. If the
 * diff cannot be read (a chunk missing or damaged in the primary), the job walks the snapshot
 * whole instead, which records what is wrong by path.
 *
 * What cannot be copied (missing from the primary, or damaged there) is a problem, recorded by
 * path; the job goes on and the backup's replica is reported `incomplete`. A failed read or write
 * is thrown and retried with the step.
 */
import { mapWithConcurrency } from "../concurrency";
import { isBlobIntegrityError, PermanentError } from "../errors";
import { chunkNodes } from "../format/chunk-store";
import type { Keyring } from "../format/keyring";
import { manifestIndexKey, type ManifestEntry } from "../format/manifest";
import type { Unreadable } from "../format/manifest-reader";
import { chunkKey, type ChunkRef } from "../format/manifest-tree";
import { diffTrees, sameObject, type TreeNodes } from "../format/tree-diff";
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
import { summedCounts } from "../leaf-fan-out";
import { copyIfAbsent, type CopyDeps, type CopyOutcome } from "./object-copy";

export interface ReplicateState extends ManifestJobState {
  kind: "replicate";
  bucketName: string;
  objectsCopied: number;
  bytesCopied: number;
  /** Objects the replica already had (shared with earlier backups). */
  objectsPresent: number;
  problemCount: number;
  /** What this step found already in the replica (its presence checks, for the collection ledger). */
  presentInReplica?: string[];
  /**
   * Set when the parent's replica is complete: only the changes since it are copied, from the
   * key after `after` on. Absent or null: the snapshot is walked whole, leaf by leaf.
   */
  since?: ReplicaDelta | null;
}

export interface ReplicaDelta {
  parentId: string;
  parentRoot: ChunkRef | null;
  /** The last change copied (null: none yet). */
  after: string | null;
}

/** Changes one step copies at most (and at most a step's byte budget of their new content). */
export const CHANGES_PER_STEP = 200;
/**
 * Chunks one step's diff reads at most. Past it the trees share little (after a key rotation
 * every chunk is renamed; a bucket rewritten with the same bytes changes every leaf and no
 * object): the job walks the snapshot instead, in bounded steps.
 */
export const DIFF_READS_PER_STEP = 2_000;

class DiffTooWide extends Error {}

/**
 * What the replica needs for an entry: its blob. The same content under another blob name (a key
 * rotation renames blobs) is a change here, unlike in the API's diff.
 */
const sameBlob = (a: ManifestEntry, b: ManifestEntry) => sameObject(a, b) && a.blob === b.blob;

export interface ReplicateDeps extends CopyDeps {
  keyring: Keyring | null;
  concurrency: number;
  byteBudget: number;
  /** Chunk names known to be in the replica, kept while the job's object stays in memory. */
  replicatedChunks: Set<string>;
  /** Whether the backup still has its snapshot (a cleanup may expire it while it is copied). */
  backupKept(): Promise<boolean>;
}

type Copied = { key: string; outcome: CopyOutcome };

export async function runReplicateStep(deps: ReplicateDeps, state: ReplicateState): Promise<ReplicateState> {
  if (state.nextChunkSeq >= state.chunkCount) return copyIndex(deps, state);
  if (state.since) return copyChanges(deps, state, state.since);
  const seq = state.nextChunkSeq;
  const manifest = manifestOf(deps.primary, deps.keyring, state);
  const copied: Copied[] = [];
  if (state.nextOffset === 0 && manifest.version === 2) {
    const path = await manifest.path(seq);
    if (!Array.isArray(path)) return skipUnreadable(state, path, []);
    copied.push(
      ...(await copyChunks(
        deps,
        path.map((step) => step.ref.name),
      )),
    );
  }
  const leaf = await manifest.leaf(seq);
  if (leaf.kind === "unreadable") return skipUnreadable(state, leaf, copied);
  // A version 1 leaf is an object of its own, named by the backup rather than by its content.
  if (state.nextOffset === 0 && manifest.version === 1)
    copied.push({ key: leaf.key, outcome: await copyIfAbsent(deps, leaf.key) });

  const { part, end } = sliceWithinBudget(leaf.entries, state.nextOffset, deps.byteBudget, () => true);
  const blobs = uniqueBlobs(part);
  copied.push(
    ...(await mapWithConcurrency(blobs, deps.concurrency, async (e) => ({
      key: e.blob,
      outcome: await copyIfAbsent(deps, e.blob, e.sha256),
    }))),
  );
  return tally(
    {
      ...state,
      ...advancePosition(state, end, leaf.entries.length),
      filesProcessed: state.filesProcessed + part.length,
    },
    copied,
  );
}

/** A manifest chunk the primary cannot give: a problem, and the leaves under it are skipped. */
function skipUnreadable(state: ReplicateState, unreadable: Unreadable, copied: Copied[]): ReplicateState {
  const outcome: CopyOutcome =
    unreadable.problem === "missing"
      ? { kind: "missing" }
      : { kind: "damaged", detail: unreadable.detail ?? "unreadable" };
  return tally({ ...state, nextChunkSeq: unreadable.nextSeq, nextOffset: 0 }, [
    ...copied,
    { key: unreadable.key, outcome },
  ]);
}

/**
 * One step of a replication by changes: the next page of the diff against the parent, cut to the
 * step's byte budget; every chunk the diff read (the backup's own on the changed paths, and the
 * parent's, already there) and the new content of every added or modified key.
 */
async function copyChanges(deps: ReplicateDeps, state: ReplicateState, since: ReplicaDelta): Promise<ReplicateState> {
  const read: string[] = [];
  const nodes = recordingReads(chunkNodes(deps.primary, deps.keyring, `backup ${state.backupId}`), read);
  let page;
  try {
    page = await diffTrees(nodes, since.parentRoot, state.root ?? null, {
      after: since.after,
      limit: CHANGES_PER_STEP,
      same: sameBlob,
    });
  } catch (error) {
    // Unreadable (the walk records what, by path) or too wide to read in a step: walked instead.
    if (!(error instanceof DiffTooWide) && !(error instanceof PermanentError) && !isBlobIntegrityError(error))
      throw error;
    return { ...state, since: null, nextChunkSeq: 0, nextOffset: 0, filesProcessed: 0 };
  }
  let bytes = 0;
  let taken = 0;
  for (; taken < page.changes.length; taken++) {
    const size = page.changes[taken]!.after?.size ?? 0;
    if (taken > 0 && bytes + size > deps.byteBudget) break;
    bytes += size;
  }
  const part = page.changes.slice(0, taken);
  const copied = await copyChunks(deps, read);
  const blobs = uniqueBlobs(part.flatMap((change) => (change.after ? [change.after] : [])));
  copied.push(
    ...(await mapWithConcurrency(blobs, deps.concurrency, async (e) => ({
      key: e.blob,
      outcome: await copyIfAbsent(deps, e.blob, e.sha256),
    }))),
  );
  const after = taken < page.changes.length ? part.at(-1)!.key : page.after;
  const next: ReplicateState =
    after === null
      ? { ...state, since: { ...since, after: part.at(-1)?.key ?? since.after }, nextChunkSeq: state.chunkCount }
      : { ...state, since: { ...since, after } };
  return tally({ ...next, filesProcessed: state.filesProcessed + part.length }, copied);
}

/** The chunk reader, noting the name of every chunk read, and refusing past DIFF_READS_PER_STEP. */
function recordingReads(nodes: TreeNodes, read: string[]): TreeNodes {
  const note = (ref: ChunkRef) => {
    if (read.length >= DIFF_READS_PER_STEP) throw new DiffTooWide();
    read.push(ref.name);
  };
  return {
    children: (ref) => (note(ref), nodes.children(ref)),
    entries: (ref) => (note(ref), nodes.entries(ref)),
  };
}

async function copyChunks(deps: ReplicateDeps, names: readonly string[]): Promise<Copied[]> {
  const copied: Copied[] = [];
  for (const name of names) {
    if (deps.replicatedChunks.has(name)) continue;
    const outcome = await copyIfAbsent(deps, chunkKey(name));
    copied.push({ key: chunkKey(name), outcome });
    // Bounded: a walk in key order revisits only the pages on its current path.
    if (deps.replicatedChunks.size >= 10_000) deps.replicatedChunks.clear();
    if (outcome.kind === "present" || outcome.kind === "copied") deps.replicatedChunks.add(name);
  }
  return copied;
}

/** Entries that name the same content share a blob: it is copied once. */
function uniqueBlobs(entries: readonly ManifestEntry[]): ManifestEntry[] {
  const seen = new Map<string, ManifestEntry>();
  for (const entry of entries) if (!seen.has(entry.blob)) seen.set(entry.blob, entry);
  return [...seen.values()];
}

async function copyIndex(deps: ReplicateDeps, state: ReplicateState): Promise<ReplicateState> {
  if (!(await deps.backupKept()))
    return ended(state, "cancelled", `backup ${state.backupId} was expired while it was being replicated`);
  const key = manifestIndexKey(state.backupId);
  return ended(tally(state, [{ key, outcome: await copyIfAbsent(deps, key) }]), "completed", null);
}

function tally(state: ReplicateState, copied: readonly Copied[]): ReplicateState {
  const problems: Finding[] = [];
  let next: ReplicateState = {
    ...state,
    presentInReplica: copied.filter((c) => c.outcome.kind === "present").map((c) => c.key),
  };
  for (const { key, outcome } of copied) {
    if (outcome.kind === "copied")
      next = { ...next, objectsCopied: next.objectsCopied + 1, bytesCopied: next.bytesCopied + outcome.bytes };
    if (outcome.kind === "present") next = { ...next, objectsPresent: next.objectsPresent + 1 };
    if (outcome.kind === "missing")
      problems.push({ list: "problem", path: key, detail: "missing_in_primary", expected: "present", actual: null });
    if (outcome.kind === "damaged")
      problems.push({
        list: "problem",
        path: key,
        detail: "damaged_in_primary",
        expected: "intact",
        actual: outcome.detail,
      });
  }
  return withFindings({ ...next, problemCount: next.problemCount + problems.length }, problems);
}

/** What a replication counts, summed over its shards when a walk of the whole snapshot fans out (leaf-fan-out.ts). */
export const replicateCounting = summedCounts<
  ReplicateState,
  "filesProcessed" | "objectsCopied" | "bytesCopied" | "objectsPresent" | "problemCount"
>(["filesProcessed", "objectsCopied", "bytesCopied", "objectsPresent", "problemCount"], "problemCount");

export function replicateResult(state: ReplicateState) {
  return {
    complete: state.outcome === "completed" && state.problemCount === 0,
    objectsCopied: state.objectsCopied,
    bytesCopied: state.bytesCopied,
    objectsPresent: state.objectsPresent,
    problemCount: state.problemCount,
  };
}

export function initialReplicateState(
  request: Pick<
    ReplicateState,
    "jobId" | "backupId" | "bucketName" | "requestedBy" | "startedAt" | "chunkCount" | "root" | "filesTotal" | "since"
  >,
): ReplicateState {
  return {
    ...request,
    kind: "replicate",
    nextChunkSeq: 0,
    nextOffset: 0,
    filesProcessed: 0,
    objectsCopied: 0,
    bytesCopied: 0,
    objectsPresent: 0,
    problemCount: 0,
    ...NO_FINDINGS,
    ...RUNNING,
  };
}
