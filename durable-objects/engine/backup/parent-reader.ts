/**
 * Reads a parent manifest forward from a position, one window at a time, so an incremental backup
 * holds at most one window of the parent in memory whatever the bucket's size.
 */
import { compareKeys } from "../format/key-order";
import type { ManifestEntry } from "../format/manifest";
import { requireLeaf, type ManifestReader } from "../format/manifest-reader";
import type { WindowEnd } from "./listing-merge";

export interface ParentPosition {
  chunkSeq: number;
  offset: number;
}

export interface ParentWindow {
  entries: ManifestEntry[];
  /** The position just after each entry, so a step that stops early knows where to resume. */
  positionsAfter: ParentPosition[];
  /** Where the next window starts. */
  next: ParentPosition;
  /** True when the parent's entries ran out before the limit. */
  exhausted: boolean;
  /** Set when the limit cut the window short: the last key read (the window must end there). */
  cutAt: WindowEnd;
}

/**
 * Reads entries from `from` whose key is at most `until` (null: no bound), at most `limit` of them.
 * A missing or damaged parent leaf fails the backup (PermanentError): merging past it would
 * record its objects as deleted.
 */
export async function readParentWindow(
  parent: ManifestReader,
  from: ParentPosition,
  until: WindowEnd,
  limit: number,
): Promise<ParentWindow> {
  const entries: ManifestEntry[] = [];
  const positionsAfter: ParentPosition[] = [];
  let { chunkSeq, offset } = from;
  while (chunkSeq < parent.chunkCount) {
    const chunk = await requireLeaf(parent, chunkSeq);
    while (offset < chunk.entries.length) {
      const entry = chunk.entries[offset]!;
      if (until !== null && compareKeys(entry.key, until) > 0)
        return { entries, positionsAfter, next: { chunkSeq, offset }, exhausted: false, cutAt: null };
      entries.push(entry);
      offset++;
      const after = offset < chunk.entries.length ? { chunkSeq, offset } : { chunkSeq: chunkSeq + 1, offset: 0 };
      positionsAfter.push(after);
      if (entries.length >= limit) return { entries, positionsAfter, next: after, exhausted: false, cutAt: entry.key };
    }
    chunkSeq++;
    offset = 0;
  }
  return { entries, positionsAfter, next: { chunkSeq, offset: 0 }, exhausted: true, cutAt: null };
}
