/**
 * The content-addressed blob store: a source object's content is stored once under a name derived
 * from its SHA-256, however many keys and backups refer to it.
 *
 *   blobs/<sha256 hex>                  without encryption
 *   blobs/<HMAC-SHA256(name key, sha256) hex>   with encryption (equal files are not revealed)
 *
 * A blob is written with a precondition (only if absent), so an existing blob is never rewritten,
 * and, when stored raw, with R2's own SHA-256 check. Objects above the multipart threshold go
 * through large-object.ts instead, part by part across steps.
 */
import type { SourceReader, BlobStore } from "../buckets";
import {
  BLOB_VERSION,
  joinBytes,
  frameStream,
  isFramed,
  encryptedSize,
  type FramingOptions,
} from "../format/blob-format";
import { isCompressible } from "../format/compressibility";
import { refuseIfLocked } from "../settings/bucket-lock";
import { looksIncompressible, SAMPLE_BYTES } from "../format/incompressibility";
import { blobMismatch } from "./blob-trust";
import { yieldToEventLoop } from "../cooperative";
import { feedKnownLength } from "../known-length-feed";
import { readSource, SourceReadError } from "../errors";
import { sha256Hex, sha256OfR2Body } from "../format/hashing";
import { hmacHex, type Keyring } from "../format/keyring";
import { storedHttpMetadata, type ManifestEntry } from "../format/manifest";

/**
 * Objects up to this size are read once into memory (the size is known before reading, so the
 * buffer is bounded); larger ones are streamed twice: once to hash, once to upload when the store
 * does not already hold the content.
 */
export const SINGLE_READ_LIMIT = 1024 * 1024;
/** Part size when a framed (compressed) stream of unknown length is uploaded within one step. */
const STREAMING_PART_SIZE = 5 * 1024 * 1024;

export interface StorageSettings {
  compress: boolean;
  keyring: Keyring | null;
  multipartThreshold: number;
  partSize: number;
  /** BACKUP_BUCKET_LOCK_DAYS: a blob younger than this cannot be replaced (absent: 0). */
  lockDays?: number;
}

export type CaptureResult =
  | {
      kind: "captured";
      entry: ManifestEntry;
      /** This backup stored the blob (now or in an earlier attempt of the same step). */
      newContent: boolean;
      /** Bytes this backup wrote for this key: counted once, for the key that stored the blob. */
      bytesUploaded: number;
      /** Set when a damaged or foreign blob was found at the name and written again: why. */
      repaired?: string;
      /** Whether a sample of the content did not compress (format/incompressibility.ts); absent: not judged. */
      incompressible?: boolean | null;
    }
  /** Deleted between listing and reading: simply absent from the snapshot. */
  | { kind: "gone" };

/** Where a content hash is stored, given the encryption settings. */
export async function blobKeyFor(sha256: string, keyring: Keyring | null): Promise<string> {
  return `blobs/${keyring ? await hmacHex(keyring.current.naming, new TextEncoder().encode(sha256)) : sha256}`;
}

/**
 * Who first stored a blob. Kept in the blob's own metadata so that a replayed step, which finds
 * the blob already there, still knows the blob is this backup's new content: counts and file
 * records come out the same whether or not an earlier attempt of the step ran. With encryption,
 * the source key is kept as an HMAC so the backup bucket does not reveal file names.
 */
export interface BlobOrigin {
  backupId: string;
  sourceKey: string;
}

export async function originFor(backupId: string, key: string, keyring: Keyring | null): Promise<BlobOrigin> {
  return {
    backupId,
    sourceKey: keyring ? await hmacHex(keyring.current.naming, new TextEncoder().encode(`key:${key}`)) : key,
  };
}

export interface StoredBlob {
  origin: BlobOrigin;
  size: number;
}

export function describeBlob(object: R2Object): StoredBlob {
  return {
    origin: { backupId: object.customMetadata?.backupId ?? "", sourceKey: object.customMetadata?.sourceKey ?? "" },
    size: object.size,
  };
}

export function blobMetadata(
  origin: BlobOrigin,
  framing: FramingOptions,
  sha256: string,
  contentSize: number,
): Record<string, string> {
  return {
    format: isFramed(framing) ? `framed-v${BLOB_VERSION}` : "raw",
    backupId: origin.backupId,
    sourceKey: origin.sourceKey,
    // The plain content hash would reveal equal files, so it is kept only for unencrypted blobs.
    ...(framing.key ? {} : { sha256 }),
    // What a later backup checks before trusting the blob (blob-trust.ts).
    ...(isFramed(framing)
      ? {
          framing: [framing.compress ? "gzip" : "", framing.key ? "aes" : ""].filter(Boolean).join("+"),
          contentSize: String(contentSize),
        }
      : {}),
  };
}

