/**
 * The second backup location (R2_REPLICA_BUCKET) on the local stack: every completed backup is
 * copied there by its replication job; restore falls back to it object by object; verify checks
 * either copy and says which; cleanup cleans both. Small multipart settings (vitest.config.ts), so
 * the 3 MiB object is stored, copied and restored part by part.
 */
import {
  createExecutionContext,
  createScheduledController,
  env,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import worker from "../../workers/index";
import { beforeEach, describe, expect, it } from "vitest";
import { replicateJobId } from "../../durable-objects/replicate-job";
import { api } from "../helpers/api";
import { emptyBucket, listAll, putObjects, sha256Hex, variedObjects, type SeedObject } from "../helpers/buckets";
import { completedBackup, restore, verify } from "../helpers/flows";
import { backupJobStub, cleanupJobStub, runJobToEnd, runLeafFannedOutToEnd, runStepAndForget } from "../helpers/jobs";

const replica = () => env.R2_REPLICA_BUCKET!;
const LARGE: SeedObject = {
  key: "large/video.bin",
  body: new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 31) % 251),
};
const seed = [...variedObjects(24), LARGE];

const replicateStub = (backupId: string) => env.REPLICATE_JOB.getByName(replicateJobId(backupId));

/** Runs the backup's replication to its end; returns the backup and its replication job as the API shows them. */
async function replicated(backupId: string) {
  await runJobToEnd(replicateStub(backupId));
  const backup = (await api("GET", `/api/backup/status/${backupId}`)).body.backup;
  const job = (await api("GET", `/api/backup/jobs/${replicateJobId(backupId)}`)).body.job;
  return { backup, job };
}

/** Every stored object of a bucket, by key, as its content hash and metadata. */
async function contents(bucket: R2Bucket) {
  const all = new Map<
    string,
    { sha256: string; customMetadata: Record<string, string> | undefined; contentType: string | undefined }
  >();
  for (const object of await listAll(bucket)) {
    const body = await bucket.get(object.key);
    all.set(object.key, {
      sha256: await sha256Hex(await body!.arrayBuffer()),
      customMetadata: object.customMetadata,
      contentType: object.httpMetadata?.contentType,
    });
  }
  return all;
}

const blobOf = async (object: SeedObject) => `blobs/${await sha256Hex(object.body)}`;

async function sourceMatchesSeed(): Promise<void> {
  expect((await listAll(env.R2_BUCKET)).map((o) => o.key).sort()).toEqual(seed.map((o) => o.key).sort());
  for (const object of seed) {
    const restored = await env.R2_BUCKET.get(object.key);
    expect(await sha256Hex(await restored!.arrayBuffer()), object.key).toBe(await sha256Hex(object.body));
  }
}

beforeEach(async () => {
  await Promise.all([emptyBucket(env.R2_BUCKET), emptyBucket(env.R2_BACKUP_BUCKET), emptyBucket(replica())]);
  await putObjects(seed);
});

