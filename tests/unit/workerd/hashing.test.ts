/**
 * Hashing R2's own bodies by a native pipe (format/hashing.ts, sha256OfR2Body) on the real local
 * R2: the same digest and head as the read loop, for bodies shorter and longer than the head, and
 * a body that fails (a JavaScript one after its head, a native one within or after it) rejects and
 * leaves no rejection unobserved.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex, sha256OfR2Body, sha256OfStream } from "../../../durable-objects/engine/format/hashing";
import { unobservedRejections } from "../../helpers/unobserved";

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function bytesOf(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7919 + (i >> 9)) % 251;
  return bytes;
}

describe("hashing R2's own bodies natively", () => {
  it("gives the read loop's digest and head, whatever the body's size against the head", async () => {
    for (const [size, headBytes] of [
      [3 * 1024 * 1024 + 17, 4096],
      [100, 4096],
      [0, 4096],
      [70_000, 0],
    ] as const) {
      const bytes = bytesOf(size);
      await env.R2_BUCKET.put("hash/object", bytes);
      const native = await sha256OfR2Body((await env.R2_BUCKET.get("hash/object"))!.body, headBytes);
      const loop = await sha256OfStream((await env.R2_BUCKET.get("hash/object"))!.body, headBytes);
      expect(native.sha256).toBe(await sha256Hex(bytes));
      expect(native.sha256).toBe(loop.sha256);
      expect(native.head).toEqual(bytes.slice(0, headBytes));
    }
  });

  it("rejects with the body's failure after its head, and leaves nothing unobserved", async () => {
    const unobserved = await unobservedRejections(async () => {
      let chunks = 0;
      const failing = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await tick(2);
          if (++chunks > 3) throw new Error("the read failed");
          controller.enqueue(bytesOf(1024));
        },
      });
      await expect(sha256OfR2Body(failing, 1500)).rejects.toThrow("the read failed");
    });
    expect(unobserved).toEqual([]);
  });

  // R2's bodies are the runtime's own streams, not JavaScript ones: a FixedLengthStream's readable
  // side is one too, and aborting its writable side fails it mid-body as a broken connection would.
  for (const failAfter of [1, 5]) {
    it(`rejects when a native body fails mid-way (after ${failAfter} KiB, ${failAfter < 2 ? "within" : "after"} the head), leaving nothing unobserved`, async () => {
      const unobserved = await unobservedRejections(async () => {
        const native = new FixedLengthStream(64 * 1024);
        const writer = native.writable.getWriter();
        const feeding = (async () => {
          for (let i = 0; i < failAfter; i++) await writer.write(bytesOf(1024));
          await writer.abort(new Error("the connection broke"));
        })();
        await expect(sha256OfR2Body(native.readable, 2048)).rejects.toThrow("the connection broke");
        await feeding;
      });
      expect(unobserved).toEqual([]);
    });
  }
});
