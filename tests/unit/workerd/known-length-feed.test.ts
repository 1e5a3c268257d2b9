import { describe, expect, it } from "vitest";
import { encryptedRange } from "../../../durable-objects/engine/format/blob-format";
import { loadKeyring } from "../../../durable-objects/engine/format/keyring";
import { feedKnownLength } from "../../../durable-objects/engine/known-length-feed";

const KEY = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `body` and returns the rejections the runtime reported as unhandled meanwhile. */
async function unobservedRejections(body: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const listener = (event: PromiseRejectionEvent) => seen.push(String(event.reason));
  addEventListener("unhandledrejection", listener);
  try {
    await body();
    await tick(60);
  } finally {
    removeEventListener("unhandledrejection", listener);
  }
  return seen;
}

/** A JavaScript-backed source whose read fails after `readDelay` ms (as a faulted R2 get). */
function failingSource(readDelay: number) {
  const state = { cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    async pull() {
      await tick(readDelay);
      throw new Error("the source read failed");
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

/** A write that fails after `delay` ms without reading its body (as a faulted part upload). */
const failingWrite = (delay: number) => async () => {
  await tick(delay);
  throw new Error("the upload failed");
};

describe("feeding a stream into a known-length write", () => {
  // The fault matrix's failure of 2026-12-06 (seed 20793): a part upload failing while the source
  // read behind it was failing. With pipeTo and an abort signal, workerd left the read's failure
  // unobserved whenever the read failed after the upload did.
  const timings: [readDelay: number, writeDelay: number][] = [
    [20, 0],
    [5, 5],
    [0, 20],
  ];
  for (const [readDelay, writeDelay] of timings) {
    it(`settles both sides and leaves nothing unobserved (read fails at ${readDelay} ms, write at ${writeDelay} ms)`, async () => {
      const source = failingSource(readDelay);
      let result: Awaited<ReturnType<typeof feedKnownLength>> | null = null;
      const unobserved = await unobservedRejections(async () => {
        result = await feedKnownLength(source.stream, 1000, failingWrite(writeDelay));
      });
      expect(unobserved).toEqual([]);
      expect(result!.written.status).toBe("rejected");
      expect(result!.fed.status).toBe("rejected");
      // A write that failed first stops the source: its pending read is cancelled, not left hanging.
      if (writeDelay < readDelay) expect(source.state.cancelled).toBe(true);
    });
  }

  it("leaves nothing unobserved for an encrypted range whose content read fails after the upload failed", async () => {
    const key = (await loadKeyring(KEY, [])).current;
    const unobserved = await unobservedRejections(async () => {
      const body = encryptedRange(key, 6_000_000, 5_242_880, 6_000_000, async () => {
        await tick(20);
        throw new Error("the source read failed");
      });
      const { written } = await feedKnownLength(body, 6_000_000 - 5_242_880 + 200, failingWrite(0));
      expect(written.status).toBe("rejected");
    });
    expect(unobserved).toEqual([]);
  });

  it("names the source's failure when the source fails and the write then sees a broken body", async () => {
    const source = failingSource(0);
    const { written, fed } = await feedKnownLength(source.stream, 1000, (body) => new Response(body).arrayBuffer());
    expect(fed.status === "rejected" && String(fed.reason)).toMatch(/the source read failed/);
    expect(written.status).toBe("rejected");
  });

  it("stops feeding when the write succeeds without reading (a failed precondition)", async () => {
    const source = failingSource(10_000);
    const { written, fed } = await feedKnownLength(
      source.stream,
      1000,
      async () => null,
      (value) => value === null,
    );
    expect(written).toEqual({ status: "fulfilled", value: null });
    expect(fed.status).toBe("rejected");
    expect(source.state.cancelled).toBe(true);
  });

  it("delivers every byte to a write that reads its body", async () => {
    const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
    const { written, fed } = await feedKnownLength(
      new Response(bytes).body!,
      bytes.length,
      async (body) => new Uint8Array(await new Response(body).arrayBuffer()),
    );
    expect(fed.status).toBe("fulfilled");
    expect(written.status === "fulfilled" && written.value).toEqual(bytes);
  });
});
