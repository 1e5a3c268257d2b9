import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../durable-objects/engine/format/hashing";
import { frameStream } from "../../durable-objects/engine/format/blob-format";
import { MAX_MANIFEST_OBJECT_BYTES, manifestChunkKey, writeChunk, type ManifestEntry } from "../../durable-objects/engine/format/manifest";
import { EMPTY_CHAIN, extendChain } from "../../durable-objects/engine/format/hashing";
import { initialVerifyState, runVerifyStep, type VerifyState } from "../../durable-objects/engine/verify/verify-step";
import { MemoryBucket } from "../helpers/memory-bucket";

const codec = { compress: false, keyring: null };

async function entry(bucket: MemoryBucket, key: string, content: string): Promise<ManifestEntry> {
  const sha256 = await sha256Hex(content);
  await bucket.put(`blobs/${sha256}`, content, { customMetadata: { format: "raw", sha256 } });
  return {
    key,
    size: content.length,
    etag: "e",
    lastModified: "2026-11-01T00:00:00.000Z",
    sha256,
    blob: `blobs/${sha256}`,
    httpMetadata: {},
    customMetadata: {},
  };
}

async function manifest(bucket: MemoryBucket, chunks: ManifestEntry[][]) {
  let chain = EMPTY_CHAIN;
  for (const [seq, entries] of chunks.entries()) chain = await extendChain(chain, await writeChunk(bucket, codec, "bk-1", seq, entries));
  const all = chunks.flat();
  return { chunkCount: chunks.length, fileCount: all.length, totalSize: all.reduce((s, e) => s + e.size, 0), checksum: chain };
}

function stateFor(index: Awaited<ReturnType<typeof manifest>> | null, mode: "full" | "quick" = "full"): VerifyState {
  return initialVerifyState({
    jobId: "job-1",
    kind: "verify",
    backupId: "bk-1",
    requestedBy: "t",
    startedAt: "2026-11-01T00:00:00.000Z",
    mode,
    sample: null,
    index,
    recordedChecksum: index?.checksum ?? null,
    chunkCount: index?.chunkCount ?? 0,
    filesTotal: index?.fileCount ?? 0,
  });
}

async function runToEnd(bucket: MemoryBucket, state: VerifyState) {
  const findings = [];
  for (let steps = 0; state.stage === "running"; steps++) {
    if (steps > 50) throw new Error("verify did not end");
    state = await runVerifyStep({ backup: bucket, keyring: null, concurrency: 2, byteBudget: 1024 }, state);
    findings.push(...state.newFindings);
    state = { ...state, newFindings: [] };
  }
  return { state, findings };
}

describe("verify step (plain fake bucket)", () => {
  it("passes a whole backup and chains every chunk", async () => {
    const bucket = new MemoryBucket();
    const index = await manifest(bucket, [[await entry(bucket, "a", "alpha"), await entry(bucket, "b", "beta")], [await entry(bucket, "c", "gamma")]]);
    const { state, findings } = await runToEnd(bucket, stateFor(index));
    expect(state).toMatchObject({ outcome: "completed", filesChecked: 3, problemCount: 0, chain: index.checksum });
    expect(findings).toEqual([]);
  });

  it("finds a missing blob, a changed blob and a missing chunk, by path", async () => {
    const bucket = new MemoryBucket();
    const a = await entry(bucket, "a", "alpha");
    const b = await entry(bucket, "b", "beta");
    const index = await manifest(bucket, [[a, b], [await entry(bucket, "c", "gamma")]]);
    bucket.objects.delete(a.blob);
    await bucket.put(b.blob, "BETA");
    bucket.objects.delete(manifestChunkKey("bk-1", 1));
    const { state, findings } = await runToEnd(bucket, stateFor(index));
    expect(state).toMatchObject({ outcome: "completed", filesMissing: 1, checksumMismatches: 1 });
    expect(findings.map((f) => `${f.detail}:${f.path}`)).toEqual([
      "missing_blob:a",
      "checksum_mismatch:b",
      `missing_manifest_chunk:${manifestChunkKey("bk-1", 1)}`,
    ]);
  });

  it("quick mode reads no blob, and compares raw sizes", async () => {
    const bucket = new MemoryBucket();
    const a = await entry(bucket, "a", "alpha");
    const index = await manifest(bucket, [[a]]);
    await bucket.put(a.blob, "alphabet", { customMetadata: { format: "raw" } });
    const before = bucket.gets;
    const { findings } = await runToEnd(bucket, stateFor(index, "quick"));
    expect(bucket.gets - before).toBe(1); // the chunk, no blob
    expect(findings).toEqual([{ list: "problem", path: "a", detail: "size_mismatch", expected: "5", actual: "8" }]);
  });

  it("a chunk that cannot be read right now fails the step (retried), it is not a finding", async () => {
    const bucket = new MemoryBucket();
    const index = await manifest(bucket, [[await entry(bucket, "a", "alpha")]]);
    bucket.failing.add(manifestChunkKey("bk-1", 0));
    await expect(runVerifyStep({ backup: bucket, keyring: null, concurrency: 2, byteBudget: 1024 }, stateFor(index))).rejects.toThrow(/R2 unavailable/);
  });

  it("a compressed chunk that decodes past the manifest bound is damage, not a read of gigabytes", async () => {
    const bucket = new MemoryBucket();
    const index = await manifest(bucket, [[await entry(bucket, "a", "alpha")]]);
    const bomb = new Response(new Response(new Uint8Array(MAX_MANIFEST_OBJECT_BYTES + 1)).body!.pipeThrough(new CompressionStream("gzip"))).body!;
    const framed = new Uint8Array(await new Response(frameStream(bomb, { compress: false, key: null })).arrayBuffer());
    // A framed, gzip-flagged object: header with the gzip flag, then the gzip stream.
    const header = framed.subarray(0, 22);
    header[9] = 1;
    await bucket.put(manifestChunkKey("bk-1", 0), framed);
    expect(framed.length).toBeLessThan(100_000);
    const { findings } = await runToEnd(bucket, stateFor(index));
    expect(findings).toEqual([
      expect.objectContaining({ detail: "corrupt_manifest_chunk", actual: expect.stringMatching(/decodes to more than 8388608 bytes/) }),
    ]);
  });

  it("a backup without an index is one finding, and the end", async () => {
    const { state, findings } = await runToEnd(new MemoryBucket(), stateFor(null));
    expect(state.outcome).toBe("completed");
    expect(findings.map((f) => f.detail)).toEqual(["missing_manifest_index"]);
  });
});
