/** Multipart uploads, as backup and restore both use them: part sizing and streamed parts. */
import { feedKnownLength } from "./known-length-feed";

/** R2 allows 10,000 parts: larger objects get larger parts (whole MiB), up to R2's object limit. */
export const MAX_PARTS = 10_000;
export function partSizeFor(storedSize: number, configured: number): number {
  const MiB = 1024 * 1024;
  return Math.max(configured, Math.ceil(storedSize / MAX_PARTS / MiB) * MiB);
}

/**
 * Uploads one multipart part whose body is produced by a stream (encrypted on the fly, or hashed
 * on the way), with the known length R2 needs. The upload and the stream feeding it can each
 * fail on their own; both are settled before returning (known-length-feed.ts), and the caller
 * decides which failure names the problem.
 */
export async function pipePart(
  upload: Pick<R2MultipartUpload, "uploadPart">,
  partNumber: number,
  length: number,
  source: ReadableStream<Uint8Array>,
): Promise<{ uploaded: PromiseSettledResult<R2UploadedPart>; fed: PromiseSettledResult<void> }> {
  const { written, fed } = await feedKnownLength(source, length, (body) => upload.uploadPart(partNumber, body));
  return { uploaded: written, fed };
}
