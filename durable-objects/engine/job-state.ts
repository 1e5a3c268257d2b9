/** What verify and restore jobs share: walking a backup's manifest chunk by chunk. */
import { FINDINGS_KEPT, type FindingList } from "../../schema";
import type { StepState } from "./lifecycle";
import type { FanOutFields } from "./leaf-fan-out";
import type { Keyring } from "./format/keyring";
import { openManifest, type ManifestReader } from "./format/manifest-reader";
import type { ChunkRef } from "./format/manifest-tree";

export type JobKind = "verify" | "restore" | "cleanup" | "replicate";

/** One entry of a job's result lists (a verify problem, a restore failure, a planned key). */
export interface Finding {
  list: FindingList;
  path: string;
  detail: string | null;
  expected?: string | null;
  actual?: string | null;
}

/** A job that walks a snapshot; a restore, verify or replication may fan out (leaf-fan-out.ts). */
export interface ManifestJobState extends StepState, FanOutFields {
  jobId: string;
  kind: JobKind;
  backupId: string;
  requestedBy: string;
  startedAt: string;
  /** Leaves in the backup's manifest (0 when its index is missing). */
  chunkCount: number;
  /** The root of a version 2 manifest (null: empty); absent for a version 1 manifest. */
  root?: ChunkRef | null;
  nextChunkSeq: number;
  /** Entries of chunk `nextChunkSeq` already handled (a step stops early when its bytes run out). */
  nextOffset: number;
  /** Listing entries handled so far. */
  filesProcessed: number;
  filesTotal: number;
  /** Findings of the current step, written to D1 with its progress, then cleared. */
  newFindings: Finding[];
  /** Findings written so far, per list (each list keeps at most FINDINGS_KEPT). */
  findingsStored: Record<FindingList, number>;
}

export const NO_FINDINGS: Pick<ManifestJobState, "newFindings" | "findingsStored"> = {
  newFindings: [],
  findingsStored: { problem: 0, failure: 0, planned: 0, expired: 0, held: 0 },
};

/** Stored counts with every list present (a job begun before a list existed has no count for it). */
export const storedCounts = (stored: Partial<Record<FindingList, number>>): Record<FindingList, number> => ({
  ...NO_FINDINGS.findingsStored,
  ...stored,
});

/** Adds findings to the step's list; only as many as the kept lists still have room for. */
export function withFindings<S extends ManifestJobState>(state: S, findings: readonly Finding[]): S {
  if (findings.length === 0) return state;
  const room = storedCounts(state.findingsStored);
  for (const finding of state.newFindings) room[finding.list] += 1;
  const kept = findings.filter((finding) => room[finding.list]++ < FINDINGS_KEPT);
  return { ...state, newFindings: [...state.newFindings, ...kept] };
}

/**
 * The part of a chunk one step handles: from `offset`, entries until their bytes (those `costs`
 * says are read) would exceed `budget`, but always at least one entry, so every step progresses.
 */
export function sliceWithinBudget<T extends { size: number }>(
  entries: readonly T[],
  offset: number,
  budget: number,
  costs: (entry: T) => boolean,
): { part: T[]; end: number } {
  let bytes = 0;
  let end = offset;
  while (end < entries.length) {
    const entry = entries[end]!;
    const cost = costs(entry) ? entry.size : 0;
    if (end > offset && bytes + cost > budget) break;
    bytes += cost;
    end++;
  }
  return { part: entries.slice(offset, end), end };
}

/** Where the next step starts after handling entries up to `end` of a chunk of `length` entries. */
export function advancePosition(
  state: ManifestJobState,
  end: number,
  length: number,
): Pick<ManifestJobState, "nextChunkSeq" | "nextOffset"> {
  return end >= length
    ? { nextChunkSeq: state.nextChunkSeq + 1, nextOffset: 0 }
    : { nextChunkSeq: state.nextChunkSeq, nextOffset: end };
}

/** The manifest a job walks, as its state locates it. */
export function manifestOf(
  bucket: Pick<R2Bucket, "get">,
  keyring: Keyring | null,
  state: Pick<ManifestJobState, "backupId" | "chunkCount" | "root">,
): ManifestReader {
  const { backupId, chunkCount, root } = state;
  return openManifest(bucket, keyring, root === undefined ? { backupId, chunkCount } : { backupId, chunkCount, root });
}
