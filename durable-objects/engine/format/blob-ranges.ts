/**
 * Reading a stored blob by content range, where its format allows it: a raw blob by ranged reads,
 * an encrypted (uncompressed) one by the records that hold the range, each authenticated as it is
 * decrypted. A compressed blob has no random access (gzip), so it cannot be read by range.
 * Used by a large object's restore (part by part) and by the download of one object by range.
 */
import { decodeHeader, decryptedRange, HEADER_SIZE, recordSpan } from "./blob-format";
import { isFramedBlob } from "./blob-reader";
import type { Keyring } from "./keyring";

export type RangedBlob =
  /** `open(start, end)` streams content bytes [start, end). */
  | { kind: "rangeable"; encrypted: boolean; open: (start: number, end: number) => Promise<ReadableStream<Uint8Array>> }
  | { kind: "missing" }
  /** A raw blob is the content itself: another size is damage (a framed blob that lost its metadata, say). */
  | { kind: "wrong_size"; storedSize: number }
  | { kind: "not_rangeable" }
  /** Encrypted with a key this deployment does not have. */
  | { kind: "unknown_key"; keyId: string };

/**
 * `blob` (holding `size` content bytes) in `backup`, opened for ranged reads. A header that is not
 * a blob header throws BlobIntegrityError (damage, for the caller to report).
 */
export async function openRangedBlob(
  backup: Pick<R2Bucket, "get" | "head">,
  blob: string,
  size: number,
  keyring: Keyring | null,
): Promise<RangedBlob> {
  const head = await backup.head(blob);
  if (!head) return { kind: "missing" };
  const readStored = async (offset: number, length: number) => {
    const object = await backup.get(blob, { range: { offset, length } });
    if (!object || !("body" in object)) throw new Error(`blob ${blob} vanished while it was read`);
    return object.body;
  };
  if (!isFramedBlob(head)) {
    if (head.size !== size) return { kind: "wrong_size", storedSize: head.size };
    return { kind: "rangeable", encrypted: false, open: (start, end) => readStored(start, end - start) };
  }
  // Bounded: a ranged read of the 22-byte header.
  const headerBytes = new Uint8Array(await new Response(await readStored(0, HEADER_SIZE)).arrayBuffer());
  const header = decodeHeader(headerBytes);
  if (header.compressed) return { kind: "not_rangeable" };
  const key = header.encrypted ? keyring?.byId.get(header.keyId!) : undefined;
  if (!key) return { kind: "unknown_key", keyId: header.keyId ?? "(none)" };
  return {
    kind: "rangeable",
    encrypted: true,
    open: async (start, end) => {
      const span = recordSpan(size, start, end);
      return decryptedRange(
        key,
        headerBytes,
        size,
        start,
        end,
        await readStored(span.storedStart, span.storedEnd - span.storedStart),
      );
    },
  };
}
