/** Writing manifests directly (without a backup), for tests of the readers. */
import { storeChunks } from "../../durable-objects/engine/format/chunk-store";
import { EMPTY_CHAIN, extendChain, sha256Hex } from "../../durable-objects/engine/format/hashing";
import type { Keyring } from "../../durable-objects/engine/format/keyring";
import {
  readIndex,
  serializeChunk,
  v1ChunkKey,
  type ManifestCodec,
  type ManifestEntry,
} from "../../durable-objects/engine/format/manifest";
import { locatorOf, openManifest, requireLeaf } from "../../durable-objects/engine/format/manifest-reader";
import {
  appendEntries,
  chunkKey,
  EMPTY_TREE,
  endsLeaf,
  finishTree,
  treeChecksum,
} from "../../durable-objects/engine/format/manifest-tree";

const PLAIN: ManifestCodec = { compress: false, keyring: null };

const totals = (entries: readonly ManifestEntry[]) => ({
  fileCount: entries.length,
  totalSize: entries.reduce((sum, e) => sum + e.size, 0),
});

/** A version 3 manifest of `entries` (in key order), as a backup would write it. */
export async function writeManifest(
  bucket: Pick<R2Bucket, "put" | "head">,
  backupId: string,
  entries: readonly ManifestEntry[],
  codec: ManifestCodec = PLAIN,
) {
  const added = await appendEntries(EMPTY_TREE, entries, codec.keyring);
  const tree = await finishTree(added.state, codec.keyring);
  await storeChunks(bucket, codec, [...added.chunks, ...tree.chunks], "rewrite", backupId);
  return {
    version: 3 as const,
    backupId,
    chunkCount: tree.leaves,
    checksum: treeChecksum(tree.root),
    root: tree.root,
    ...totals(entries),
  };
}

/** A version 1 manifest: one chunk per inner list, as the engine wrote them before version 2. */
export async function writeV1Manifest(
  bucket: Pick<R2Bucket, "put">,
  backupId: string,
  chunks: readonly ManifestEntry[][],
) {
  let chain = EMPTY_CHAIN;
  for (const [seq, entries] of chunks.entries()) {
    const text = serializeChunk(entries);
    await bucket.put(v1ChunkKey(backupId, seq), text);
    chain = await extendChain(chain, await sha256Hex(text));
  }
  return { version: 1 as const, backupId, chunkCount: chunks.length, checksum: chain, ...totals(chunks.flat()) };
}

/** The first key `${prefix}<n>` that ends a manifest leaf, so a test can place leaf boundaries. */
export function leafEndingKey(prefix: string): string {
  for (let n = 0; ; n++) if (endsLeaf(`${prefix}${n}`)) return `${prefix}${n}`;
}

/** A finished backup's manifest entries, read the way the engine reads them ([] without an index). */
export async function snapshotEntries(
  bucket: Pick<R2Bucket, "get">,
  backupId: string,
  keyring: Keyring | null = null,
): Promise<ManifestEntry[]> {
  const index = await readIndex(bucket, keyring, backupId);
  if (!index) return [];
  const reader = openManifest(bucket, keyring, locatorOf(index));
  const entries: ManifestEntry[] = [];
  for (let seq = 0; seq < reader.chunkCount; seq++) entries.push(...(await requireLeaf(reader, seq)).entries);
  return entries;
}

/** A finished backup's leaves in order: storage key and number of entries. */
export async function leavesOf(
  bucket: Pick<R2Bucket, "get">,
  backupId: string,
  keyring: Keyring | null = null,
): Promise<{ key: string; entries: number }[]> {
  const index = await readIndex(bucket, keyring, backupId);
  if (!index) return [];
  const reader = openManifest(bucket, keyring, locatorOf(index));
  const leaves = [];
  for (let seq = 0; seq < reader.chunkCount; seq++) {
    const leaf = await reader.leaf(seq);
    leaves.push({ key: leaf.key, entries: leaf.kind === "leaf" ? leaf.entries.length : 0 });
  }
  return leaves;
}

/** Every chunk key (leaves and index pages) the given backups' version 2 manifests name. */
export async function chunkKeysOf(
  bucket: Pick<R2Bucket, "get">,
  backupIds: readonly string[],
  keyring: Keyring | null,
): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const backupId of backupIds) {
    const index = await readIndex(bucket, keyring, backupId);
    if (!index || index.version === 1) continue;
    const reader = openManifest(bucket, keyring, locatorOf(index));
    for (let seq = 0; seq < reader.chunkCount; seq++) {
      const path = await reader.path(seq);
      if (Array.isArray(path)) for (const step of path) keys.add(chunkKey(step.ref.name));
    }
  }
  return keys;
}

/** A manifest entry for pure tests: only key, etag and size matter; the rest is fixed. */
export function plainEntry(
  key: string,
  etag = `e-${key}`,
  size = 10,
  lastModified = "2026-11-01T00:00:00.000Z",
): ManifestEntry {
  return {
    key,
    size,
    etag,
    lastModified,
    sha256: "0".repeat(64),
    blob: "blobs/x",
    httpMetadata: {},
    customMetadata: {},
  };
}
