/**
 * Yielding to the event loop inside long CPU-bound loops. Stream reads whose data is already
 * buffered resolve as microtasks, so a loop that hashes or seals chunk after chunk never lets an
 * incoming request run: everything else in the isolate (on `wrangler dev`, the Worker and every
 * Durable Object) waits until the loop ends. A macrotask every few MiB lets other work in.
 * (The cause of status reads that took seconds, once minutes, while a backup ran: docs/operations.md.)
 */
export const YIELD_EVERY_BYTES = 4 * 1024 * 1024;

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Counts bytes handled and yields each time another YIELD_EVERY_BYTES have passed. */
export class Cooperative {
  private pending = 0;

  async handled(bytes: number): Promise<void> {
    this.pending += bytes;
    if (this.pending < YIELD_EVERY_BYTES) return;
    this.pending = 0;
    await yieldToEventLoop();
  }
}

/**
 * A pass-through stream that yields to the event loop every YIELD_EVERY_BYTES. Kept for multipart
 * parts: piped natively, a 256 MiB object's parts kept the local stack from answering a status
 * read for minutes (`npm run bench`), so they pay the transform's cost to let requests in.
 */
export function cooperativeStream(): TransformStream<Uint8Array, Uint8Array> {
  const cooperative = new Cooperative();
  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      controller.enqueue(chunk);
      await cooperative.handled(chunk.byteLength);
    },
  });
}
