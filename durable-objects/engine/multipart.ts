/** Multipart uploads, as backup and restore both use them: part sizing and streamed parts. */

/** R2 allows 10,000 parts: larger objects get larger parts (whole MiB), up to R2's object limit. */
export const MAX_PARTS = 10_000;
export function partSizeFor(storedSize: number, configured: number): number {
  const MiB = 1024 * 1024;
  return Math.max(configured, Math.ceil(storedSize / MAX_PARTS / MiB) * MiB);
}

/**
 * Uploads one multipart part whose body is produced by a stream (encrypted on the fly, or hashed
 * on the way), with the known length R2 needs. The upload and the pipe feeding it can each fail
 * on their own: an upload that fails before reading its body would leave the pipe waiting on
 * backpressure forever, so its failure aborts the pipe. Both are settled before returning, so
 * neither failure goes unobserved, and the caller decides which one names the problem.
 */
export async function pipePart(
  upload: Pick<R2MultipartUpload, "uploadPart">,
  partNumber: number,
  length: number,
  source: ReadableStream<Uint8Array>,
): Promise<{ uploaded: PromiseSettledResult<R2UploadedPart>; fed: PromiseSettledResult<void> }> {
  const fixed = new FixedLengthStream(length);
  const abort = new AbortController();
  const feeding = source.pipeTo(fixed.writable, { signal: abort.signal });
  const uploading = upload.uploadPart(partNumber, fixed.readable);
  uploading.catch((error: unknown) => abort.abort(error));
  const [uploaded, fed] = await Promise.allSettled([uploading, feeding]);
  return { uploaded, fed };
}
