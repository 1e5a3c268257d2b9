import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { BackupJob } from "../../durable-objects/backup-job";
import type { BackupCheckpoint } from "../../durable-objects/engine/backup/backup-checkpoint";
import type { LargeObjectState } from "../../durable-objects/engine/backup/large-object";
import { api } from "../helpers/api";
import { putObjects, sha256Hex } from "../helpers/buckets";
import { partCountingBucket, slowFirstPart } from "../helpers/faults";
import { backupJobStub, runBackupToEnd } from "../helpers/jobs";

const MiB = 1024 * 1024;

function bigContent(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i += 4) {
    x = (x * 1664525 + 1013904223) >>> 0;
    bytes[i] = x & 0xff;
    bytes[i + 1] = (x >>> 8) & 0xff;
    bytes[i + 2] = (x >>> 16) & 0xff;
    bytes[i + 3] = x >>> 24;
  }
  return bytes;
}

/**
 * Small multipart settings (R2 needs parts of at least 5 MiB), through the job's test seam. Objects
 * above `hashStepBytes` are hashed across steps with the resumable hash; a step reads at most
 * `stepByteBudget` (by default about one part).
 */
async function startWithSmallParts(
  backup: R2Bucket = env.R2_BACKUP_BUCKET,
  hashStepBytes = 6 * MiB,
  stepByteBudget = 6 * MiB,
) {
  const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
  const id: string = created.body.backup.id;
  await runInDurableObject(backupJobStub(id), (job: BackupJob) => {
    job.wrapDeps = (deps) => ({
      ...deps,
      backup,
      settings: {
        ...deps.settings,
        stepByteBudget,
        hashStepBytes,
        storage: { ...deps.settings.storage, multipartThreshold: 6 * MiB, partSize: 5 * MiB },
      },
    });
  });
  return id;
}

/** Runs the backup to its end, returning the large object's state as each step left it. */
async function largeObjectAfterEachStep(id: string): Promise<LargeObjectState[]> {
  const stub = backupJobStub(id);
  const states: LargeObjectState[] = [];
  for (let step = 0; await runDurableObjectAlarm(stub); step++) {
    expect(step).toBeLessThan(30);
    const checkpoint = await runInDurableObject(stub, (_job, state) =>
      state.storage.get<BackupCheckpoint>("checkpoint"),
    );
    if (checkpoint?.largeObject) states.push(checkpoint.largeObject);
  }
  return states;
}

