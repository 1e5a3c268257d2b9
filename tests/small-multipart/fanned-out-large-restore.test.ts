/**
 * A restore fanned out within one leaf, with a large object on each side of the shards' cut: the
 * first shard's last entry and the second shard's first are both restored part by part (small
 * multipart settings: threshold 1 MiB, parts 5 MiB), each once, byte and metadata identical,
 * with each shard's object evicted after every step. (Crashes at every call of a large restore
 * are the fault matrix's: tests/fault-matrix.)
 */
import { env, evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { emptyBucket, listAll, putObjects, sha256Hex, type SeedObject } from "../helpers/buckets";
import { coordinatorStub, restoreJobStub, runBackupToEnd } from "../helpers/jobs";
import { leafShardName } from "../../durable-objects/engine/leaf-fan-out";

const MiB = 1024 * 1024;

function large(key: string, seed: number): SeedObject {
  const body = new Uint8Array(11 * MiB + seed);
  for (let i = 0; i < body.length; i += 991) body[i] = (i / 991 + seed) % 251;
  return { key, body, contentType: "application/octet-stream", customMetadata: { seed: String(seed) } };
}

const small = (key: string): SeedObject => ({ key, body: `small ${key}`, contentType: "text/plain" });

// Eight entries in key order; two shards cut after the fourth, between the two large ones.
const OBJECTS = [
  small("a/0.txt"),
  small("a/1.txt"),
  small("a/2.txt"),
  large("b/large-1.bin", 1),
  large("b/large-2.bin", 2),
  small("c/0.txt"),
  small("c/1.txt"),
  small("c/2.txt"),
];

async function objectsUnder(prefix: string) {
  const found: Record<string, unknown> = {};
  for (const object of await listAll(env.R2_BUCKET, prefix)) {
    const body = await (await env.R2_BUCKET.get(object.key))!.arrayBuffer();
    found[object.key.slice(prefix.length)] = {
      size: object.size,
      sha256: await sha256Hex(body),
      contentType: object.httpMetadata?.contentType,
      custom: object.customMetadata,
    };
  }
  return found;
}

/** Runs a shard's steps to its end, its object evicted after each (its memory lost, its storage kept). */
async function stepEvictingAfterEach(stub: DurableObjectStub): Promise<number> {
  let steps = 0;
  while (await runDurableObjectAlarm(stub)) {
    if (++steps > 100) throw new Error("the shard did not finish within 100 steps");
    await evictDurableObject(stub);
  }
  return steps;
}

describe("a fanned-out restore with large objects at its shards' cut", () => {
  it("restores both large objects once each, byte for byte, each shard evicted after every step", async () => {
    await emptyBucket(env.R2_BUCKET);
    await putObjects(OBJECTS);
    const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
    expect(created.status).toBe(202);
    await runBackupToEnd(created.body.backup.id);
    const source = await objectsUnder("");

    const jobId = `job-large-cut-${Date.now()}`;
    const started = await coordinatorStub().startRestore({
      jobId,
      backupId: created.body.backup.id,
      bucketName: "cutty-files",
      requestedBy: "large-cut-test",
      options: {
        overwriteExisting: false,
        verifyAfterRestore: true,
        dryRun: false,
        targetPrefix: "restored/",
        filter: { pathPrefix: "", extensions: [], modifiedFrom: null, modifiedTo: null },
      },
      maxShards: 2,
      minObjectsPerShard: 1,
    });
    expect(started.ok).toBe(true);
    const parent = restoreJobStub(jobId);
    await runDurableObjectAlarm(parent); // plans and starts the shards
    for (const index of [0, 1])
      expect(await stepEvictingAfterEach(restoreJobStub(leafShardName(jobId, index)))).toBeGreaterThan(1);
    for (let polls = 0; await runDurableObjectAlarm(parent); polls++)
      if (polls > 20) throw new Error("the parent did not finish within 20 steps of its shards' end");

    const { job } = (await api("GET", `/api/backup/jobs/${jobId}`)).body;
    expect(job.status).toBe("completed");
    expect(job.result).toMatchObject({ filesRestored: 8, filesFailed: 0, verified: 8 });
    // The cut falls inside the one leaf, between the two large objects.
    expect(job.progress.shards.map((s: { filesProcessed: number }) => s.filesProcessed)).toEqual([4, 4]);
    expect(job.progress.shards[0].range).toMatchObject({ fromLeaf: 0, toOffset: 4 });
    expect(job.progress.shards[1].range).toMatchObject({ fromOffset: 4 });
    expect(await objectsUnder("restored/")).toEqual(source);
    // Each large object went up in parts (a multipart upload's etag counts them).
    for (const key of ["b/large-1.bin", "b/large-2.bin"]) {
      expect((await env.R2_BUCKET.head(`restored/${key}`))!.etag).toMatch(/-3$/);
    }
  });
});
