/** Reads a blob's content back: raw bytes as stored, or framed blobs decrypted and decompressed. */
import { unframeStream } from "./blob-format";
import type { Keyring } from "./keyring";

/** Whether a stored blob is framed (compressed and/or encrypted; any framed format version). */
export function isFramedBlob(object: Pick<R2Object, "customMetadata">): boolean {
  return object.customMetadata?.format?.startsWith("framed-") ?? false;
}

/** The content stream of `blob`, or null when the blob is missing. */
export async function openBlob(backup: Pick<R2Bucket, "get">, blob: string, keyring: Keyring | null): Promise<ReadableStream<Uint8Array> | null> {
  const object = await backup.get(blob);
  if (!object) return null;
  if (!isFramedBlob(object)) return object.body;
  return unframeStream(object.body, keyring);
}
