/**
 * Full backups and restores fanned out across job objects (engine/backup/fan-out.ts,
 * engine/restore/restore-fan-out.ts), on the real local R2, D1 and Durable Objects: the shards'
 * snapshot is the one a single object makes (the same root chunk, so the same checksum), it
 * verifies and restores byte for byte, status shows each shard, a shard's crash or a parent's
 * costs nothing, a shard that fails for good fails the job and stops the others, a cancel reaches
 * every shard, and a fanned-out restore is one job: byte-identical, its shards' findings its own.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { BackupJob } from "../../durable-objects/backup-job";
import type { BackupCheckpoint } from "../../durable-objects/engine/backup/backup-checkpoint";
import { shardJobName } from "../../durable-objects/engine/backup/fan-out";
import { api } from "../helpers/api";
import { emptyBucket, listAll, putObjects, sha256Hex, variedObjects } from "../helpers/buckets";
import { restore, verify } from "../helpers/flows";
import { armPlan, CallPlan } from "../helpers/interpose";
import {
  backupJobStub,
  coordinatorStub,
  restoreJobStub,
  runBackupToEnd,
  runFannedOutToEnd,
  runLeafFannedOutToEnd,
  runStepAndForget,
  verifyJobStub,
} from "../helpers/jobs";
import { leafShardName as restoreShardName } from "../../durable-objects/engine/leaf-fan-out";
import { compareKeys } from "../../durable-objects/engine/format/key-order";

const OBJECTS = variedObjects(700);
const SHARDS = 4;

/** Starts a full backup that may fan out to `maxShards` shards of at least 100 objects. */
async function startFull(maxShards: number): Promise<string> {
  const started = await coordinatorStub().startBackup({
    type: "full",
    trigger: "api",
    requestedBy: "fan-out-test",
    maxShards,
    minObjectsPerShard: 100,
  });
  if (!started.ok) throw new Error(`backup not started: ${JSON.stringify(started)}`);
  return started.backup.id;
}

/** The seed objects, and a backup over 4 shards whose parent has planned and started them. */
async function fannedOutWithShardsStarted(): Promise<string> {
  await putObjects(OBJECTS);
  const id = await startFull(SHARDS);
  await runDurableObjectAlarm(backupJobStub(id)); // plans
  await runDurableObjectAlarm(backupJobStub(id)); // starts
  return id;
}

const status = async (id: string) => (await api("GET", `/api/backup/status/${id}`)).body.backup;

async function singleObjectChecksum(): Promise<string> {
  const id = await startFull(1);
  await runBackupToEnd(id);
  const single = await status(id);
  expect(single.status).toBe("completed");
  expect(single.progress.shards).toBeUndefined();
  return single.checksum;
}

async function bucketState(prefix?: string) {
  const state: Record<string, unknown> = {};
  for (const object of await listAll(env.R2_BUCKET, prefix)) {
    const body = await env.R2_BUCKET.get(object.key);
    state[object.key.slice(prefix?.length ?? 0)] = {
      sha256: await sha256Hex(await body!.arrayBuffer()),
      http: object.httpMetadata,
      custom: object.customMetadata,
    };
  }
  return state;
}

/** A snapshot's job fanned out over its leaves, run to its end; the job as the API shows it. */
async function leafFannedOutToEnd(stubOf: (name: string) => DurableObjectStub, jobId: string) {
  await runLeafFannedOutToEnd(stubOf, jobId, SHARDS);
  return (await api("GET", `/api/backup/jobs/${jobId}`)).body.job;
}

/** A backup of the objects made in one object. */
async function fullBackup(): Promise<string> {
  const id = await startFull(1);
  await runBackupToEnd(id);
  return id;
}

const shardState = (id: string, index: number) =>
  runInDurableObject(backupJobStub(shardJobName(id, index)), (_job: BackupJob, state) =>
    state.storage.get<BackupCheckpoint>("checkpoint"),
  );

