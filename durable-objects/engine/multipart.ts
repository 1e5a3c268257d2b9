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
 * read of its range and its upload), and R2 accepts a multipart upload's parts in whatever order.
 */
export const PARTS_IN_FLIGHT = 3;

/**
 * How far past the parts saved a step may start one: a slow part does not hold the others up, but
 * a crash moves again every part after the saved ones, so at most this many (moveParts).
 */
export const PARTS_AHEAD = 2 * PARTS_IN_FLIGHT;

export interface PartSpan {
  partNumber: number;
  /** Bytes `start` up to, not including, `end` of what is uploaded. */
  start: number;
  end: number;
}

/**
 * The parts a step moves: those after the first `done`, while `spent` plus their bytes stays
 * within `budget`. A step that has moved nothing yet takes one whatever its size, so every step
 * progresses.
 */
export function partsWithin(
  done: number,
  partCount: number,
  partSize: number,
  size: number,
  spent: number,
  budget: number,
): PartSpan[] {
  const spans: PartSpan[] = [];
  let bytes = spent;
  for (let index = done; index < partCount; index++) {
    const start = index * partSize;
    const end = Math.min(size, start + partSize);
    if (bytes > 0 && bytes + (end - start) > budget) break;
    spans.push({ partNumber: index + 1, start, end });
    bytes += end - start;
  }
  return spans;
}

/** A part the upload holds, as a step saves it and the upload's completion names it. */
export type MovedPart = { partNumber: number; etag: string };

const movedWell = ({ uploaded, fed }: PartOutcome) => uploaded.status === "fulfilled" && fed.status === "fulfilled";

/**
 * Moves a step's parts (`spans`, in part order) PARTS_IN_FLIGHT at once, starting the next as soon
 * as one is done. (Windows of three, each waiting for its slowest part before the next three
 * started, left connections idle whenever one part was slower than the others, as a round trip
 * across a network often is. The local latency layer has no jitter, so the benches do not show
 * it: docs/performance.md, "Parts started as others end".)
 *
 * `keep` is given the parts done from the step's first each time they grow, one call after another:
 * the caller saves them, so a crash moves again only the parts after those, and no part starts more
 * than PARTS_AHEAD past the parts `keep` has finished with. After the first part that fails, or a
 * `keep` that fails, no part starts. Returns once every part started has settled and every `keep`
 * has ended: the parts' outcomes, in part order (a part never started has none); a failed `keep`
 * is raised then.
 */
export async function moveParts(
  spans: readonly PartSpan[],
  move: (span: PartSpan) => Promise<PartOutcome>,
  keep: (parts: MovedPart[]) => Promise<void>,
): Promise<PartOutcome[]> {
  const outcomes: PartOutcome[] = [];
  let started = 0;
  let done = 0; // parts from the first that moved, handed to `keep`
  let saved = 0; // of those, the parts `keep` has finished with
  let stopped = false;
  // The first failure of `keep` (an array: a closure's assignment escapes TypeScript's narrowing).
  const keepFailures: unknown[] = [];
  let keeping = Promise.resolve();
  await new Promise<void>((allSettled) => {
    let running = 0;
    const startMore = () => {
      while (!stopped && running < PARTS_IN_FLIGHT && started < spans.length && started < saved + PARTS_AHEAD) {
        const index = started++;
        running += 1;
        // Through a promise, so that a `move` that throws at once fails its part like one that rejects.
        Promise.resolve()
          .then(() => move(spans[index]!))
          .then(
            (outcome) => settle(index, outcome),
            (reason) =>
              settle(index, { uploaded: { status: "rejected", reason }, fed: { status: "rejected", reason } }),
          );
      }
      // Nothing moving and nothing left to start: over. (Nothing moving while parts wait for the
      // saves to catch up: the save under way starts them when it ends.)
      if (running === 0 && (stopped || started === spans.length)) allSettled();
    };
    const settle = (index: number, outcome: PartOutcome) => {
      running -= 1;
      outcomes[index] = outcome;
      if (!movedWell(outcome)) stopped = true;
      const from = done;
      while (done < started && outcomes[done] && movedWell(outcomes[done]!)) done += 1;
      if (done > from) keepInTurn(outcomes.slice(from, done).map(movedPartOf));
      startMore();
    };
    const keepInTurn = (parts: MovedPart[]) => {
      keeping = keeping.then(async () => {
        if (keepFailures.length > 0) return;
        try {
          await keep(parts);
          saved += parts.length;
        } catch (error) {
          keepFailures.push(error);
          stopped = true;
        }
        startMore();
      });
    };
    startMore();
  });
  await keeping;
  if (keepFailures.length > 0) throw keepFailures[0];
  return outcomes;
}

/** Raises the first part's failure, its upload's before its feed's; returns when every part moved. */
export function raiseFirstFailure(moved: readonly PartOutcome[]): void {
  for (const { uploaded, fed } of moved) {
    if (uploaded.status === "rejected") throw uploaded.reason;
    if (fed.status === "rejected") throw fed.reason;
  }
}

const movedPartOf = ({ uploaded }: PartOutcome): MovedPart => {
  const { partNumber, etag } = (uploaded as PromiseFulfilledResult<R2UploadedPart>).value;
  return { partNumber, etag };
};

/**
 * `pipePart` of one span, over a body still to be opened: a failure to open it is the feed's
 * (nothing was uploaded). Never rejects: the outcome says which failed.
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
