/**
 * Pages through a snapshot's manifest in key order, optionally under a key prefix. The first page
 * of a prefix is found by binary search over the chunks (each chunk covers a key range, and chunks
 * are in key order). A page reads at most MAX_CHUNKS_PER_PAGE chunks after the seek: chunks can be
 * small (a step that met a large object writes a chunk of a few entries), so a page may hold
 * fewer entries than asked and still carry a cursor; a request never reads an unbounded number of
 * objects.
 */
import { compareKeys } from "./key-order";
import type { Keyring } from "./keyring";
import { readChunk, type ManifestEntry } from "./manifest";

/** Chunks one page reads at most (besides the O(log chunks) reads of a prefix's first seek). */
export const MAX_CHUNKS_PER_PAGE = 8;

export interface ManifestPosition {
  chunkSeq: number;
  offset: number;
}

export interface ManifestPage {
  entries: ManifestEntry[];
  next: ManifestPosition | null;
}

export interface ManifestSource {
  bucket: Pick<R2Bucket, "get">;
  keyring: Keyring | null;
  backupId: string;
  chunkCount: number;
}

async function chunkEntries(manifest: ManifestSource, seq: number): Promise<ManifestEntry[]> {
  const { bucket, keyring, backupId } = manifest;
  const chunk = await readChunk(bucket, keyring, backupId, seq);
  if (!chunk) throw new Error(`manifest chunk ${seq} of ${backupId} is missing`);
  return chunk.entries;
}

/** The position of the first entry whose key is >= `prefix`. */
async function seek(manifest: ManifestSource, prefix: string): Promise<ManifestPosition> {
  const { chunkCount } = manifest;
  let low = 0;
  let high = chunkCount; // invariant: every chunk before `low` ends below the prefix
  while (low < high) {
    const middle = (low + high) >>> 1;
    const entries = await chunkEntries(manifest, middle);
    const last = entries.at(-1);
    if (last && compareKeys(last.key, prefix) < 0) low = middle + 1;
    else high = middle;
  }
  if (low >= chunkCount) return { chunkSeq: chunkCount, offset: 0 };
  const entries = await chunkEntries(manifest, low);
  const offset = entries.findIndex((e) => compareKeys(e.key, prefix) >= 0);
  return { chunkSeq: low, offset: offset < 0 ? entries.length : offset };
}

export async function readManifestPage(
  manifest: ManifestSource,
  options: { prefix: string; limit: number; from: ManifestPosition | null },
): Promise<ManifestPage> {
  const { prefix, limit } = options;
  const { chunkCount } = manifest;
  let { chunkSeq, offset } = options.from ?? (prefix ? await seek(manifest, prefix) : { chunkSeq: 0, offset: 0 });
  const entries: ManifestEntry[] = [];
  let chunksRead = 0;
  while (chunkSeq < chunkCount) {
    if (chunksRead === MAX_CHUNKS_PER_PAGE) return { entries, next: { chunkSeq, offset } };
    chunksRead += 1;
    const chunk = await chunkEntries(manifest, chunkSeq);
    for (; offset < chunk.length; offset++) {
      const entry = chunk[offset]!;
      // Keys under a prefix are contiguous in key order: the first key past them ends the listing.
      if (!entry.key.startsWith(prefix)) return { entries, next: null };
      if (entries.length === limit) return { entries, next: { chunkSeq, offset } };
      entries.push(entry);
    }
    chunkSeq++;
    offset = 0;
  }
  return { entries, next: null };
}
