import { describe, expect, it } from "vitest";
import { EMPTY_CHAIN, extendChain, sha256Hex } from "../../../durable-objects/engine/format/hashing";
import { frameStream } from "../../../durable-objects/engine/format/blob-format";
import {
  MAX_MANIFEST_OBJECT_BYTES,
  v1ChunkKey,
  type ManifestEntry,
} from "../../../durable-objects/engine/format/manifest";
import { openManifest, requireLeaf, type PathStep } from "../../../durable-objects/engine/format/manifest-reader";
import { chunkKey } from "../../../durable-objects/engine/format/manifest-tree";
import {
  initialVerifyState,
  runVerifyStep,
  type VerifyState,
} from "../../../durable-objects/engine/verify/verify-step";
import { leafEndingKey, writeManifest, writeV1Manifest } from "../../helpers/manifest";
import { MemoryBucket } from "../../helpers/memory-bucket";

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

const manifest = (bucket: MemoryBucket, entries: ManifestEntry[]) => writeManifest(bucket, "bk-1", entries);

/** The storage key of leaf `seq` of a version 2 manifest. */
async function leafKey(
  bucket: MemoryBucket,
  index: Awaited<ReturnType<typeof manifest>>,
  seq: number,
): Promise<string> {
  const path = (await openManifest(bucket, null, index).path(seq)) as PathStep[];
  return chunkKey(path.at(-1)!.ref.name);
}

type Index = Awaited<ReturnType<typeof manifest>> | Awaited<ReturnType<typeof writeV1Manifest>>;

function stateFor(index: Index | null, mode: "full" | "quick" = "full"): VerifyState {
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
    ...(index && "root" in index ? { root: index.root } : {}),
    filesTotal: index?.fileCount ?? 0,
  });
}

async function runToEnd(bucket: MemoryBucket, state: VerifyState) {
  const findings = [];
  for (let steps = 0; state.stage === "running"; steps++) {
    if (steps > 50) throw new Error("verify did not end");
    state = await runVerifyStep(
      { backup: bucket, keyring: null, concurrency: 2, byteBudget: 1024, wholeHashBytes: 1024 * 1024 },
      state,
    );
    findings.push(...state.newFindings);
    state = { ...state, newFindings: [] };
  }
  return { state, findings };
}

