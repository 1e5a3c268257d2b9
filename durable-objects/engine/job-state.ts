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
  /** Listing entries handled so far. */
  filesProcessed: number;
  filesTotal: number;
  status: "in_progress" | "completed" | "failed";
}

/** Keeps the first `limit` items of a growing list (problems, planned keys). */
export function appendCapped<T>(list: readonly T[], items: readonly T[], limit = 1000): T[] {
  return list.length >= limit ? [...list] : [...list, ...items.slice(0, limit - list.length)];
}
