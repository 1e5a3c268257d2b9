/**
 * Content passed on as it is read while it is checked against what the manifest records: always
 * its length, and for a whole object its SHA-256. The last chunk read is held back until the
 * checks pass, so a reader never receives every byte of a wrong copy: a mismatch (or a read that
 * fails) errors the stream instead, and a download served from it ends short of its
 * Content-Length, as a failed transfer. Memory: one chunk held, whatever the object's size.
 */
import { errorMessage } from "../errors";
import { toHex } from "./hashing";

export interface ExpectedContent {
  size: number;
  /** Null for a part of an object, whose hash the manifest does not record. */
  sha256: string | null;
}

/** `failed(why)` is told once why the stream was ended with an error (for the log). */
export function checkedContent(
  content: ReadableStream<Uint8Array>,
  expected: ExpectedContent,
  failed: (why: string) => void,
): ReadableStream<Uint8Array> {
  const reader = content.getReader();
  const digest = expected.sha256 === null ? null : new crypto.DigestStream("SHA-256");
  const hashing = digest?.getWriter() ?? null;
  // Observed here: a stream ended early leaves the digest rejected, which is no failure of its own.
  digest?.digest.catch(() => undefined);
  let held: Uint8Array | null = null;
  let size = 0;

  const fail = async (controller: ReadableStreamDefaultController<Uint8Array>, why: string, cause?: unknown) => {
    failed(why);
    await hashing?.abort(cause).catch(() => undefined);
    await reader.cancel(cause).catch(() => undefined);
    controller.error(new Error(why));
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        return fail(controller, `reading the backup's copy failed: ${errorMessage(error)}`, error);
      }
      if (!chunk.done) {
        size += chunk.value.byteLength;
        if (size > expected.size)
          return fail(controller, `the backup's copy holds more than the ${expected.size} bytes expected`);
        await hashing?.write(chunk.value);
        if (held) controller.enqueue(held);
        held = chunk.value;
        return;
      }
      if (size !== expected.size)
        return fail(controller, `the backup's copy ended after ${size} of ${expected.size} bytes`);
      if (hashing && digest) {
        await hashing.close();
        const sha256 = toHex(await digest.digest);
        if (sha256 !== expected.sha256)
          return fail(
            controller,
            `the backup's copy does not match its checksum (expected ${expected.sha256}, read ${sha256})`,
          );
      }
      if (held) controller.enqueue(held);
      controller.close();
    },
    async cancel(reason) {
      await hashing?.abort(reason).catch(() => undefined);
      await reader.cancel(reason);
    },
  });
}
