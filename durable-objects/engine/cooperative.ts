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
 * Copies `source` into `writable` chunk by chunk, yielding every YIELD_EVERY_BYTES. A plain read
 * loop rather than a pipe through a TransformStream: measured in workerd, each JavaScript
 * TransformStream in a pipe halves the throughput of large bodies (64 MiB hashed: ~0.5 s by a read
 * loop or a native pipe, ~1.4 s through two transforms). Never rejects: a failure on either side
 * aborts the other with the reason, which is how the consumer learns of it.
 */
export async function pumpCooperatively(source: ReadableStream<Uint8Array>, writable: WritableStream<Uint8Array>, signal?: AbortSignal): Promise<void> {
  const reader = source.getReader();
  const writer = writable.getWriter();
  const cooperative = new Cooperative();
  // Aborting rejects a write waiting on a consumer that has gone (a put that failed its precondition).
  const stop = () => {
    writer.abort(signal?.reason).catch(() => undefined);
    reader.cancel(signal?.reason).catch(() => undefined);
  };
  signal?.addEventListener("abort", stop, { once: true });
  try {
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      const { done, value } = await reader.read();
      if (done) break;
      await writer.write(value);
      await cooperative.handled(value.byteLength);
    }
    await writer.close();
  } catch (error) {
    await writer.abort(error).catch(() => undefined);
    await reader.cancel(error).catch(() => undefined);
    throw error;
  } finally {
    signal?.removeEventListener("abort", stop);
  }
}

/** `stream` with cooperative yields, keeping the known length R2 needs for a streamed put. */
export function cooperativeFixed(stream: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  const fixed = new FixedLengthStream(length);
  // The put reading `fixed.readable` sees any failure as an aborted body; the pump's own
  // rejection is therefore observed here, never left unhandled.
  pumpCooperatively(stream, fixed.writable).catch(() => undefined);
  return fixed.readable;
}
