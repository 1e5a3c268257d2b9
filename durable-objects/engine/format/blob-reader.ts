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
  const object = await backup.get(blob);
  if (!object) return null;
  if (!isFramedBlob(object)) {
    if (expectedSize !== undefined && object.size !== expectedSize) {
      await object.body.cancel();
      throw new BlobIntegrityError(`${blob} holds ${object.size} bytes; the manifest records ${expectedSize}`);
    }
    return object.body;
  }
  return unframeStream(object.body, keyring);
}
