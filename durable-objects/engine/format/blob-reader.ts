/** Reads a blob's content back: raw bytes as stored, or framed blobs decrypted and decompressed. */
import { BlobIntegrityError } from "../errors";
import { unframeStream } from "./blob-format";
import type { Keyring } from "./keyring";

/** Whether a stored blob is framed (compressed and/or encrypted; any framed format version). */
export function isFramedBlob(object: Pick<R2Object, "customMetadata">): boolean {
  return object.customMetadata?.format?.startsWith("framed-") ?? false;
}

/**
 * The content stream of `blob`, or null when the blob is missing. With `expectedSize`, a raw blob
 * of another size is damage (BlobIntegrityError) found before any byte is read, rather than a
 * stream that ends early or runs long into a fixed-length write (framed blobs check their own).
 */
export async function openBlob(
  backup: Pick<R2Bucket, "get">,
  blob: string,
  keyring: Keyring | null,
  expectedSize?: number,
): Promise<ReadableStream<Uint8Array> | null> {
  return (await openBlobContent(backup, blob, keyring, expectedSize))?.body ?? null;
}

/**
 * As openBlob, saying whether the stream is R2's own body of a raw blob (`raw`): its length is
 * known to the runtime, so it can go to a put as it is, piped natively with no JavaScript per
 * chunk; an unframed stream is JavaScript's and needs its length given (known-length-feed.ts).
 */
export async function openBlobContent(
  backup: Pick<R2Bucket, "get">,
  blob: string,
  keyring: Keyring | null,
  expectedSize?: number,
): Promise<{ body: ReadableStream<Uint8Array>; raw: boolean } | null> {
  const object = await backup.get(blob);
  if (!object) return null;
  if (!isFramedBlob(object)) {
    if (expectedSize !== undefined && object.size !== expectedSize) {
      await object.body.cancel();
      throw new BlobIntegrityError(`${blob} holds ${object.size} bytes; the manifest records ${expectedSize}`);
    }
    return { body: object.body, raw: true };
  }
  return { body: await unframeStream(object.body, keyring), raw: false };
}
