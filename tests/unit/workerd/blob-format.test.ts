import { describe, expect, it } from "vitest";
import { BlobIntegrityError } from "../../../durable-objects/engine/errors";
import {
  encryptedRange,
  encryptedSize,
  frameStream,
  HEADER_SIZE,
  RECORD_SIZE,
  unframeStream,
} from "../../../durable-objects/engine/format/blob-format";
import { loadKeyring } from "../../../durable-objects/engine/format/keyring";
import { unobservedRejections } from "../../helpers/unobserved";

const KEY_A = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
const KEY_B = btoa(String.fromCharCode(...new Uint8Array(32).fill(9)));

function content(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + (i >> 9)) & 0xff;
  return out;
}
const streamOf = (bytes: Uint8Array) => new Response(bytes).body!;
const bytesOf = async (stream: ReadableStream<Uint8Array>) => new Uint8Array(await new Response(stream).arrayBuffer());

async function frame(bytes: Uint8Array, compress: boolean, encrypt: boolean) {
  const keyring = await loadKeyring(KEY_A, []);
  return bytesOf(frameStream(streamOf(bytes), { compress, key: encrypt ? keyring.current : null }));
}

async function unframe(stored: Uint8Array, keys: { current: string; old?: string[] } = { current: KEY_A }) {
  return bytesOf(await unframeStream(streamOf(stored), await loadKeyring(keys.current, keys.old ?? [])));
}

describe("framed blobs", () => {
  const sizes = [0, 1, RECORD_SIZE - 1, RECORD_SIZE, RECORD_SIZE + 1, 3 * RECORD_SIZE + 17];
  for (const [compress, encrypt] of [
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    it(`round-trips content of every size (compress=${compress}, encrypt=${encrypt})`, async () => {
      for (const size of sizes) {
        const original = content(size);
        const stored = await frame(original, compress, encrypt);
        expect(await unframe(stored), `size ${size}`).toEqual(original);
        if (encrypt && !compress) expect(stored.length).toBe(encryptedSize(size));
      }
    });
  }

  it("compresses compressible content", async () => {
    const text = new TextEncoder().encode("backup ".repeat(20_000));
    expect((await frame(text, true, false)).length).toBeLessThan(text.length / 10);
  });

  it("encrypts the same content to the same bytes (deterministic records)", async () => {
    const original = content(2 * RECORD_SIZE + 5);
    expect(await frame(original, false, true)).toEqual(await frame(original, false, true));
  });

  it("produces any byte range of a large encrypted blob from the content alone", async () => {
    const original = content(5 * RECORD_SIZE + 123);
    const stored = await frame(original, false, true);
    const key = (await loadKeyring(KEY_A, [])).current;
    // Content arrives in odd-sized pieces, as R2 bodies do.
    const read = async (offset: number, length: number) => {
      const bytes = original.slice(offset, offset + length);
      return new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 10_007) controller.enqueue(bytes.slice(i, i + 10_007));
          controller.close();
        },
      });
    };
    for (const [start, end] of [
      [0, 10],
      [0, stored.length],
      [HEADER_SIZE, HEADER_SIZE + 1],
      [70_000, 200_000],
      [stored.length - 5, stored.length],
    ]) {
      expect(await bytesOf(encryptedRange(key, original.length, start!, end!, read)), `${start}-${end}`).toEqual(
        stored.slice(start, end),
      );
    }
  });

  async function expectRejected(stored: Uint8Array, message: RegExp, keys?: { current: string; old?: string[] }) {
    await expect(unframe(stored, keys)).rejects.toThrow(message);
    await expect(unframe(stored, keys)).rejects.toBeInstanceOf(BlobIntegrityError);
  }

  it("detects a flipped byte, swapped records and truncation", async () => {
    const stored = await frame(content(3 * RECORD_SIZE + 10), false, true);
    const flipped = stored.slice();
    flipped[HEADER_SIZE + 100] = flipped[HEADER_SIZE + 100]! ^ 1;
    await expectRejected(flipped, /record 0 failed authentication/);

    const slot = RECORD_SIZE + 32;
    const swapped = stored.slice();
    swapped.set(stored.subarray(HEADER_SIZE + slot, HEADER_SIZE + 2 * slot), HEADER_SIZE);
    swapped.set(stored.subarray(HEADER_SIZE, HEADER_SIZE + slot), HEADER_SIZE + slot);
    await expectRejected(swapped, /record 0 failed authentication/);

    await expectRejected(stored.slice(0, HEADER_SIZE + 2 * slot), /truncated/);
    await expectRejected(stored.slice(0, HEADER_SIZE + slot + 50), /ends inside record 1/);
    await expectRejected(stored.slice(0, 10), /shorter than its header/);
  });

  it("reads a blob written with an old key after rotation, and names a missing key", async () => {
    const stored = await frame(content(1000), true, true); // written with KEY_A
    expect(await unframe(stored, { current: KEY_B, old: [KEY_A] })).toEqual(content(1000));
    await expectRejected(stored, /encrypted with key [0-9a-f]{16}, which is not configured/, { current: KEY_B });
  });

  it("leaves no promise rejected unobserved when a range's read fails as its consumer goes away", async () => {
    // What a part upload that fails while the source read fails looks like (fault matrix, "die").
    const unobserved = await unobservedRejections(async () => {
      const body = encryptedRange((await loadKeyring(KEY_A, [])).current, 6_000_000, 0, 5_242_880, async () => {
        throw new Error("the source read failed");
      });
      const abort = new AbortController();
      const feeding = body.pipeTo(new FixedLengthStream(5_242_880).writable, { signal: abort.signal });
      abort.abort(new Error("the upload failed"));
      await Promise.allSettled([feeding]);
    }, 50);
    expect(unobserved).toEqual([]);
  });
});