export function framingFor(
  key: string,
  contentType: string | undefined,
  settings: StorageSettings,
  allowCompression: boolean,
): FramingOptions {
  return {
    compress: allowCompression && settings.compress && isCompressible(key, contentType),
    key: settings.keyring?.current ?? null,
  };
}

export function manifestEntry(object: R2Object, sha256: string, blob: string): ManifestEntry {
  return {
    key: object.key,
    size: object.size,
    etag: object.etag,
    lastModified: object.uploaded.toISOString(),
    sha256,
    blob,
    httpMetadata: storedHttpMetadata(object.httpMetadata),
    customMetadata: { ...(object.customMetadata ?? {}) },
  };
}

export function capturedResult(
  entry: ManifestEntry,
  stored: StoredBlob,
  origin: BlobOrigin,
): Extract<CaptureResult, { kind: "captured" }> {
  const newContent = stored.origin.backupId === origin.backupId;
  return {
    kind: "captured",
    entry,
    newContent,
    bytesUploaded: newContent && stored.origin.sourceKey === origin.sourceKey ? stored.size : 0,
  };
}

/**
 * Reads one source object (up to the multipart threshold), stores its content unless the store
 * already has it, and returns the manifest entry of the version that was read: metadata and
 * content always come from one version. `writeFirst`: the step expects new content
 * (write-first.ts), so content read into memory is written before the store is asked.
 */
export async function captureObject(
  source: SourceReader,
  backup: BlobStore,
  key: string,
  backupId: string,
  settings: StorageSettings,
  writeFirst = false,
): Promise<CaptureResult> {
  const object = await readSource(`get ${key}`, () => source.get(key));
  if (!object) return { kind: "gone" };
  const origin = await originFor(backupId, key, settings.keyring);
  const framing = framingFor(key, object.httpMetadata?.contentType, settings, true);

  let sha256: string;
  let sample: Uint8Array;
  let content: () => Promise<Uint8Array | ReadableStream<Uint8Array>>;
  const inMemory = object.size <= SINGLE_READ_LIMIT;
  if (inMemory) {
    // Bounded: the size was checked against SINGLE_READ_LIMIT (1 MiB) just above.
    const bytes = new Uint8Array(await readSource(`read ${key}`, () => object.arrayBuffer()));
    sha256 = await sha256Hex(bytes);
    sample = bytes.subarray(0, SAMPLE_BYTES);
    content = async () => bytes;
  } else {
    ({ sha256, head: sample } = await readSource(`hash ${key}`, () => sha256OfR2Body(object.body, SAMPLE_BYTES)));
    content = async () => {
      // Read the very version that was hashed; if it changed meanwhile, the retry starts over.
      const again = await readSource(`get ${key}`, () => source.get(key, { onlyIf: { etagMatches: object.etag } }));
      if (!again || !("body" in again)) throw new SourceReadError(`${key} changed while it was being backed up`);
      // An R2 body has a known length, so it goes to the put as it is: a native pipe, with no
      // JavaScript per chunk to slow it or to keep the isolate from other requests.
      return again.body;
    };
  }
  const blob = await blobKeyFor(sha256, settings.keyring);
  const stored = await storeBlob(
    backup,
    blob,
    { origin, framing, sha256, size: object.size, lockDays: settings.lockDays ?? 0, key },
    content,
    writeFirst && inMemory,
  );
  const result = capturedResult(manifestEntry(object, sha256, blob), stored, origin);
  return {
    ...result,
    // Judged only for content new to the store: what the mass-change alert watches.
    ...(result.newContent ? { incompressible: await looksIncompressible(sample) } : {}),
    ...(stored.repaired ? { repaired: stored.repaired } : {}),
  };
}

interface BlobDescription {
  origin: BlobOrigin;
  framing: FramingOptions;
  sha256: string;
  size: number;
  lockDays: number;
  /** The source key (named when the blob cannot be replaced). */
  key: string;
}

/**
 * Stores the content under `blob` unless a trustworthy blob is already there; returns the blob's
 * origin. A blob at the name that fails the trust check (blob-trust.ts) is replaced, and only
 * that very version of it (`etagMatches`), so a concurrent good write is never overwritten.
 * `writeFirst`: the content is expected to be new (write-first.ts), so it is written only if
 * absent before the store is asked; a refused write is followed by the same check as asking first.
 */
