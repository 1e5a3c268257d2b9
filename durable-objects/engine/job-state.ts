/** What verify and restore jobs share: walking a backup's manifest chunk by chunk. */
import type { StepState } from "../step-job";

export type JobKind = "verify" | "restore";

export interface ManifestJobState extends StepState {
  jobId: string;
  kind: JobKind;
  backupId: string;
  requestedBy: string;
  startedAt: string;
  /** Chunks in the backup's manifest (0 when its index is missing). */
  chunkCount: number;
  nextChunkSeq: number;
  /** Entries of chunk `nextChunkSeq` already handled (a step stops early when its bytes run out). */
  nextOffset: number;
  /** Listing entries handled so far. */
  filesProcessed: number;
  filesTotal: number;
  status: "in_progress" | "completed" | "failed";
}

/** Keeps the first `limit` items of a growing list (problems, planned keys). */
export function appendCapped<T>(list: readonly T[], items: readonly T[], limit = 1000): T[] {
  return list.length >= limit ? [...list] : [...list, ...items.slice(0, limit - list.length)];
}

/**
 * The part of a chunk one step handles: from `offset`, entries until their bytes (those `costs`
 * says are read) would exceed `budget`, but always at least one entry, so every step progresses.
 */
export function sliceWithinBudget<T extends { size: number }>(entries: readonly T[], offset: number, budget: number, costs: (entry: T) => boolean): { part: T[]; end: number } {
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
export function advancePosition(state: ManifestJobState, end: number, length: number): Pick<ManifestJobState, "nextChunkSeq" | "nextOffset"> {
  return end >= length ? { nextChunkSeq: state.nextChunkSeq + 1, nextOffset: 0 } : { nextChunkSeq: state.nextChunkSeq, nextOffset: end };
}
