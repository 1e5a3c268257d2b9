/**
 * Manifests: the complete, key-ordered listing of the source bucket at backup time.
 *
 *   manifests/<backupId>/chunks/<seq>.ndjson  one chunk per batch, one JSON entry per line
 *   manifests/<backupId>/index.json           written last; its presence makes the backup whole
 *
 * Chunks are small by construction (at most one batch of entries, each bounded by R2's key and
 * metadata limits), so reading one whole is bounded. The format is described for operators in
 * docs/storage-format.md.
 */
import { BlobIntegrityError, errorMessage, PermanentError } from "../errors";
import { BLOB_MAGIC, frameStream, isFramed, joinBytes, unframeStream } from "./blob-format";
import { sha256Hex } from "./hashing";
import type { Keyring } from "./keyring";

export const MANIFEST_FORMAT = "r2-backup-manifest";
export const MANIFEST_VERSION = 1;

export interface StoredHttpMetadata {
  contentType?: string;
  contentLanguage?: string;
  contentDisposition?: string;
  contentEncoding?: string;
  cacheControl?: string;
  cacheExpiry?: string;
}

export interface ManifestEntry {
  key: string;
  size: number;
  etag: string;
  /** The source object's upload time (R2's `uploaded`), ISO. */
  lastModified: string;
  sha256: string;
  /** Key of the content in the backup bucket. */
  blob: string;
  httpMetadata: StoredHttpMetadata;
  customMetadata: Record<string, string>;
}

export interface ManifestIndex {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  backupId: string;
  bucketName: string;
  type: "full" | "incremental";
  parentId: string | null;
  createdAt: string;
  completedAt: string;
  chunkCount: number;
  fileCount: number;
  totalSize: number;
  /** Hash chain over the chunks' SHA-256s; see `extendChain`. */
  checksum: string;
}

export const manifestPrefix = (backupId: string) => `manifests/${backupId}/`;
export const manifestIndexKey = (backupId: string) => `${manifestPrefix(backupId)}index.json`;
export const manifestChunkKey = (backupId: string, seq: number) => `${manifestPrefix(backupId)}chunks/${String(seq).padStart(8, "0")}.ndjson`;

export function serializeChunk(entries: readonly ManifestEntry[]): string {
  return entries.map((entry) => JSON.stringify(entry)).join("\n") + "\n";
}

/** Parses a chunk's NDJSON; text that does not parse is damage (BlobIntegrityError). */
export function parseChunk(text: string): ManifestEntry[] {
  try {
    return text
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as ManifestEntry);
  } catch (error) {
    throw new BlobIntegrityError(`manifest chunk is not valid NDJSON: ${errorMessage(error)}`);
  }
}

/**
 * How manifests are stored: plain NDJSON/JSON, or framed like blobs (gzip and/or encrypted) when
 * compression or encryption is enabled. Reading detects the framing by its magic, so a backup made
 * under other settings stays readable.
 */
export interface ManifestCodec {
  compress: boolean;
  keyring: Keyring | null;
}

async function encodeBody(text: string, codec: ManifestCodec): Promise<Uint8Array | string> {
  const framing = { compress: codec.compress, key: codec.keyring?.current ?? null };
  if (!isFramed(framing)) return text;
  // Bounded: one chunk's or index's text, already in memory (a chunk holds at most 100 entries).
  return new Uint8Array(await new Response(frameStream(new Response(text).body!, framing)).arrayBuffer());
}

/**
 * The largest manifest object read whole: a chunk holds at most 100 entries, each bounded by R2's
 * key (1 KiB) and metadata (2 KiB) limits, so anything near this size is damage, not data.
 */
export const MAX_MANIFEST_OBJECT_BYTES = 8 * 1024 * 1024;

async function decodeBody(object: R2ObjectBody, keyring: Keyring | null): Promise<string> {
  if (object.size > MAX_MANIFEST_OBJECT_BYTES) {
    await object.body.cancel();
    throw new BlobIntegrityError(`${object.key} is ${object.size} bytes, more than a manifest object can be (${MAX_MANIFEST_OBJECT_BYTES})`);
  }
  const bytes = new Uint8Array(await object.arrayBuffer()); // bounded by the check above
  const magic = new TextEncoder().encode(BLOB_MAGIC);
  if (bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b)) {
    // gzip can expand a small object without limit: the decoded text is bounded the same way.
    const decoded = await readAtMost(await unframeStream(new Response(bytes).body!, keyring), MAX_MANIFEST_OBJECT_BYTES, object.key);
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

/** Writes (or rewrites, identically on replay) chunk `seq` and returns the SHA-256 of its text. */
export async function writeChunk(
  bucket: Pick<R2Bucket, "put">,
  codec: ManifestCodec,
  backupId: string,
  seq: number,
  entries: readonly ManifestEntry[],
): Promise<string> {
  const text = serializeChunk(entries);
  const sha256 = await sha256Hex(text);
  await bucket.put(manifestChunkKey(backupId, seq), await encodeBody(text, codec), {
    httpMetadata: { contentType: codec.keyring || codec.compress ? "application/octet-stream" : "application/x-ndjson" },
    customMetadata: { entries: String(entries.length) },
  });
  return sha256;
}

export interface ChunkRead {
  entries: ManifestEntry[];
  /** SHA-256 of the chunk's text, as chained into the manifest checksum. */
  sha256: string;
}

/** Reads chunk `seq`, or null when it is missing. */
export async function readChunk(bucket: Pick<R2Bucket, "get">, keyring: Keyring | null, backupId: string, seq: number): Promise<ChunkRead | null> {
  const object = await bucket.get(manifestChunkKey(backupId, seq));
  if (!object) return null;
  const text = await decodeBody(object, keyring);
  return { entries: parseChunk(text), sha256: await sha256Hex(text) };
}

export async function writeIndex(bucket: Pick<R2Bucket, "put">, codec: ManifestCodec, index: ManifestIndex): Promise<void> {
  await bucket.put(manifestIndexKey(index.backupId), await encodeBody(JSON.stringify(index, null, 2), codec), {
    httpMetadata: { contentType: codec.keyring || codec.compress ? "application/octet-stream" : "application/json" },
  });
}

export async function readIndex(bucket: Pick<R2Bucket, "get">, keyring: Keyring | null, backupId: string): Promise<ManifestIndex | null> {
  const object = await bucket.get(manifestIndexKey(backupId));
  if (!object) return null;
  const index = JSON.parse(await decodeBody(object, keyring)) as ManifestIndex;
  if (index.format !== MANIFEST_FORMAT || index.version !== MANIFEST_VERSION) {
    throw new PermanentError(`Manifest of ${backupId} has unsupported format ${index.format} v${index.version}`);
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
