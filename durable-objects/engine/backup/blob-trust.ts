/**
 * Whether a blob found at a content-addressed name may be trusted as that content, from its
 * metadata alone (a HEAD, no read). Dedup refers every later backup to whatever sits at the name,
 * so a damaged or planted object there would be inherited by all of them; a blob that fails this
 * check is logged and written again.
 *
 *   raw blob       its size equals the content's, and its SHA-256 (R2's own checksum, else the one
 *                  recorded in its metadata) equals the content's hash;
 *   encrypted      its size equals the exact framed size of the content (header, records, tags);
 *   compressed     its recorded content size equals the content's (the compressed size cannot be
 *                  predicted); blobs written before sizes were recorded pass on their header size.
 *
 * A flipped byte inside a framed blob of the right size is beyond a HEAD: verification finds it.
 */
import { encryptedSize, HEADER_SIZE } from "../format/blob-format";
import { isFramedBlob } from "../format/blob-reader";
import { toHex } from "../format/hashing";

export interface ExpectedBlob {
  sha256: string;
  /** Content size in bytes. */
  size: number;
}

/** Null when the blob can be trusted as the expected content; otherwise why not. */
export function blobMismatch(
  existing: Pick<R2Object, "size" | "customMetadata" | "checksums">,
  expected: ExpectedBlob,
): string | null {
  const metadata = existing.customMetadata ?? {};
  if (!isFramedBlob(existing)) {
    if (existing.size !== expected.size)
      return `stored size ${existing.size} differs from the content's ${expected.size}`;
    const r2Sha256 = existing.checksums?.sha256 ? toHex(existing.checksums.sha256) : null;
    const recorded = r2Sha256 ?? metadata.sha256 ?? null;
    if (recorded === null) return "it carries no SHA-256 to compare";
    if (recorded !== expected.sha256) return `its SHA-256 ${recorded} differs from the content's ${expected.sha256}`;
    return null;
  }
  if (existing.size < HEADER_SIZE) return `stored size ${existing.size} is smaller than a framed blob's header`;
  if (metadata.contentSize !== undefined && Number(metadata.contentSize) !== expected.size) {
    return `its recorded content size ${metadata.contentSize} differs from the content's ${expected.size}`;
  }
  if (metadata.framing === "aes" && existing.size !== encryptedSize(expected.size)) {
    return `stored size ${existing.size} differs from the encrypted size ${encryptedSize(expected.size)} of the content`;
  }
  return null;
}
