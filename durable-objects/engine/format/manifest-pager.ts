/**
 * Pages through a snapshot's manifest in key order, optionally under a key prefix. The first page
 * of a prefix is found by binary search over the leaves (each leaf covers a key range, and leaves
 * are in key order). A page reads at most MAX_CHUNKS_PER_PAGE leaves after the seek: leaves can be
 * small, so a page may hold fewer entries than asked and still carry a cursor; a request never
 * reads an unbounded number of objects.
 */
import { compareKeys } from "./key-order";
import { requireLeaf, type ManifestReader } from "./manifest-reader";
import type { ManifestEntry } from "./manifest";

/** Leaves one page reads at most (besides the O(log leaves) reads of a prefix's first seek). */
export const MAX_CHUNKS_PER_PAGE = 8;

export interface ManifestPosition {
  chunkSeq: number;
  offset: number;
}

export interface ManifestPage {
  entries: ManifestEntry[];
  next: ManifestPosition | null;
}

const leafEntries = async (manifest: ManifestReader, seq: number) => (await requireLeaf(manifest, seq)).entries;

/** The position of the first entry whose key is >= `prefix`. */
async function seek(manifest: ManifestReader, prefix: string): Promise<ManifestPosition> {
  const { chunkCount } = manifest;
  let low = 0;
  let high = chunkCount; // invariant: every leaf before `low` ends below the prefix
  while (low < high) {
    const middle = (low + high) >>> 1;
    const last = (await leafEntries(manifest, middle)).at(-1);
    if (last && compareKeys(last.key, prefix) < 0) low = middle + 1;
    else high = middle;
  }
  if (low >= chunkCount) return { chunkSeq: chunkCount, offset: 0 };
  const entries = await leafEntries(manifest, low);
  const offset = entries.findIndex((e) => compareKeys(e.key, prefix) >= 0);
  return { chunkSeq: low, offset: offset < 0 ? entries.length : offset };
}

/** `match`: only entries it accepts are returned (those it refuses still count towards a page's reads). */
export async function readManifestPage(
  manifest: ManifestReader,
  options: { prefix: string; limit: number; from: ManifestPosition | null; match?: (entry: ManifestEntry) => boolean },
): Promise<ManifestPage> {
  const { prefix, limit } = options;
  const { chunkCount } = manifest;
  let { chunkSeq, offset } = options.from ?? (prefix ? await seek(manifest, prefix) : { chunkSeq: 0, offset: 0 });
  const entries: ManifestEntry[] = [];
  let chunksRead = 0;
  while (chunkSeq < chunkCount) {
    if (chunksRead === MAX_CHUNKS_PER_PAGE) return { entries, next: { chunkSeq, offset } };
    chunksRead += 1;
    const chunk = await leafEntries(manifest, chunkSeq);
    for (; offset < chunk.length; offset++) {
      const entry = chunk[offset]!;
      // Keys under a prefix are contiguous in key order: the first key past them ends the listing.
      if (!entry.key.startsWith(prefix)) return { entries, next: null };
      if (options.match && !options.match(entry)) continue;
      if (entries.length === limit) return { entries, next: { chunkSeq, offset } };
      entries.push(entry);
    }
    chunkSeq++;
    offset = 0;
  }
  return { entries, next: null };
}
