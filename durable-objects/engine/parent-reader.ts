/**
 * Reads a parent manifest forward from a position, one window at a time, so an incremental backup
 * holds at most one window of the parent in memory whatever the bucket's size.
 */
import { compareKeys } from "./key-order";
import { readChunk, type ManifestEntry } from "./manifest";
import type { WindowEnd } from "./listing-merge";

export interface ParentPosition {
  chunkSeq: number;
  offset: number;
}

export interface ParentWindow {
  entries: ManifestEntry[];
  /** Where the next window starts. */
  next: ParentPosition;
  /** True when the parent's entries ran out before the limit. */
  exhausted: boolean;
  /** Set when the limit cut the window short: the last key read (the window must end there). */
  cutAt: WindowEnd;
}

/**
 * Reads entries from `from` whose key is at most `until` (null: no bound), at most `limit` of them.
 */
export async function readParentWindow(
  bucket: R2Bucket,
  parentId: string,
  chunkCount: number,
  from: ParentPosition,
  until: WindowEnd,
  limit: number,
): Promise<ParentWindow> {
  const entries: ManifestEntry[] = [];
  let { chunkSeq, offset } = from;
  while (chunkSeq < chunkCount) {
    const chunk = await readChunk(bucket, parentId, chunkSeq);
    if (!chunk) throw new Error(`parent manifest ${parentId} is missing chunk ${chunkSeq}`);
    while (offset < chunk.entries.length) {
      const entry = chunk.entries[offset]!;
      if (until !== null && compareKeys(entry.key, until) > 0) return { entries, next: { chunkSeq, offset }, exhausted: false, cutAt: null };
      entries.push(entry);
      offset++;
      if (entries.length >= limit) {
        const next = offset < chunk.entries.length ? { chunkSeq, offset } : { chunkSeq: chunkSeq + 1, offset: 0 };
        return { entries, next, exhausted: false, cutAt: entry.key };
      }
    }
    chunkSeq++;
    offset = 0;
  }
  return { entries, next: { chunkSeq, offset: 0 }, exhausted: true, cutAt: null };
}
