/**
 * One backed-up object's content, whole or by range, as a download serves it: read from the
 * backup bucket's copy of its blob, or from the replica's when that one is missing or cannot be
 * opened (as a restore falls back), decrypted and decompressed as stored, and checked as it
 * streams (format/checked-stream.ts).
 *
 * What a read can prove:
 *   whole      the content's SHA-256 and size against the manifest's, before the last bytes go out;
 *   by range   its length; an encrypted blob's records are authenticated (AES-GCM, bound to their
 *              position), so the bytes are exactly those the engine stored there. A raw blob's
 *              range is R2's bytes as they are: the manifest records one hash for the whole
 *              object, so a part cannot be checked against it. A compressed blob is read from its
 *              start (gzip has no random access) and its range cut from the decompressed stream.
 * A copy found damaged while it streams has already sent bytes, so it cannot fall back: the
 * stream ends in an error and the caller logs it.
 */
import { byteWindow } from "./format/blob-format";
import { openRangedBlob } from "./format/blob-ranges";
import { openBlob } from "./format/blob-reader";
import { checkedContent } from "./format/checked-stream";
import type { Keyring } from "./format/keyring";
import type { ManifestEntry } from "./format/manifest";
import { isBlobIntegrityError } from "./errors";

export interface ContentCopies {
  backup: Pick<R2Bucket, "get" | "head">;
  replica: Pick<R2Bucket, "get" | "head"> | null;
  keyring: Keyring | null;
}

/** Content bytes start..end, both included. */
export interface ContentRange {
  start: number;
  end: number;
}

export type OpenedContent =
  | { kind: "content"; stream: ReadableStream<Uint8Array>; fromReplica: boolean }
  /** Neither copy could be opened; `why` names each copy's problem. */
  | { kind: "unavailable"; why: string };

/** `failed(why)` hears of a problem found while the content streams (it has already begun). */
export async function openContent(
  copies: ContentCopies,
  entry: ManifestEntry,
  range: ContentRange | null,
  failed: (why: string) => void,
): Promise<OpenedContent> {
  const expected = range ? { size: range.end - range.start + 1, sha256: null } : entry;
  const primary = await openCopy(copies.backup, copies.keyring, entry, range);
  if (typeof primary !== "string")
    return { kind: "content", stream: checkedContent(primary, expected, failed), fromReplica: false };
  if (!copies.replica) return { kind: "unavailable", why: `the backup bucket's copy is ${primary}` };
  const replica = await openCopy(copies.replica, copies.keyring, entry, range);
  if (typeof replica !== "string")
    return { kind: "content", stream: checkedContent(replica, expected, failed), fromReplica: true };
  return { kind: "unavailable", why: `the backup bucket's copy is ${primary}; the replica's is ${replica}` };
}

/** The content stream of one copy, or why it cannot be read. */
async function openCopy(
  bucket: Pick<R2Bucket, "get" | "head">,
  keyring: Keyring | null,
  entry: ManifestEntry,
  range: ContentRange | null,
): Promise<ReadableStream<Uint8Array> | string> {
  try {
    if (!range) return (await openBlob(bucket, entry.blob, keyring, entry.size)) ?? "missing";
    const blob = await openRangedBlob(bucket, entry.blob, entry.size, keyring);
    switch (blob.kind) {
      case "rangeable":
        return await blob.open(range.start, range.end + 1);
      case "missing":
        return "missing";
      case "wrong_size":
        return `unreadable (it holds ${blob.storedSize} bytes; the manifest records ${entry.size})`;
      case "unknown_key":
        return `encrypted with key ${blob.keyId}, which is not configured`;
      case "not_rangeable": {
        const whole = await openBlob(bucket, entry.blob, keyring, entry.size);
        return whole ? whole.pipeThrough(byteWindow(range.start, range.end - range.start + 1)) : "missing";
      }
    }
  } catch (error) {
    // Damage found on opening (a bad header, a raw blob of the wrong size); anything else is thrown.
    if (isBlobIntegrityError(error)) return `unreadable (${error.message})`;
    throw error;
  }
}
