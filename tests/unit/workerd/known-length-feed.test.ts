import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { encryptedRange } from "../../../durable-objects/engine/format/blob-format";
import { loadKeyring } from "../../../durable-objects/engine/format/keyring";
import { feedKnownLength, writeContent } from "../../../durable-objects/engine/known-length-feed";
import { unobservedRejections } from "../../helpers/unobserved";

const KEY = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

/**
 * A body of the runtime's own kind, as R2 gives (a FixedLengthStream's readable side), fed by
 * the test: `send` writes bytes, `fail` breaks it mid-way as a lost connection would, and
 * `released` settles once the side that holds the body cancels it.
 */
function nativeBody(length: number) {
  const stream = new FixedLengthStream(length);
  const writer = stream.writable.getWriter();
  // A write waits for the reader to take it (the runtime's streams hold no queue), so a first
  // write left waiting rejects once the body is cancelled, and resolves if it is read.
  const released = writer.write(new Uint8Array(1)).then(
    () => "read",
    () => "released",
  );
  return {
    body: stream.readable,
    send: (bytes: Uint8Array) => writer.write(bytes),
    fail: (reason: Error) => writer.abort(reason),
    released,
  };
}

describe("writing R2's own body as it is (writeContent, a raw blob)", () => {
  const bytes = new Uint8Array(200_000).map((_, i) => (i * 31) % 251);
  const put =
    (key: string, options: R2PutOptions = {}) =>
    (body: ReadableStream<Uint8Array>) =>
      env.R2_BUCKET.put(key, body, options);

  it("puts every byte of a raw body, piped by the runtime", async () => {
    await env.R2_BUCKET.put("feed/source", bytes);
    const source = (await env.R2_BUCKET.get("feed/source"))!;
    const { written, fed } = await writeContent({ body: source.body, raw: true }, bytes.length, put("feed/copy"));
    expect(fed.status).toBe("fulfilled");
    expect(written.status).toBe("fulfilled");
    expect(new Uint8Array(await (await env.R2_BUCKET.get("feed/copy"))!.arrayBuffer())).toEqual(bytes);
  });

  // The local R2 simulator logs "Can't read from request stream because client disconnected"
  // here: its own side of the broken upload, in its own worker; nothing of ours is left unobserved.
  it("rejects the write when the raw body breaks mid-way, stores nothing and leaves nothing unobserved", async () => {
    const native = nativeBody(bytes.length);
    let result: Awaited<ReturnType<typeof writeContent>> | null = null;
    const unobserved = await unobservedRejections(async () => {
      const feeding = (async () => {
        await native.send(bytes.slice(0, 64 * 1024));
        await native.fail(new Error("the connection broke"));
      })();
      result = await writeContent({ body: native.body, raw: true }, bytes.length, put("feed/broken"));
      await feeding;
    });
    expect(unobserved).toEqual([]);
    expect(result!.written.status).toBe("rejected");
    expect(await env.R2_BUCKET.head("feed/broken")).toBeNull();
  });

  it("leaves the object in place when its precondition fails (the local R2 reads the body first), nothing unobserved", async () => {
    await env.R2_BUCKET.put("feed/source", bytes);
    await env.R2_BUCKET.put("feed/taken", "someone else's");
    const source = (await env.R2_BUCKET.get("feed/source"))!;
    let skipped: Awaited<ReturnType<typeof writeContent>> | null = null;
    const unobserved = await unobservedRejections(async () => {
      skipped = await writeContent(
        { body: source.body, raw: true },
        bytes.length,
        put("feed/taken", { onlyIf: { etagDoesNotMatch: "*" } }),
        (value) => value === null,
      );
    });
    expect(unobserved).toEqual([]);
    expect(skipped!.written).toEqual({ status: "fulfilled", value: null });
    expect(await (await env.R2_BUCKET.get("feed/taken"))!.text()).toBe("someone else's");
  });

  it("releases a raw body the write never read (a write that throws before it reads)", async () => {
    const refused = nativeBody(bytes.length);
    const thrown = await writeContent({ body: refused.body, raw: true }, bytes.length, () => {
      throw new Error("refused before reading");
    });
    expect(thrown.written.status === "rejected" && String(thrown.written.reason)).toMatch(/refused before reading/);
    // Were the body never released, this would wait forever: a second is ample.
    expect(await Promise.race([refused.released, tick(1000).then(() => "still held")])).toBe("released");
  });
});