describe("verify step (plain fake bucket)", () => {
  it("passes a whole backup: version 3 checked by its root, version 2 by the chain over its leaves", async () => {
    const bucket = new MemoryBucket();
    const b = leafEndingKey("b");
    const index = await manifest(bucket, [
      await entry(bucket, "a", "alpha"),
      await entry(bucket, b, "beta"),
      await entry(bucket, "c", "gamma"),
    ]);
    expect(index.chunkCount).toBe(2);
    expect(index.checksum).toBe(index.root!.name);
    const { state, findings } = await runToEnd(bucket, stateFor(index));
    expect(state).toMatchObject({ outcome: "completed", filesChecked: 3, problemCount: 0 });
    expect(findings).toEqual([]);

    // The same tree as a version 2 snapshot: its checksum is the chain, and the root's name is not it.
    let chain = EMPTY_CHAIN;
    for (const seq of [0, 1])
      chain = await extendChain(chain, (await requireLeaf(openManifest(bucket, null, index), seq)).sha256);
    const v2 = await runToEnd(bucket, stateFor({ ...index, version: 2 as never, checksum: chain }));
    expect(v2.state).toMatchObject({ outcome: "completed", problemCount: 0, chain });
    const misread = await runToEnd(bucket, stateFor({ ...index, version: 2 as never }));
    expect(misread.findings.map((f) => f.detail)).toEqual(["manifest_checksum_mismatch"]);
  });

  it("finds a missing blob, a changed blob and a missing chunk, by path", async () => {
    const bucket = new MemoryBucket();
    const a = await entry(bucket, "a", "alpha");
    const b = await entry(bucket, leafEndingKey("b"), "beta");
    const index = await manifest(bucket, [a, b, await entry(bucket, "c", "gamma")]);
    bucket.objects.delete(a.blob);
    await bucket.put(b.blob, "BETA");
    const secondLeaf = await leafKey(bucket, index, 1);
    bucket.objects.delete(secondLeaf);
    const { state, findings } = await runToEnd(bucket, stateFor(index));
    expect(state).toMatchObject({ outcome: "completed", filesMissing: 1, checksumMismatches: 1, chainBroken: true });
    expect(findings.map((f) => `${f.detail}:${f.path}`)).toEqual([
      `missing_blob:a`,
      `checksum_mismatch:${b.key}`,
      `missing_manifest_chunk:${secondLeaf}`,
    ]);
  });

  it("a chunk swapped for another one's content is damage: its content is not what its name hashes", async () => {
    const bucket = new MemoryBucket();
    const index = await manifest(bucket, [
      await entry(bucket, leafEndingKey("a"), "alpha"),
      await entry(bucket, "c", "gamma"),
    ]);
    const [first, second] = [await leafKey(bucket, index, 0), await leafKey(bucket, index, 1)];
    await bucket.put(first, await (await bucket.get(second))!.text());
    const { findings } = await runToEnd(bucket, stateFor(index));
    expect(findings).toEqual([
      expect.objectContaining({
        path: first,
        detail: "corrupt_manifest_chunk",
        actual: expect.stringMatching(/not hold the content its name/),
      }),
    ]);
  });

  it("a missing index page is one finding, and the leaves under it are skipped together", async () => {
    const bucket = new MemoryBucket();
    const entries = [];
    for (const prefix of ["a", "b", "c"]) entries.push(await entry(bucket, leafEndingKey(prefix), prefix));
    const index = await manifest(bucket, entries);
    expect(index.root!.level).toBeGreaterThan(0);
    bucket.objects.delete(chunkKey(index.root!.name));
    const { state, findings } = await runToEnd(bucket, stateFor(index));
    expect(findings.map((f) => `${f.detail}:${f.path}`)).toEqual([
      `missing_manifest_chunk:${chunkKey(index.root!.name)}`,
    ]);
    expect(state).toMatchObject({ outcome: "completed", chainBroken: true, nextChunkSeq: 3 });
  });

  it("a version 1 manifest still verifies, and its missing chunk is a finding", async () => {
    const bucket = new MemoryBucket();
    const index = await writeV1Manifest(bucket, "bk-1", [
      [await entry(bucket, "a", "alpha")],
      [await entry(bucket, "b", "beta")],
    ]);
    const clean = await runToEnd(bucket, stateFor(index));
    expect(clean.state).toMatchObject({
      outcome: "completed",
      filesChecked: 2,
      problemCount: 0,
      chain: index.checksum,
    });
    bucket.objects.delete(v1ChunkKey("bk-1", 1));
    const { findings } = await runToEnd(bucket, stateFor(index));
    expect(findings.map((f) => `${f.detail}:${f.path}`)).toEqual([`missing_manifest_chunk:${v1ChunkKey("bk-1", 1)}`]);
  });

  it("quick mode reads no blob, and compares raw sizes", async () => {
    const bucket = new MemoryBucket();
    const a = await entry(bucket, "a", "alpha");
    const index = await manifest(bucket, [a]);
    await bucket.put(a.blob, "alphabet", { customMetadata: { format: "raw" } });
    const before = bucket.gets;
    const { findings } = await runToEnd(bucket, stateFor(index, "quick"));
    expect(bucket.gets - before).toBe(1); // the chunk, no blob
    expect(findings).toEqual([{ list: "problem", path: "a", detail: "size_mismatch", expected: "5", actual: "8" }]);
  });

  it("a chunk that cannot be read right now fails the step (retried), it is not a finding", async () => {
    const bucket = new MemoryBucket();
    const index = await manifest(bucket, [await entry(bucket, "a", "alpha")]);
    bucket.failing.add(await leafKey(bucket, index, 0));
    await expect(
      runVerifyStep(
        { backup: bucket, keyring: null, concurrency: 2, byteBudget: 1024, wholeHashBytes: 1024 * 1024 },
        stateFor(index),
      ),
    ).rejects.toThrow(/R2 unavailable/);
  });

  it("a compressed chunk that decodes past the manifest bound is damage, not a read of gigabytes", async () => {
    const bucket = new MemoryBucket();
    const index = await manifest(bucket, [await entry(bucket, "a", "alpha")]);
    const bomb = new Response(
      new Response(new Uint8Array(MAX_MANIFEST_OBJECT_BYTES + 1)).body!.pipeThrough(new CompressionStream("gzip")),
    ).body!;
    const framed = new Uint8Array(await new Response(frameStream(bomb, { compress: false, key: null })).arrayBuffer());
    // A framed, gzip-flagged object: header with the gzip flag, then the gzip stream.
    const header = framed.subarray(0, 22);
    header[9] = 1;
    await bucket.put(await leafKey(bucket, index, 0), framed);
    expect(framed.length).toBeLessThan(100_000);
    const { findings } = await runToEnd(bucket, stateFor(index));
    expect(findings).toEqual([
      expect.objectContaining({
        detail: "corrupt_manifest_chunk",
        actual: expect.stringMatching(/decodes to more than 8388608 bytes/),
      }),
    ]);
  });

  it("a backup without an index is one finding, and the end", async () => {
    const { state, findings } = await runToEnd(new MemoryBucket(), stateFor(null));
    expect(state.outcome).toBe("completed");
    expect(findings.map((f) => f.detail)).toEqual(["missing_manifest_index"]);
  });
});
