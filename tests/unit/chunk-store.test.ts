/**
 * Storing manifest chunks (engine/format/chunk-store.ts, storeChunks): several at once, as a
 * fan-out's join or a backup's last step writes them, each counted once for the backup that
 * stored it, whatever order the writes end in.
 */
import { describe, expect, it } from "vitest";
import { storeChunks } from "../../durable-objects/engine/format/chunk-store";
import type { NewChunk } from "../../durable-objects/engine/format/manifest-tree";
import { HeldCalls } from "../helpers/held-calls";

const PLAIN = { compress: false, keyring: null };

const chunkOf = (i: number): NewChunk => ({
  ref: { name: `name-${i}`, level: 0, firstKey: `k${i}`, entries: 1, leaves: 1 },
  text: `chunk ${i}`.padEnd(10 + i, "."),
});

/** A bucket whose puts wait until released; a put `only if absent` over an existing key answers null. */
class HeldBucket {
  readonly stored = new Map<string, { size: number; customMetadata: Record<string, string> }>();
  readonly calls = new HeldCalls();
  async put(key: string, body: string, options: R2PutOptions) {
    await this.calls.hold();
    if (options.onlyIf && this.stored.has(key)) return null;
    const object = { size: body.length, customMetadata: options.customMetadata as Record<string, string> };
    this.stored.set(key, object);
    return object;
  }
  async head(key: string) {
    return this.stored.get(key) ?? null;
  }
}

describe("storing manifest chunks", () => {
  it("writes 6 at once, and counts each of the 9 once", async () => {
    const bucket = new HeldBucket();
    const chunks = Array.from({ length: 9 }, (_, i) => chunkOf(i));
    const storing = storeChunks(bucket as unknown as R2Bucket, PLAIN, chunks, "rewrite", "backup-1");
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
    expect(bucket.calls.waiting).toHaveLength(6);
    await bucket.calls.releaseUntil(storing);
    const bytes = chunks.reduce((sum, c) => sum + c.text.length, 0);
    expect(await storing).toEqual({ chunks: 9, bytes });
    expect([...bucket.stored.keys()].sort()).toEqual(chunks.map((c) => `chunks/${c.ref.name}`).sort());
  });

  it("counts a chunk already there only if this backup stored it (a replayed step)", async () => {
    const bucket = new HeldBucket();
    const [ours, theirs, fresh] = [chunkOf(1), chunkOf(2), chunkOf(3)];
    bucket.stored.set(`chunks/${ours.ref.name}`, { size: ours.text.length, customMetadata: { writer: "backup-1" } });
    bucket.stored.set(`chunks/${theirs.ref.name}`, { size: 999, customMetadata: { writer: "backup-0" } });
    const storing = storeChunks(bucket as unknown as R2Bucket, PLAIN, [ours, theirs, fresh], "if-absent", "backup-1");
    await bucket.calls.releaseUntil(storing);
    expect(await storing).toEqual({ chunks: 2, bytes: ours.text.length + fresh.text.length });
  });
});
