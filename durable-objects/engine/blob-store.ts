/**
 * The content-addressed blob store: `blobs/<sha256>` holds a source object's content once, however
 * many keys and backups refer to it. A blob is written with a precondition (only if absent), so an
 * existing blob is never rewritten, and with R2's own SHA-256 check, so what is stored under a hash
 * is exactly the content with that hash.
 */
import { sha256Hex, sha256OfStream } from "./hashing";
import { storedHttpMetadata, type ManifestEntry } from "./manifest";

export const blobKey = (sha256: string) => `blobs/${sha256}`;

/**
 * Objects up to this size are read once into memory (the size is known before reading, so the
 * buffer is bounded); larger ones are streamed twice: once to hash, once to upload when the store
 * does not already hold the content.
 */
export const SINGLE_READ_LIMIT = 1024 * 1024;

export type CaptureResult =
  | {
      kind: "captured";
      entry: ManifestEntry;
      /** This backup stored the blob (now or in an earlier attempt of the same step). */
      newContent: boolean;
      /** Bytes this backup wrote for this key: counted once, for the key that stored the blob. */
      bytesUploaded: number;
    }
  /** Deleted between listing and reading: simply absent from the snapshot. */
  | { kind: "gone" };

/** Marks an error raised while reading the source, as opposed to writing the backup bucket. */
export class SourceReadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SourceReadError";
  }
}

async function readSource<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw new SourceReadError(`${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/**
 * Who first stored a blob. Kept in the blob's own metadata so that a replayed step, which finds
 * the blob already there, still knows the blob is this backup's new content: counts and file
 * records come out the same whether or not an earlier attempt of the step ran.
 */
interface BlobOrigin {
  backupId: string;
  sourceKey: string;
}

/**
 * Reads one source object, stores its content in the blob store unless already there, and returns
 * the manifest entry describing the version that was read (metadata and content of one version).
 */
export async function captureObject(source: R2Bucket, backup: R2Bucket, key: string, backupId: string): Promise<CaptureResult> {
  const object = await readSource(`get ${key}`, () => source.get(key));
  if (!object) return { kind: "gone" };
  const origin: BlobOrigin = { backupId, sourceKey: key };

  let sha256: string;
  let stored: StoredBlob;
  if (object.size <= SINGLE_READ_LIMIT) {
    const bytes = await readSource(`read ${key}`, () => object.arrayBuffer());
    sha256 = await sha256Hex(bytes);
    stored = await storeBlob(backup, sha256, origin, async () => bytes);
  } else {
    ({ sha256 } = await readSource(`hash ${key}`, () => sha256OfStream(object.body)));
    stored = await storeBlob(backup, sha256, origin, async () => {
      // Read the very version that was hashed; if it changed meanwhile, the retry starts over.
      const again = await readSource(`get ${key}`, () => source.get(key, { onlyIf: { etagMatches: object.etag } }));
      if (!again || !("body" in again)) throw new SourceReadError(`${key} changed while it was being backed up`);
      return again.body;
    });
  }

  const newContent = stored.origin.backupId === backupId;
  return {
    kind: "captured",
    newContent,
    bytesUploaded: newContent && stored.origin.sourceKey === key ? stored.size : 0,
    entry: {
      key,
      size: object.size,
      etag: object.etag,
      lastModified: object.uploaded.toISOString(),
      sha256,
      blob: blobKey(sha256),
      httpMetadata: storedHttpMetadata(object.httpMetadata),
      customMetadata: { ...(object.customMetadata ?? {}) },
    },
  };
}

interface StoredBlob {
  origin: BlobOrigin;
  size: number;
}

/** Stores the content under its hash unless a blob is already there; returns the blob's origin. */
async function storeBlob(
  backup: R2Bucket,
  sha256: string,
  origin: BlobOrigin,
  body: () => Promise<ReadableStream | ArrayBuffer>,
): Promise<StoredBlob> {
  const key = blobKey(sha256);
  const existing = await backup.head(key);
  if (existing) return describeBlob(existing);
  const written = await backup.put(key, await body(), {
    onlyIf: { etagDoesNotMatch: "*" },
    sha256,
    customMetadata: { sha256, backupId: origin.backupId, sourceKey: origin.sourceKey },
  });
  if (written) return { origin, size: written.size };
  // Another writer stored the same content between our head and put.
  const winner = await backup.head(key);
  if (!winner) throw new Error(`blob ${key} was neither written nor found`);
  return describeBlob(winner);
}

function describeBlob(object: R2Object): StoredBlob {
  return {
    origin: { backupId: object.customMetadata?.backupId ?? "", sourceKey: object.customMetadata?.sourceKey ?? "" },
    size: object.size,
  };
}
