/**
 * Manifests: the complete, key-ordered listing of the source bucket at backup time.
 *
 *   manifests/<backupId>/index.json   written last; its presence makes the backup whole
 *   chunks/<name>                     version 2: content-addressed chunks shared by snapshots
 *                                     (manifest-tree.ts)
 *   manifests/<backupId>/chunks/<seq>.ndjson
 *                                     version 1 (still read): one chunk per engine step
 *
 * This file holds what both versions share: the entry, the index, and how a manifest object is
 * encoded. Every manifest object is small by construction, so reading one whole is bounded. The
 * format is described for operators in docs/storage-format.md.
 */
import { BlobIntegrityError, PermanentError } from "../errors";
import { BLOB_MAGIC, frameStream, isFramed, joinBytes, unframeStream } from "./blob-format";
import { sha256Hex } from "./hashing";
import type { Keyring } from "./keyring";
import { parseChunk, type ManifestEntry, type StoredHttpMetadata } from "./manifest-entry";
import type { ChunkRef } from "./manifest-tree";

export { parseChunk, serializeChunk, type ManifestEntry, type StoredHttpMetadata } from "./manifest-entry";

export const MANIFEST_FORMAT = "r2-backup-manifest";
/**
 * The version this engine writes; versions 1 and 2 are still read. Version 3 has version 2's chunk
 * tree; only its checksum differs (the tree's Merkle root instead of a chain over every leaf).
 */
export const MANIFEST_VERSION = 3;
const READABLE_VERSIONS: readonly number[] = [1, 2, 3];

export interface ManifestIndex {
  format: typeof MANIFEST_FORMAT;
  version: 1 | 2 | 3;
  backupId: string;
  bucketName: string;
  type: "full" | "incremental";
  parentId: string | null;
  createdAt: string;
  completedAt: string;
  /** Leaf chunks (chunks of entries) in the snapshot. */
  chunkCount: number;
  fileCount: number;
  totalSize: number;
  /**
   * Version 3: the tree's root chunk name (`treeChecksum`). Versions 1 and 2: a hash chain over the
   * leaf chunks' SHA-256s, in key order (`extendChain`).
   */
  checksum: string;
  /** Versions 2 and 3: the root of the chunk tree (null for an empty snapshot). */
  root?: ChunkRef | null;
}

export const manifestPrefix = (backupId: string) => `manifests/${backupId}/`;
export const manifestIndexKey = (backupId: string) => `${manifestPrefix(backupId)}index.json`;
/** Where a version 1 manifest keeps chunk `seq` (version 2 chunks are shared: manifest-tree.ts). */
export const v1ChunkKey = (backupId: string, seq: number) =>
  `${manifestPrefix(backupId)}chunks/${String(seq).padStart(8, "0")}.ndjson`;

/**
 * How manifests are stored: plain NDJSON/JSON, or framed like blobs (gzip and/or encrypted) when
 * compression or encryption is enabled. Reading detects the framing by its magic, so a backup made
 * under other settings stays readable.
 */
export interface ManifestCodec {
  compress: boolean;
  keyring: Keyring | null;
}

export async function encodeBody(text: string, codec: ManifestCodec): Promise<Uint8Array | string> {
  const framing = { compress: codec.compress, key: codec.keyring?.current ?? null };
  if (!isFramed(framing)) return text;
  // Bounded: the text is already in memory, and small by construction: a leaf at most 256 KiB plus
  // one entry, a page at most 128 children, an index one root (manifest-tree.ts).
  return new Uint8Array(await new Response(frameStream(new Response(text).body!, framing)).arrayBuffer());
}

/**
 * The largest manifest object read whole: chunks are cut well below it (manifest-tree.ts), and a
 * version 1 chunk holds at most 100 entries, each bounded by R2's key (1 KiB) and metadata (2 KiB)
 * limits, so anything near this size is damage, not data.
 */
export const MAX_MANIFEST_OBJECT_BYTES = 8 * 1024 * 1024;

