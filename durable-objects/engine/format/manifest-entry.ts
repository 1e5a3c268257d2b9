/**
 * One object of a snapshot as a manifest records it, and a leaf chunk's text: NDJSON, one entry a
 * line. The index (manifest.ts) and the chunk tree (manifest-tree.ts) are both built on it.
 */
import { BlobIntegrityError, errorMessage } from "../errors";

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
