/** Multipart uploads, as backup and restore both use them: part sizing and streamed parts. */
import { feedKnownLength } from "./known-length-feed";

/** R2 allows 10,000 parts: larger objects get larger parts (whole MiB), up to R2's object limit. */
export const MAX_PARTS = 10_000;
export function partSizeFor(storedSize: number, configured: number): number {
  const MiB = 1024 * 1024;
  return Math.max(configured, Math.ceil(storedSize / MAX_PARTS / MiB) * MiB);
}

/** How one part's upload went, and the stream that fed it (each can fail on its own). */
export type PartOutcome = { uploaded: PromiseSettledResult<R2UploadedPart>; fed: PromiseSettledResult<void> };

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
): Promise<PartOutcome> {
  const { written, fed } = await feedKnownLength(source, length, (body) => upload.uploadPart(partNumber, body));
  return { uploaded: written, fed };
}

/**
 * Parts moved at once within one job object: each holds two of its six outgoing connections (the
 * read of its range and its upload), and R2 accepts a multipart upload's parts in whatever order. A
 * step saves its parts once the whole window is in, so a crash moves at most this many again.
 */
export const PARTS_IN_FLIGHT = 3;

export interface PartSpan {
  partNumber: number;
  /** Bytes `start` up to, not including, `end` of what is uploaded. */
  start: number;
  end: number;
}

/**
 * The parts a step moves next, together: those after the first `done`, at most PARTS_IN_FLIGHT,
 * while `spent` plus their bytes stays within `budget`. A step that has moved nothing yet takes
 * one whatever its size, so every step progresses.
 */
export function nextParts(
  done: number,
  partCount: number,
  partSize: number,
  size: number,
  spent: number,
  budget: number,
): PartSpan[] {
  const window: PartSpan[] = [];
  let bytes = spent;
  for (let index = done; index < partCount && window.length < PARTS_IN_FLIGHT; index++) {
    const start = index * partSize;
    const end = Math.min(size, start + partSize);
    if (bytes > 0 && bytes + (end - start) > budget) break;
    window.push({ partNumber: index + 1, start, end });
    bytes += end - start;
  }
  return window;
}

/**
 * `pipePart` of one span of a window, over a body still to be opened: a failure to open it is the
 * feed's (nothing was uploaded). Never rejects, so a window's parts all settle before the step
 * goes on, whichever fails.
 */
export async function movePart(
  upload: Pick<R2MultipartUpload, "uploadPart">,
  span: PartSpan,
  open: () => ReadableStream<Uint8Array> | Promise<ReadableStream<Uint8Array>>,
): Promise<PartOutcome> {
  let body: ReadableStream<Uint8Array>;
  try {
    body = await open();
  } catch (reason) {
    const failed: PromiseRejectedResult = { status: "rejected", reason };
    return { uploaded: failed, fed: failed };
  }
  return pipePart(upload, span.partNumber, span.end - span.start, body);
}

/** The parts of a window that moved, in order, up to the first that did not. */
export function finishedPrefix(moved: readonly PartOutcome[]): { partNumber: number; etag: string }[] {
  const kept: { partNumber: number; etag: string }[] = [];
  for (const { uploaded, fed } of moved) {
    if (uploaded.status !== "fulfilled" || fed.status !== "fulfilled") break;
    kept.push({ partNumber: uploaded.value.partNumber, etag: uploaded.value.etag });
  }
  return kept;
}