export async function decodeBody(object: R2ObjectBody, keyring: Keyring | null): Promise<string> {
  if (object.size > MAX_MANIFEST_OBJECT_BYTES) {
    await object.body.cancel();
    throw new BlobIntegrityError(
      `${object.key} is ${object.size} bytes, more than a manifest object can be (${MAX_MANIFEST_OBJECT_BYTES})`,
    );
  }
  const bytes = new Uint8Array(await object.arrayBuffer()); // bounded by the check above
  const magic = new TextEncoder().encode(BLOB_MAGIC);
  if (bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b)) {
    // gzip can expand a small object without limit: the decoded text is bounded the same way.
    const decoded = await readAtMost(
      await unframeStream(new Response(bytes).body!, keyring),
      MAX_MANIFEST_OBJECT_BYTES,
      object.key,
    );
    return new TextDecoder().decode(decoded);
  }
  return new TextDecoder().decode(bytes);
}

/** Reads a stream whole, refusing (as damage) one that grows past `limit` bytes. */
async function readAtMost(stream: ReadableStream<Uint8Array>, limit: number, what: string): Promise<Uint8Array> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    total += chunk.value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw new BlobIntegrityError(`${what} decodes to more than ${limit} bytes, more than a manifest object can be`);
    }
    parts.push(chunk.value);
  }
  return joinBytes(parts);
}

export interface ChunkRead {
  entries: ManifestEntry[];
  /** SHA-256 of the chunk's text, as chained into the manifest checksum. */
  sha256: string;
}

/** Reads chunk `seq` of a version 1 manifest, or null when it is missing. */
export async function readV1Chunk(
  bucket: Pick<R2Bucket, "get">,
  keyring: Keyring | null,
  backupId: string,
  seq: number,
): Promise<ChunkRead | null> {
  const object = await bucket.get(v1ChunkKey(backupId, seq));
  if (!object) return null;
  const text = await decodeBody(object, keyring);
  return { entries: parseChunk(text), sha256: await sha256Hex(text) };
}

export async function writeIndex(
  bucket: Pick<R2Bucket, "put">,
  codec: ManifestCodec,
  index: ManifestIndex,
): Promise<void> {
  await bucket.put(manifestIndexKey(index.backupId), await encodeBody(JSON.stringify(index, null, 2), codec), {
    httpMetadata: { contentType: codec.keyring || codec.compress ? "application/octet-stream" : "application/json" },
  });
}

export async function readIndex(
  bucket: Pick<R2Bucket, "get">,
  keyring: Keyring | null,
  backupId: string,
): Promise<ManifestIndex | null> {
  const object = await bucket.get(manifestIndexKey(backupId));
  if (!object) return null;
  const index = JSON.parse(await decodeBody(object, keyring)) as ManifestIndex;
  if (index.format !== MANIFEST_FORMAT || !READABLE_VERSIONS.includes(index.version)) {
    throw new PermanentError(
      `Manifest of ${backupId} has format ${index.format} version ${index.version}, which this engine cannot read (it reads ${MANIFEST_FORMAT} versions ${READABLE_VERSIONS.join(", ")})`,
    );
  }
  return index;
}

/** Converts R2's HTTP metadata (with a Date for cacheExpiry) into its stored, JSON-safe form. */
export function storedHttpMetadata(metadata: R2HTTPMetadata | undefined): StoredHttpMetadata {
  const stored: StoredHttpMetadata = {};
  if (!metadata) return stored;
  if (metadata.contentType) stored.contentType = metadata.contentType;
  if (metadata.contentLanguage) stored.contentLanguage = metadata.contentLanguage;
  if (metadata.contentDisposition) stored.contentDisposition = metadata.contentDisposition;
  if (metadata.contentEncoding) stored.contentEncoding = metadata.contentEncoding;
  if (metadata.cacheControl) stored.cacheControl = metadata.cacheControl;
  if (metadata.cacheExpiry) stored.cacheExpiry = metadata.cacheExpiry.toISOString();
  return stored;
}

/** The inverse of `storedHttpMetadata`: what to hand R2 when writing the object back. */
export function toR2HttpMetadata(stored: StoredHttpMetadata): R2HTTPMetadata {
  const { cacheExpiry, ...rest } = stored;
  return { ...rest, ...(cacheExpiry ? { cacheExpiry: new Date(cacheExpiry) } : {}) };
}