async function storeBlob(
  backup: BlobStore,
  blob: string,
  description: BlobDescription,
  content: () => Promise<Uint8Array | ReadableStream<Uint8Array>>,
  writeFirst: boolean,
): Promise<StoredBlob & { repaired?: string }> {
  const { origin, sha256, size } = description;
  if (writeFirst) {
    const written = await writeBlob(backup, blob, description, await content(), null);
    if (written) return { origin, size: written.size };
  }
  const existing = await backup.head(blob);
  const mismatch = existing ? blobMismatch(existing, { sha256, size }) : null;
  if (existing && !mismatch) return describeBlob(existing);
  if (existing && mismatch) refuseIfLocked(existing, blob, mismatch, description.lockDays, description.key);
  const written = await writeBlob(backup, blob, description, await content(), existing?.etag ?? null);
  if (written) return { origin, size: written.size, ...(mismatch ? { repaired: mismatch } : {}) };
  // Another writer stored the same content between our head and put.
  const winner = await backup.head(blob);
  if (!winner) throw new Error(`blob ${blob} was neither written nor found`);
  return describeBlob(winner);
}

/**
 * Writes the content under `blob`, framed as its description says, only if the name is free
 * (`replacing` null) or still holds that very version; null when the precondition failed.
 */
async function writeBlob(
  backup: BlobStore,
  blob: string,
  description: BlobDescription,
  body: Uint8Array | ReadableStream<Uint8Array>,
  replacing: string | null,
): Promise<R2Object | null> {
  const { origin, framing, sha256, size } = description;
  const customMetadata = blobMetadata(origin, framing, sha256, size);
  const onlyIf: R2Conditional = replacing ? { etagMatches: replacing } : { etagDoesNotMatch: "*" };
  if (!isFramed(framing)) return backup.put(blob, body, { onlyIf, sha256, customMetadata });
  if (body instanceof Uint8Array) {
    // Small: framed in memory (bounded by SINGLE_READ_LIMIT plus the framing's overhead).
    const framed = new Uint8Array(await new Response(frameStream(new Response(body).body!, framing)).arrayBuffer());
    return backup.put(blob, framed, { onlyIf, customMetadata });
  }
  if (!framing.compress) {
    // Encrypted only: the stored length is known in advance, so one streaming put.
    // A failed precondition (null) leaves the body unread: the feed stops, and its error is moot.
    const put = await feedKnownLength(
      frameStream(body, framing),
      encryptedSize(size),
      (framed) => backup.put(blob, framed, { onlyIf, customMetadata }),
      (result) => result === null,
    );
    if (put.written.status === "rejected") throw put.fed.status === "rejected" ? put.fed.reason : put.written.reason;
    if (put.written.value && put.fed.status === "rejected") throw put.fed.reason;
    return put.written.value;
  }
  return uploadInParts(backup, blob, frameStream(body, framing), customMetadata, replacing);
}

/**
 * Uploads a stream of unknown length as a multipart upload within one step, holding one part in
 * memory. Returns null when the blob appeared meanwhile (multipart completion has no precondition,
 * so the store is checked again before completing).
 */
async function uploadInParts(
  backup: BlobStore,
  blob: string,
  stream: ReadableStream<Uint8Array>,
  customMetadata: Record<string, string>,
  replacing: string | null,
): Promise<R2Object | null> {
  const upload = await backup.createMultipartUpload(blob, { customMetadata });
  try {
    const parts: R2UploadedPart[] = [];
    const buffered: Uint8Array[] = [];
    let bufferedBytes = 0;
    const flushPart = async (length: number) => {
      const joined = joinBytes(buffered.splice(0));
      parts.push(await upload.uploadPart(parts.length + 1, joined.slice(0, length)));
      const rest = joined.subarray(length);
      bufferedBytes = rest.length;
      if (rest.length) buffered.push(rest);
    };
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered.push(value);
      bufferedBytes += value.length;
      // Keep one byte beyond a part before cutting, so the last part is never empty.
      if (bufferedBytes > STREAMING_PART_SIZE) {
        await flushPart(STREAMING_PART_SIZE);
        await yieldToEventLoop();
      }
    }
    if (bufferedBytes > 0 || parts.length === 0) await flushPart(bufferedBytes);
    const present = await backup.head(blob);
    // Something other than the blob being replaced appeared meanwhile: that writer won.
    if (present && present.etag !== replacing) {
      await upload.abort();
      return null;
    }
    return await upload.complete(parts);
  } catch (error) {
    await upload
      .abort()
      .catch((abortError: unknown) => console.error(`aborting the upload of ${blob} failed too`, abortError));
    throw error;
  }
}
