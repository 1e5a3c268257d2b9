/**
 * One object's SHA-256 fed stream after stream, in order, by whichever means fits the work: the
 * native digest (crypto.DigestStream, about 15× the JavaScript hash in workerd) when the whole
 * object is hashed within one step, or the resumable JavaScript hash when its state must ride in
 * a checkpoint to the next step. Both yield to the event loop as they go (cooperative.ts).
 */
import { Cooperative } from "../cooperative";
import { toHex } from "./hashing";
import { ResumableSha256, type Sha256State } from "./resumable-sha256";

export interface OrderedSha256 {
  /** Hashes the stream to its end, after everything fed before it. */
  feed(stream: ReadableStream<Uint8Array>): Promise<void>;
  /** The state to checkpoint, or null when it cannot be saved (the native digest's). */
  saved(): Sha256State | null;
  /** Finishes the hash; nothing may be fed afterwards. */
  digestHex(): Promise<string>;
}

/** Reads `stream` to its end, handing each chunk to `take`; a failure cancels the stream. */
async function eachChunk(
  stream: ReadableStream<Uint8Array>,
  cooperative: Cooperative,
  take: (chunk: Uint8Array) => unknown,
): Promise<void> {
  const reader = stream.getReader();
  try {
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      await take(chunk.value);
      await cooperative.handled(chunk.value.byteLength);
    }
  } catch (error) {
    await reader.cancel(error).catch(() => undefined);
    throw error;
  }
}

/** Native: fast, but its state lives only as long as this step. */
export function nativeSha256(): OrderedSha256 {
  const digest = new crypto.DigestStream("SHA-256");
  // Awaited by digestHex; a hash given up on (its restore failed) is never finished, so observed here.
  digest.digest.catch(() => undefined);
  const writer = digest.getWriter();
  const cooperative = new Cooperative();
  return {
    feed: (stream) => eachChunk(stream, cooperative, (chunk) => writer.write(chunk)),
    saved: () => null,
    async digestHex() {
      await writer.close();
      return toHex(await digest.digest);
    },
  };
}

/** Resumable: continues from a checkpointed state, and its state can be checkpointed again. */
export function resumableSha256(state?: Sha256State): OrderedSha256 {
  const hasher = new ResumableSha256(state);
  const cooperative = new Cooperative();
  return {
    feed: (stream) => eachChunk(stream, cooperative, (chunk) => hasher.update(chunk)),
    saved: () => hasher.state(),
    digestHex: async () => hasher.digestHex(),
  };
}
