/**
 * Replicating a completed backup into the replica bucket, one manifest leaf per step (at most a
 * step's byte budget of blobs): the chunks on the way from the manifest's root to the leaf, then
 * the blobs its entries name, each only if the replica lacks it. The backup's manifest index is
 * copied last, as in the primary, so a replica index means everything before it was attempted.
 *
 * What cannot be copied (missing from the primary, or damaged there) is a problem, recorded by
 * path; the job goes on and the backup's replica is reported `incomplete`. A failed read or write
 * is thrown and retried with the step.
 */
import { mapWithConcurrency } from "../concurrency";
import type { Keyring } from "../format/keyring";
import { manifestIndexKey, type ManifestEntry } from "../format/manifest";
import type { PathStep, Unreadable } from "../format/manifest-reader";
import { chunkKey } from "../format/manifest-tree";
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
}

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
  const seq = state.nextChunkSeq;
  const manifest = manifestOf(deps.primary, deps.keyring, state);
  const copied: Copied[] = [];
  if (state.nextOffset === 0 && manifest.version === 2) {
    const path = await manifest.path(seq);
    if (!Array.isArray(path)) return skipUnreadable(state, path, []);
    copied.push(...(await copyChunks(deps, path)));
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

async function copyChunks(deps: ReplicateDeps, path: PathStep[]): Promise<Copied[]> {
  const copied: Copied[] = [];
  for (const { ref } of path) {
    if (deps.replicatedChunks.has(ref.name)) continue;
    const outcome = await copyIfAbsent(deps, chunkKey(ref.name));
    copied.push({ key: chunkKey(ref.name), outcome });
    // Bounded: a walk in key order revisits only the pages on its current path.
    if (deps.replicatedChunks.size >= 10_000) deps.replicatedChunks.clear();
    if (outcome.kind === "present" || outcome.kind === "copied") deps.replicatedChunks.add(ref.name);
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
    "jobId" | "backupId" | "bucketName" | "requestedBy" | "startedAt" | "chunkCount" | "root" | "filesTotal"
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
