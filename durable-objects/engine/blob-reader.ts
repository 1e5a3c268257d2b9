/** Reads a blob's content back: raw bytes as stored, or framed blobs decrypted and decompressed. */
import { unframeStream } from "./blob-format";
import type { Keyring } from "./keyring";

/** The content stream of `blob`, or null when the blob is missing. */
export async function openBlob(backup: R2Bucket, blob: string, keyring: Keyring | null): Promise<ReadableStream<Uint8Array> | null> {
  const object = await backup.get(blob);
  if (!object) return null;
  if (object.customMetadata?.format !== "framed-v1") return object.body;
  return unframeStream(object.body, keyring);
}