describe("replica", () => {
  it("copies a completed backup whole, in the same format; an incremental copies only what is new", async () => {
    const full = await completedBackup("full");
    expect(full).toMatchObject({ status: "completed", replicaStatus: "pending", replicaCompletedAt: null });
    // Nothing to check in the replica before its replication has ended.
    expect((await api("POST", `/api/backup/verify/${full.id}`, { body: { copy: "replica" } })).status).toBe(409);

    const first = await replicated(full.id);
    expect(first.backup).toMatchObject({ replicaStatus: "complete", replicaCompletedAt: expect.any(String) });
    const primary = await contents(env.R2_BACKUP_BUCKET);
    expect(await contents(replica())).toEqual(primary);
    expect(first.job).toMatchObject({
      kind: "replicate",
      status: "completed",
      backupId: full.id,
      result: { complete: true, problemCount: 0, problems: [] },
    });
    expect(first.job.result.objectsCopied).toBe(primary.size);

    await putObjects([{ key: "uploads/new.txt", body: "added after the full backup" }]);
    const incremental = await completedBackup("incremental");
    const second = await replicated(incremental.id);
    expect(second.backup.replicaStatus).toBe("complete");
    expect(await contents(replica())).toEqual(await contents(env.R2_BACKUP_BUCKET));
    // Copied by its diff against the full backup, whose replica is complete: the new blob, the
    // chunks on its path and the index; no other blob is even looked at (a walk checks each).
    expect(second.job.result.objectsCopied).toBeLessThan(10);
    expect(second.job.result.objectsPresent).toBeLessThan(4);
    const secondLog = (await api("GET", `/api/backup/logs/${second.job.id}?limit=20`)).body.logs;
    expect(secondLog.map((l: { message: string }) => l.message).join("\n")).toContain(
      `only its changes since ${full.id}, whose replica is complete, are copied`,
    );
    expect((await verify(incremental.id, { copy: "replica" })).result).toMatchObject({ valid: true, copy: "replica" });
  });

  it("restores byte for byte when blobs are missing or damaged in the backup bucket, and says which came from the replica", async () => {
    const full = await completedBackup("full");
    await replicated(full.id);
    const [missing, damaged] = [seed[10]!, seed[11]!];
    await env.R2_BACKUP_BUCKET.delete([await blobOf(missing), await blobOf(LARGE)]);
    await env.R2_BACKUP_BUCKET.put(await blobOf(damaged), "not the bytes this blob is named after");
    await emptyBucket(env.R2_BUCKET);

    const job = await restore(full.id, { verifyAfterRestore: true });
    expect(job.result).toMatchObject({
      filesRestored: seed.length,
      filesFailed: 0,
      verifyFailures: 0,
      filesFromReplica: 3,
      failures: [],
    });
    await sourceMatchesSeed();
    const logs = (await api("GET", `/api/backup/logs/${full.id}?level=warn`)).body.logs.map(
      (l: { message: string }) => l.message,
    );
    expect(logs).toContainEqual(
      expect.stringContaining("3 read from the replica because the backup bucket's copy was missing or damaged"),
    );
  });

  it("restores from the replica when the backup bucket has lost the manifest too", async () => {
    const full = await completedBackup("full");
    await replicated(full.id);
    await emptyBucket(env.R2_BACKUP_BUCKET);
    await emptyBucket(env.R2_BUCKET);
    const job = await restore(full.id);
    expect(job.result).toMatchObject({ filesRestored: seed.length, filesFailed: 0, filesFromReplica: seed.length });
    await sourceMatchesSeed();
  });

  it("restores from the replica's copy of a manifest chunk or index that is damaged in the backup bucket", async () => {
    const full = await completedBackup("full");
    await replicated(full.id);
    const chunks = await listAll(env.R2_BACKUP_BUCKET, "chunks/");
    expect(chunks.length).toBeGreaterThan(0);
    // Every chunk present but altered: its content no longer hashes to its name.
    for (const chunk of chunks)
      await env.R2_BACKUP_BUCKET.put(chunk.key, "damaged in the backup bucket", {
        customMetadata: chunk.customMetadata,
      });
    await emptyBucket(env.R2_BUCKET);
    const job = await restore(full.id);
    expect(job.result).toMatchObject({
      filesRestored: seed.length,
      filesFailed: 0,
      chunksFromReplica: expect.any(Number),
    });
    expect(job.result.chunksFromReplica).toBeGreaterThan(0);
    await sourceMatchesSeed();

    await env.R2_BACKUP_BUCKET.put(`manifests/${full.id}/index.json`, "{ not an index");
    await emptyBucket(env.R2_BUCKET);
    expect((await restore(full.id)).result).toMatchObject({ filesRestored: seed.length, filesFailed: 0 });
    await sourceMatchesSeed();
  });

  it("verify names the copy that is bad", async () => {
    const full = await completedBackup("full");
    await replicated(full.id);
    const [lostInPrimary, damagedInReplica] = [seed[3]!, seed[4]!];
    await env.R2_BACKUP_BUCKET.delete(await blobOf(lostInPrimary));
    await replica().put(await blobOf(damagedInReplica), "damaged in the replica");

    const ofPrimary = await verify(full.id, { mode: "full" });
    expect(ofPrimary.result).toMatchObject({ valid: false, copy: "primary", problemCount: 1 });
    expect(ofPrimary.result.problems).toEqual([
      expect.objectContaining({ path: lostInPrimary.key, problem: "missing_blob" }),
    ]);
    const ofReplica = await verify(full.id, { mode: "full", copy: "replica" });
    expect(ofReplica.result).toMatchObject({ valid: false, copy: "replica", problemCount: 1 });
    expect(ofReplica.result.problems).toEqual([
      expect.objectContaining({ path: damagedInReplica.key, problem: "checksum_mismatch" }),
    ]);
  });

  it("the scheduled verification checks the replica too, once its copy is complete, and names the copy that is bad", async () => {
    const full = await completedBackup("full");
    await replicated(full.id);
    await replica().put(await blobOf(seed[5]!), "damaged in the replica");
    // Sunday 04:00 UTC: the weekly whole verification, of both copies.
    const ctx = createExecutionContext();
    await worker.scheduled(
      createScheduledController({ cron: "0 * * * *", scheduledTime: Date.parse("2026-12-06T04:00:00Z") }),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const jobs = (
      await env.DB.prepare(
        "SELECT id FROM backup_jobs WHERE kind = 'verify' AND requested_by = 'cron' ORDER BY id",
      ).all<{
        id: string;
      }>()
    ).results;
    expect(jobs).toHaveLength(2);
    const results = [];
    for (const { id } of jobs) {
      await runJobToEnd(env.VERIFY_JOB.getByName(id));
      results.push((await api("GET", `/api/backup/jobs/${id}`)).body.job.result);
    }
    expect(results.map((r) => [r.copy, r.valid, r.sample]).sort()).toEqual([
      ["primary", true, null],
      ["replica", false, null],
    ]);
  });

  it("cannot copy what the backup bucket lost: the replica is incomplete, the job names the object, and replicating again completes it", async () => {
    const full = await completedBackup("full");
    const lost = await blobOf(seed[7]!);
    const original = await (await env.R2_BACKUP_BUCKET.get(lost))!.arrayBuffer();
    await env.R2_BACKUP_BUCKET.delete(lost);
    const { backup, job } = await replicated(full.id);
    expect(backup.replicaStatus).toBe("incomplete");
    expect(job.result).toMatchObject({
      complete: false,
      problemCount: 1,
      problems: [expect.objectContaining({ path: lost, problem: "missing_in_primary" })],
    });
    expect(await replica().head(lost)).toBeNull();
    const openAlerts = async () =>
      (await api("GET", "/api/backup/alerts?state=open")).body.alerts.map((a: { code: string }) => a.code);
    expect(await openAlerts()).toContain("replica_incomplete");

    // The blob is back (repaired by hand, or by the next backup of the same content): copy again.
    await env.R2_BACKUP_BUCKET.put(lost, original);
    expect((await api("POST", `/api/backup/replicate/${full.id}`, { rawBody: "{}" })).status).toBe(400);
    const again = await api("POST", `/api/backup/replicate/${full.id}`);
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    expect((await api("GET", `/api/backup/status/${full.id}`)).body.backup.replicaStatus).toBe("pending");
    expect((await api("POST", `/api/backup/replicate/${full.id}`)).status).toBe(409);
    await runJobToEnd(env.REPLICATE_JOB.getByName(again.body.job.id));
    const repaired = (await api("GET", `/api/backup/jobs/${again.body.job.id}`)).body.job;
    expect(repaired.result).toMatchObject({ complete: true, objectsCopied: 1, problemCount: 0 });
    expect((await api("GET", `/api/backup/status/${full.id}`)).body.backup.replicaStatus).toBe("complete");
    expect(await replica().head(lost)).not.toBeNull();
    // The repaired replica resolves the alert its end checks.
    expect(await openAlerts()).not.toContain("replica_incomplete");
  });

  it("a backup's end recorded again after its replication (a retried recording) leaves the replica status alone", async () => {
    const full = await completedBackup("full");
    expect((await replicated(full.id)).backup.replicaStatus).toBe("complete");
    // The final recording is retried until every part of the end succeeds: replay its D1 writes.
    await runInDurableObject(backupJobStub(full.id), async (job, state) => {
      const recordEnd = (job as unknown as { recordEnd(checkpoint: unknown): Promise<void> }).recordEnd.bind(job);
      await recordEnd(await state.storage.get("checkpoint"));
    });
    expect((await api("GET", `/api/backup/status/${full.id}`)).body.backup.replicaStatus).toBe("complete");
  });

  it("a replayed replication step is harmless: the replica ends equal to the backup bucket", async () => {
    const full = await completedBackup("full");
    const stub = replicateStub(full.id);
    await runStepAndForget(stub);
    await runStepAndForget(stub);
    const { backup } = await replicated(full.id);
    expect(backup.replicaStatus).toBe("complete");
    expect(await contents(replica())).toEqual(await contents(env.R2_BACKUP_BUCKET));
  });

  it("cleanup expires a backup's manifest in both buckets and collects what only it used from both", async () => {
    const first = await completedBackup("full");
    await replicated(first.id);
    await putObjects([{ key: seed[0]!.key, body: "replaced" }]);
    const second = await completedBackup("incremental");
    await replicated(second.id);
    const onlyInFirst = await blobOf(seed[0]!);
    expect(await replica().head(onlyInFirst)).not.toBeNull();

    const started = await api("POST", "/api/backup/cleanup", { body: { retentionDays: 0, keep: { last: 1 } } });
    expect(started.status).toBe(202);
    await runJobToEnd(cleanupJobStub(started.body.job.id));
    const job = (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
    expect(job.result).toMatchObject({ backupsExpired: 1, backupIdsExpired: [first.id] });
    expect(job.result.replicaObjectsDeleted).toBeGreaterThan(0);
    expect(await replica().head(onlyInFirst)).toBeNull();
    expect(await listAll(replica(), `manifests/${first.id}/`)).toEqual([]);
    expect(await contents(replica())).toEqual(await contents(env.R2_BACKUP_BUCKET));
    expect((await verify(second.id, { copy: "replica" })).result).toMatchObject({ valid: true });
  });

  it("copies a large snapshot through shards over its leaves, as one job: the replica equals the backup bucket", async () => {
    await putObjects(variedObjects(700));
    const full = await completedBackup("full");
    const jobId = `job-replicate-fanned-${full.id}`;
    const stubOf = (name: string) => env.REPLICATE_JOB.getByName(name);
    await stubOf(jobId).start({
      jobId,
      backupId: full.id,
      bucketName: "cutty-files",
      requestedBy: "replica-test",
      maxShards: 4,
      minObjectsPerShard: 100,
    });
    await runLeafFannedOutToEnd(stubOf, jobId, 4);
    const job = (await api("GET", `/api/backup/jobs/${jobId}`)).body.job;
    expect(job).toMatchObject({ status: "completed", result: { complete: true, problemCount: 0, problems: [] } });
    expect(job.progress.shards.map((s: { status: string }) => s.status)).toEqual(Array(4).fill("completed"));
    // Every stored object of the snapshot once, whichever shard copied it.
    expect(job.result.objectsCopied + job.result.objectsPresent).toBeGreaterThan(700);
    expect((await api("GET", `/api/backup/status/${full.id}`)).body.backup.replicaStatus).toBe("complete");
    expect(await contents(replica())).toEqual(await contents(env.R2_BACKUP_BUCKET));
  });
});
