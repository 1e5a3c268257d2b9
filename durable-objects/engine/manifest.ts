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
import { sha256Hex } from "./hashing";

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
export const manifestChunkKey = (backupId: string, seq: number) =>
  `${manifestPrefix(backupId)}chunks/${String(seq).padStart(8, "0")}.ndjson`;

export function serializeChunk(entries: readonly ManifestEntry[]): string {
  return entries.map((entry) => JSON.stringify(entry)).join("\n") + "\n";
}

export function parseChunk(text: string): ManifestEntry[] {
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as ManifestEntry);
}

/** Writes (or rewrites, identically on replay) chunk `seq` and returns its SHA-256. */
export async function writeChunk(bucket: R2Bucket, backupId: string, seq: number, entries: readonly ManifestEntry[]): Promise<string> {
  const body = serializeChunk(entries);
  const sha256 = await sha256Hex(body);
  await bucket.put(manifestChunkKey(backupId, seq), body, {
    httpMetadata: { contentType: "application/x-ndjson" },
    customMetadata: { sha256, entries: String(entries.length) },
    sha256,
  });
  return sha256;
}

export interface ChunkRead {
  entries: ManifestEntry[];
  sha256: string;
}

/** Reads chunk `seq`, or null when it is missing. */
export async function readChunk(bucket: R2Bucket, backupId: string, seq: number): Promise<ChunkRead | null> {
  const object = await bucket.get(manifestChunkKey(backupId, seq));
  if (!object) return null;
  // Bounded: a chunk holds at most one batch of entries (see the module header).
  const text = await object.text();
  return { entries: parseChunk(text), sha256: await sha256Hex(text) };
}

export async function writeIndex(bucket: R2Bucket, index: ManifestIndex): Promise<void> {
  await bucket.put(manifestIndexKey(index.backupId), JSON.stringify(index, null, 2), {
    httpMetadata: { contentType: "application/json" },
  });
}

export async function readIndex(bucket: R2Bucket, backupId: string): Promise<ManifestIndex | null> {
  const object = await bucket.get(manifestIndexKey(backupId));
  if (!object) return null;
  const index = (await object.json()) as ManifestIndex;
  if (index.format !== MANIFEST_FORMAT || index.version !== MANIFEST_VERSION) {
    throw new Error(`Manifest of ${backupId} has unsupported format ${index.format} v${index.version}`);
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
