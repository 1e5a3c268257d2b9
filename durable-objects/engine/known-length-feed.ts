/**
 * Feeding a stream into a write that needs a known length (an R2 put or a multipart part through
 * a FixedLengthStream), so that whichever side fails, the other is stopped and no promise is left
 * rejected with no one to observe it.
 *
 * Why not `source.pipeTo(fixed.writable, { signal })`: when the signal aborts while a read of a
 * JavaScript-backed source is pending (the write failed as the read behind it was failing),
 * workerd does not cancel the source; the read's failure then errors a stream nobody reads any
 * more, and the runtime reports it as an unhandled rejection (tests/unit/workerd/
 * known-length-feed.test.ts; it failed a CI run through the fault matrix). Here the feeding loop
 * holds the source's reader itself, so stopping it cancels the source, which settles a pending
 * read, and every promise involved belongs to this function.
 */
export interface KnownLengthFeed<T> {
  /** What the write returned or threw. */
  written: PromiseSettledResult<T>;
  /** Whether the source was fed to the end; its failure names the source's problem. */
  fed: PromiseSettledResult<void>;
}

export async function feedKnownLength<T>(
  source: ReadableStream<Uint8Array>,
  length: number,
  write: (body: ReadableStream<Uint8Array>) => Promise<T>,
  /** A write that succeeds without reading its body (a failed precondition) stops the feed too. */
  leftUnread: (written: T) => boolean = () => false,
): Promise<KnownLengthFeed<T>> {
  const fixed = new FixedLengthStream(length);
  const reader = source.getReader();
  const writer = fixed.writable.getWriter();
  // Both ends are released whatever state they are in; their own rejections (a cancel of a
  // stream that already failed) carry nothing the caller does not learn from `written` or `fed`.
  const stop = (reason: unknown) => Promise.allSettled([reader.cancel(reason), writer.abort(reason)]);

  const feeding = (async () => {
    try {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) await writer.write(chunk.value);
      await writer.close();
    } catch (error) {
      await stop(error);
      throw error;
    }
  })();
  const writing = write(fixed.readable);
  const stopped = writing.then(
    (written) => (leftUnread(written) ? stop(new Error("the write did not read its body")) : undefined),
    (error: unknown) => stop(error),
  );
  const [written, fed] = await Promise.allSettled([writing, feeding]);
  await stopped;
  return { written, fed };
}

/**
 * Writes a blob's content (format/blob-reader.ts, openBlobContent) with `write`: R2's own body
 * of a raw blob goes as it is, piped natively (feeding it by hand took about a third of a local
 * restore's CPU: a read, a write and their promises per chunk); a JavaScript stream through
 * feedKnownLength. The result reads the same either way.
 */
export async function writeContent<T>(
  content: { body: ReadableStream<Uint8Array>; raw: boolean },
  length: number,
  write: (body: ReadableStream<Uint8Array>) => Promise<T>,
  leftUnread: (written: T) => boolean = () => false,
): Promise<KnownLengthFeed<T>> {
  if (!content.raw) return feedKnownLength(content.body, length, write, leftUnread);
  const [written] = await Promise.allSettled([Promise.resolve().then(() => write(content.body))]);
  // A body the write never read is released. One it began to read is the write's (it is locked,
  // and cancelling it rejects with nothing the write's own failure does not say).
  if (written.status === "rejected" || leftUnread(written.value)) await Promise.allSettled([content.body.cancel()]);
  return { written, fed: { status: "fulfilled", value: undefined } };
}