describe("large objects", () => {
  it("uploads an object above the threshold part by part over several steps, byte-identical", async () => {
    const large = bigContent(16 * MiB + 12345, 7);
    await putObjects([
      { key: "a-small.txt", body: "before the large one" },
      { key: "m-large.bin", body: large, contentType: "video/mp4", customMetadata: { camera: "front" } },
      { key: "z-small.txt", body: "after the large one" },
    ]);
    const counting = partCountingBucket(env.R2_BACKUP_BUCKET);
    const id = await startWithSmallParts(counting.bucket);
    const steps = await runBackupToEnd(id);
    // copy(a) + hashing 6+6+4 MiB (the last hashing step also uploads one part) + 3 more parts + copy(z) + finalize
    expect(steps).toBeGreaterThanOrEqual(7);
    expect(counting.uploaded).toEqual([1, 2, 3, 4]);

    const { body } = await api("GET", `/api/backup/status/${id}`);
    expect(body.backup).toMatchObject({
      status: "completed",
      fileCount: 3,
      totalSize: large.length + "before the large one".length + "after the large one".length,
      failedCount: 0,
    });
    const files = (await api("GET", `/api/backup/files/${id}`)).body.files;
    expect(files.map((f: { path: string }) => f.path)).toEqual(["a-small.txt", "m-large.bin", "z-small.txt"]);
    const expectedHash = await sha256Hex(large);
    expect(files[1]).toMatchObject({ size: large.length, checksum: expectedHash, contentType: "video/mp4" });
    const blob = await env.R2_BACKUP_BUCKET.get(`blobs/${expectedHash}`);
    expect(await sha256Hex(await blob!.arrayBuffer())).toBe(expectedHash);
  });

  it("hashes an object above the step budget natively in one step when it is within the hashing allowance", async () => {
    const large = bigContent(16 * MiB + 12345, 11);
    await putObjects([{ key: "large.bin", body: large }]);
    const id = await startWithSmallParts(env.R2_BACKUP_BUCKET, 32 * MiB);
    const hashedBytesSeen = (await largeObjectAfterEachStep(id)).map((state) => state.hashedBytes);
    // The listing step stops before the object; the next one hashes all of it: no step ended part-way.
    expect(new Set(hashedBytesSeen)).toEqual(new Set([0, large.length]));
    const expectedHash = await sha256Hex(large);
    const files = (await api("GET", `/api/backup/files/${id}`)).body.files;
    expect(files[0]).toMatchObject({ path: "large.bin", size: large.length, checksum: expectedHash });
    const blob = await env.R2_BACKUP_BUCKET.get(`blobs/${expectedHash}`);
    expect(await sha256Hex(await blob!.arrayBuffer())).toBe(expectedHash);
  });

  it("hashes an object above the hashing allowance across steps, carrying the hash state", async () => {
    const large = bigContent(16 * MiB + 12345, 13);
    await putObjects([{ key: "large.bin", body: large }]);
    const id = await startWithSmallParts(env.R2_BACKUP_BUCKET, 6 * MiB);
    const hashing = (await largeObjectAfterEachStep(id)).filter((state) => state.stage === "hashing");
    const hashedBytesSeen = hashing.map((state) => state.hashedBytes);
    expect(hashedBytesSeen).toEqual([0, 6 * MiB, 12 * MiB]);
    const files = (await api("GET", `/api/backup/files/${id}`)).body.files;
    expect(files[0]).toMatchObject({ path: "large.bin", checksum: await sha256Hex(large) });
  });

  it("moves several parts at once, the next as soon as one ends: a slow part does not hold the others up", async () => {
    const large = bigContent(21 * MiB, 5);
    await putObjects([{ key: "large.bin", body: large }]);
    const slow = slowFirstPart();
    const counting = partCountingBucket(env.R2_BACKUP_BUCKET, { beforePart: slow.beforePart });
    // A budget for the whole object in one step: hashed (21 MiB), then its five parts uploaded.
    const id = await startWithSmallParts(counting.bucket, 32 * MiB, 64 * MiB);
    await runBackupToEnd(id);
    expect(slow.overlapped()).toBe(true);
    expect([...counting.uploaded].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
    const files = (await api("GET", `/api/backup/files/${id}`)).body.files;
    expect(files[0]).toMatchObject({ path: "large.bin", checksum: await sha256Hex(large) });
  });

  it("resumes after a crash between parts without uploading the finished parts again", async () => {
    const large = bigContent(21 * MiB, 3);
    await putObjects([{ key: "large.bin", body: large }]);
    // The third part upload fails, as if the process died after two finished parts (a step of
    // this budget moves one part: parts 1 and 2 are saved by then).
    const counting = partCountingBucket(env.R2_BACKUP_BUCKET, { failAtPart: 3 });
    const id = await startWithSmallParts(counting.bucket);
    const stub = backupJobStub(id);
    let sawCrash = false;
    for (let step = 0; await runDurableObjectAlarm(stub); step++) {
      expect(step).toBeLessThan(30);
      const checkpoint = await runInDurableObject(stub, (_job, state) =>
        state.storage.get<BackupCheckpoint>("checkpoint"),
      );
      if (checkpoint?.stepFailures === 1) {
        sawCrash = true;
        expect(checkpoint.largeObject?.parts.map((p) => p.partNumber)).toEqual([1, 2]);
      }
    }
    expect(sawCrash).toBe(true);
    // Each part uploaded exactly once (parts moving together finish in any order).
    expect([...counting.uploaded].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
    const { body } = await api("GET", `/api/backup/status/${id}`);
    expect(body.backup).toMatchObject({ status: "completed", fileCount: 1, bytesUploaded: large.length });
    const blob = await env.R2_BACKUP_BUCKET.get(`blobs/${await sha256Hex(large)}`);
    // Compared by hash: a deep equality of 21 MiB arrays would exhaust the test's memory.
    expect(await sha256Hex(await blob!.arrayBuffer())).toBe(await sha256Hex(large));
  });

  it("records a large object deleted midway as absent, not failed", async () => {
    await putObjects([
      { key: "vanishing.bin", body: bigContent(13 * MiB, 5) },
      { key: "stays.txt", body: "x" },
    ]);
    const id = await startWithSmallParts();
    const stub = backupJobStub(id);
    await runDurableObjectAlarm(stub); // starts hashing the large object
    await env.R2_BUCKET.delete("vanishing.bin");
    await runBackupToEnd(id);
    const { body } = await api("GET", `/api/backup/status/${id}`);
    expect(body.backup).toMatchObject({ status: "completed", fileCount: 1, snapshotFileCount: 1, failedCount: 0 });
  });
});