describe("a full backup fanned out across job objects", () => {
  it("publishes the snapshot one object makes, shows each shard, verifies and restores byte for byte", async () => {
    await putObjects(OBJECTS);
    const id = await startFull(SHARDS);
    await runFannedOutToEnd(id, SHARDS);
    const fanned = await status(id);
    expect(fanned.status).toBe("completed");
    expect(fanned.snapshotFileCount).toBe(OBJECTS.length);
    expect(fanned.fileCount).toBe(OBJECTS.length);
    expect(fanned.progress.shards).toHaveLength(SHARDS);
    for (const shard of fanned.progress.shards) {
      expect(shard.status).toBe("completed");
      // A listing of all 700 objects splits them exactly: 175 a shard.
      expect(shard.filesProcessed).toBe(OBJECTS.length / SHARDS);
    }
    const ranges = fanned.progress.shards.map((s: { range: unknown }) => s.range);
    expect(ranges[0].after).toBeNull();
    expect(ranges.at(-1).through).toBeNull();
    for (let i = 1; i < SHARDS; i++) expect(ranges[i].after).toBe(ranges[i - 1].through);
    const logs = (await api("GET", `/api/backup/logs/${id}?limit=100`)).body.logs.map(
      (l: { message: string }) => l.message,
    );
    expect(logs).toContain("Fans out over 4 shards, one job object each (planned from a listing of all 700 objects).");
    expect(logs.filter((m: string) => /^Shard \d of 4: completed/.test(m))).toHaveLength(SHARDS);

    // The same bucket state backed up by one object: the same root chunk, so the same checksum.
    expect(await singleObjectChecksum()).toBe(fanned.checksum);
    // D1 holds one file record per object it stored, whichever shard wrote it.
    expect(await env.DB.prepare("SELECT count(*) AS n FROM backup_files WHERE backup_id = ?").bind(id).first("n")).toBe(
      OBJECTS.length,
    );

    expect((await verify(id, { mode: "full" })).result.valid).toBe(true);
    const before = await bucketState();
    await emptyBucket(env.R2_BUCKET);
    const job = await restore(id);
    expect(job.result).toMatchObject({ filesRestored: OBJECTS.length, filesFailed: 0 });
    expect(await bucketState()).toEqual(before);
  });

  it("plans the next full backup from the last snapshot's pages", async () => {
    await putObjects(OBJECTS);
    const first = await startFull(SHARDS);
    await runFannedOutToEnd(first, SHARDS);
    const second = await startFull(SHARDS);
    await runFannedOutToEnd(second, SHARDS);
    const logs = (await api("GET", `/api/backup/logs/${second}?limit=100`)).body.logs.map(
      (l: { message: string }) => l.message,
    );
    expect(logs.some((m: string) => /planned from the last snapshot's pages \(700 objects\)/.test(m))).toBe(true);
    const again = await status(second);
    expect(again.checksum).toBe((await status(first)).checksum);
    expect(again.progress.shards.length).toBeGreaterThan(1);
  });

  it("runs a bucket too small for two shards in one object", async () => {
    await putObjects(OBJECTS.slice(0, 150));
    const id = await startFull(SHARDS);
    await runBackupToEnd(id);
    const backup = await status(id);
    expect(backup.status).toBe("completed");
    expect(backup.progress.shards).toBeUndefined();
    expect(backup.snapshotFileCount).toBe(150);
  });

  it("loses nothing when the parent or a shard crashes after a step's writes, or a shard's step fails once", async () => {
    await putObjects(OBJECTS);
    const expected = await singleObjectChecksum();
    const id = await startFull(SHARDS);
    const parent = backupJobStub(id);
    await runDurableObjectAlarm(parent); // plans
    await runStepAndForget(parent); // starts the shards, then forgets it did: the replay starts them again
    await runDurableObjectAlarm(parent);
    await runStepAndForget(backupJobStub(shardJobName(id, 2))); // a shard's first window, written and forgotten
    const plan = new CallPlan("throw", 3); // the third call of shard 1's next step fails: it retries alone
    await armPlan(backupJobStub(shardJobName(id, 1)), plan);
    await runFannedOutToEnd(id, SHARDS);
    expect(plan.injected).toBe(1);
    const backup = await status(id);
    expect(backup.status).toBe("completed");
    expect(backup.checksum).toBe(expected);
    expect(backup.performance.retries).toBe(1);
    expect(backup.snapshotFileCount).toBe(OBJECTS.length);
  });

  it("fails when a shard fails for good, and stops the other shards", async () => {
    const id = await fannedOutWithShardsStarted();
    const plan = new CallPlan("count");
    plan.outage = (label) => label === "R2_BUCKET.list";
    await armPlan(backupJobStub(shardJobName(id, 3)), plan);
    await runFannedOutToEnd(id, SHARDS);
    const backup = await status(id);
    expect(backup.status).toBe("failed");
    expect(backup.error).toMatch(/^Shard 4 of 4 failed: Failed after 6 attempts of one step: injected fault/);
    for (let i = 0; i < 3; i++) expect((await shardState(id, i))?.outcome).toMatch(/^(completed|cancelled)$/);
    // The lease is free again: the next backup starts.
    expect((await coordinatorStub().startBackup({ type: "full", trigger: "api", requestedBy: "t" })).ok).toBe(true);
  });

  it("keeps the bucket's lease with the parent while a shard ends before it", async () => {
    const id = await fannedOutWithShardsStarted();
    const first = backupJobStub(shardJobName(id, 0));
    while (await runDurableObjectAlarm(first));
    expect((await shardState(id, 0))?.stage).toBe("done");
    // A shard's end releases nothing: its backup id is its parent's, and the parent still runs.
    expect(await coordinatorStub().currentLease()).toMatchObject({ holderId: id, kind: "backup" });
    expect((await coordinatorStub().startBackup({ type: "full", trigger: "api", requestedBy: "t" })).ok).toBe(false);
    await runFannedOutToEnd(id, SHARDS);
    expect((await status(id)).status).toBe("completed");
  });

  it("cancels every shard with the backup", async () => {
    const id = await fannedOutWithShardsStarted();
    await runDurableObjectAlarm(backupJobStub(shardJobName(id, 0))); // one window of shard 1
    expect((await api("POST", `/api/backup/cancel/${id}`)).status).toBe(202);
    await runFannedOutToEnd(id, SHARDS);
    expect((await status(id)).status).toBe("cancelled");
    for (let i = 0; i < SHARDS; i++) expect((await shardState(id, i))?.outcome).toBe("cancelled");
    expect((await coordinatorStub().startBackup({ type: "full", trigger: "api", requestedBy: "t" })).ok).toBe(true);
  });
});

describe("a restore fanned out across job objects", () => {
  /** Starts a restore of `backupId` over up to 4 shards of at least 100 objects. */
  async function startRestore(backupId: string, options: Record<string, unknown> = {}) {
    const jobId = `job-fan-${Math.random().toString(36).slice(2, 10)}`;
    const request = {
      jobId,
      backupId,
      bucketName: "cutty-files",
      requestedBy: "fan-out-test",
      options: {
        overwriteExisting: false,
        verifyAfterRestore: true,
        dryRun: false,
        targetPrefix: "",
        filter: { pathPrefix: "", extensions: [], modifiedFrom: null, modifiedTo: null },
        ...options,
      },
      maxShards: SHARDS,
      minObjectsPerShard: 100,
    };
    if (request.options.dryRun) await restoreJobStub(jobId).start({ ...request, holdsLease: false });
    else expect((await coordinatorStub().startRestore(request)).ok).toBe(true);
    return jobId;
  }

  const runToEnd = (jobId: string) => leafFannedOutToEnd(restoreJobStub, jobId);

  it("restores byte for byte, shows each shard, and lists every shard's findings as one job's", async () => {
    await putObjects(OBJECTS);
    const backupId = await fullBackup();
    const before = await bucketState();

    // A dry run: the planned keys of all shards, in key order, as one list.
    const dry = await runToEnd(await startRestore(backupId, { dryRun: true, targetPrefix: "copy/" }));
    expect(dry.status).toBe("completed");
    expect(dry.result.planned).toEqual(OBJECTS.map((o) => `copy/${o.key}`).sort(compareKeys));

    await emptyBucket(env.R2_BUCKET);
    const job = await runToEnd(await startRestore(backupId));
    expect(job.status).toBe("completed");
    expect(job.result).toMatchObject({ filesRestored: OBJECTS.length, filesFailed: 0, verified: OBJECTS.length });
    expect(job.progress.filesProcessed).toBe(OBJECTS.length);
    expect(job.progress.shards).toHaveLength(SHARDS);
    for (const shard of job.progress.shards) expect(shard.status).toBe("completed");
    // Runs of exactly equal objects, cut inside leaves (700 objects hold about 7 leaves of unequal counts).
    expect(job.progress.shards.map((s: { filesProcessed: number }) => s.filesProcessed)).toEqual([175, 175, 175, 175]);
    expect(job.progress.shards.some((s: { range: { toOffset?: number } }) => (s.range.toOffset ?? 0) > 0)).toBe(true);
    expect(await bucketState()).toEqual(before);
    // The lease is free again, and the shards are not jobs of their own.
    expect(await coordinatorStub().currentLease()).toBeNull();
    const jobs = await env.DB.prepare("SELECT count(*) AS n FROM backup_jobs WHERE id LIKE '%/shard-%'").first("n");
    expect(jobs).toBe(0);
  });

  it("skips what exists in every shard, and cancels every shard with the restore", async () => {
    await putObjects(OBJECTS);
    const backupId = await fullBackup();
    const skipped = await runToEnd(await startRestore(backupId));
    expect(skipped.result).toMatchObject({ filesRestored: 0, filesSkipped: OBJECTS.length });

    await emptyBucket(env.R2_BUCKET);
    const jobId = await startRestore(backupId);
    await runDurableObjectAlarm(restoreJobStub(jobId)); // starts the shards
    await runDurableObjectAlarm(restoreJobStub(restoreShardName(jobId, 0)));
    expect((await api("POST", `/api/backup/cancel/${jobId}`)).status).toBe(202);
    const cancelled = await runToEnd(jobId);
    expect(cancelled.status).toBe("cancelled");
    for (let i = 0; i < SHARDS; i++) {
      const state = await runInDurableObject(restoreJobStub(restoreShardName(jobId, i)), (_job, s) =>
        s.storage.get<{ outcome: string }>("checkpoint"),
      );
      expect(state?.outcome).toBe("cancelled");
    }
    expect(await coordinatorStub().currentLease()).toBeNull();
  });
});

describe("a verification fanned out across job objects", () => {
  async function startVerify(backupId: string, mode: "full" | "quick") {
    const jobId = `job-fan-${Math.random().toString(36).slice(2, 10)}`;
    await verifyJobStub(jobId).start({
      jobId,
      backupId,
      requestedBy: "fan-out-test",
      mode,
      sample: null,
      recordedChecksum: (await status(backupId)).checksum,
      maxShards: SHARDS,
      minObjectsPerShard: 100,
    });
    return jobId;
  }

  const blobOf = async (backupId: string, path: string) =>
    `blobs/${(await api("GET", `/api/backup/files/${backupId}?prefix=${encodeURIComponent(path)}&limit=1`)).body.files[0].checksum}`;

  it("checks every object once across its shards, finds damage in the first shard's leaves and the last's, and records one outcome", async () => {
    await putObjects(OBJECTS);
    const backupId = await fullBackup();
    for (const mode of ["full", "quick"] as const) {
      const sound = await leafFannedOutToEnd(verifyJobStub, await startVerify(backupId, mode));
      // Valid only if the shards' entries and bytes add up to the index's (else manifest_count_mismatch).
      expect(sound.result).toMatchObject({ valid: true, mode, filesChecked: OBJECTS.length, problems: [] });
      expect(sound.progress.shards.map((s: { status: string }) => s.status)).toEqual(Array(SHARDS).fill("completed"));
    }

    const keys = OBJECTS.map((o) => o.key).sort(compareKeys);
    const [deleted, corrupted] = [keys[2]!, keys.at(-3)!];
    await env.R2_BACKUP_BUCKET.delete(await blobOf(backupId, deleted));
    await env.R2_BACKUP_BUCKET.put(await blobOf(backupId, corrupted), "not what was stored", {
      customMetadata: { format: "raw" },
    });
    const damaged = await leafFannedOutToEnd(verifyJobStub, await startVerify(backupId, "full"));
    expect(damaged.result).toMatchObject({ valid: false, filesMissing: 1, checksumMismatches: 1, problemCount: 2 });
    expect(damaged.result.problems.map((p: { path: string; problem: string }) => [p.path, p.problem])).toEqual([
      [deleted, "missing_blob"],
      [corrupted, "checksum_mismatch"],
    ]);
    expect(damaged.progress.shards.map((s: { failedCount: number }) => s.failedCount)).toEqual([1, 0, 0, 1]);
    expect(await status(backupId)).toMatchObject({ lastVerificationValid: false });
    // One closing line for the job, and one of each shard that found a problem.
    const logs = (await api("GET", `/api/backup/logs/${backupId}?limit=500`)).body.logs.map(
      (l: { message: string }) => l.message,
    );
    expect(logs.filter((m: string) => m.startsWith("Verification FAILED: 2 problem(s)"))).toHaveLength(1);
    expect(logs.filter((m: string) => /^Shard [14] of 4: Verification FAILED: 1 problem/.test(m))).toHaveLength(2);
  });
});
