import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { BackupJob } from "../../durable-objects/backup-job";
import type { BackupCheckpoint } from "../../durable-objects/engine/backup/backup-checkpoint";
import { api } from "../helpers/api";
import { putObjects, variedObjects } from "../helpers/buckets";
import { faultyBucket, type FaultPlan } from "../helpers/faults";
import { backupJobStub, coordinatorStub, runBackupToEnd, runStepAndForget } from "../helpers/jobs";
import { backupOutcome, forgetBackups } from "../helpers/snapshot";

const OBJECTS = variedObjects(230);

async function startFullBackup(): Promise<string> {
  const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
  expect(created.status).toBe(202);
  return created.body.backup.id;
}

/** The outcome of an uninterrupted full backup of OBJECTS, then a clean slate for the next one. */
async function uninterruptedOutcome() {
  await putObjects(OBJECTS);
  const id = await startFullBackup();
  await runBackupToEnd(id);
  const outcome = await backupOutcome(id);
  expect(outcome.row).toMatchObject({ status: "completed", file_count: OBJECTS.length });
  await forgetBackups();
  return outcome;
}

function injectInto(backupId: string, which: "source" | "backup", plan: FaultPlan) {
  const fault = faultyBucket(which === "source" ? env.R2_BUCKET : env.R2_BACKUP_BUCKET, plan);
  return runInDurableObject(backupJobStub(backupId), (job: BackupJob) => {
    job.wrapDeps = (deps) => ({ ...deps, [which]: fault.bucket });
  }).then(() => fault);
}

describe("crash safety", () => {
  it("absorbs a transient source read error at the 57th get with an identical result", async () => {
    const expected = await uninterruptedOutcome();
    const id = await startFullBackup();
    const fault = await injectInto(id, "source", { methods: ["get"], failAtCall: 57 });
    await runBackupToEnd(id);
    expect(fault.injected()).toBe(1);
    expect(await backupOutcome(id)).toEqual(expected);
  });

  it("replays a step killed in the middle of a batch, after some blobs were stored, to an identical result", async () => {
    const expected = await uninterruptedOutcome();
    const id = await startFullBackup();
    // Batch 1 writes 100 blobs and its chunk; from the 130th put on, every write of batch 2 fails,
    // as if the process had died there.
    const fault = await injectInto(id, "backup", { methods: ["put"], failAtCall: 130, failures: Infinity });
    await runDurableObjectAlarm(backupJobStub(id)); // batch 1
    await runDurableObjectAlarm(backupJobStub(id)); // batch 2 dies
    expect(fault.injected()).toBeGreaterThan(0);
    const stored = await env.R2_BACKUP_BUCKET.list({ prefix: "blobs/" });
    expect(stored.objects.length).toBeGreaterThan(100); // part of batch 2 reached the store
    const checkpoint = await runInDurableObject(backupJobStub(id), (_job, state) =>
      state.storage.get<BackupCheckpoint>("checkpoint"),
    );
    expect(checkpoint).toMatchObject({ batchNumber: 1, stepFailures: 1 });
    fault.disarm();

    await evictDurableObject(backupJobStub(id));
    await runBackupToEnd(id);
    const outcome = await backupOutcome(id);
    expect(outcome).toEqual(expected);
    const errors = await api("GET", `/api/backup/logs/${id}?level=error`);
    expect(errors.body.logs).toHaveLength(1);
    expect(errors.body.logs[0].message).toMatch(/Step 2 failed \(attempt 1\), retrying: injected fault/);
  });

  it("gives the same result when an alarm step runs twice (crash after the D1 write, before the checkpoint)", async () => {
    const expected = await uninterruptedOutcome();
    const id = await startFullBackup();
    const stub = backupJobStub(id);
    await runDurableObjectAlarm(stub);
    // The second step's blobs, chunk and rows exist, but the job does not know.
    await runStepAndForget(stub);
    await runBackupToEnd(id);
    expect(await backupOutcome(id)).toEqual(expected);
  });

  it("resumes after eviction between every batch", async () => {
    const expected = await uninterruptedOutcome();
    const id = await startFullBackup();
    const stub = backupJobStub(id);
    while (await runDurableObjectAlarm(stub)) await evictDurableObject(stub);
    expect(await backupOutcome(id)).toEqual(expected);
  });

  it("re-arms a backup whose alarm was lost, after answering a status read that finds it stale", async () => {
    await putObjects(OBJECTS.slice(0, 20));
    const id = await startFullBackup();
    const stub = backupJobStub(id);
    await runInDurableObject(stub, (_job, state) => state.storage.deleteAlarm());
    expect(await runDurableObjectAlarm(stub)).toBe(false);

    // A fresh row is not worth asking about: the read answers from D1 and leaves the job alone.
    expect((await api("GET", `/api/backup/status/${id}`)).body.backup.status).toBe("in_progress");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await runInDurableObject(stub, (_job, state) => state.storage.getAlarm())).toBeNull();

    // A row that has not moved for minutes is: the job is asked after the response, and re-armed.
    await env.DB.prepare("UPDATE r2_backups SET updated_at = ? WHERE id = ?")
      .bind(new Date(Date.now() - 10 * 60_000).toISOString(), id)
      .run();
    expect((await api("GET", `/api/backup/status/${id}`)).body.backup.status).toBe("in_progress");
    await expect
      .poll(() => runInDurableObject(stub, (_job, state) => state.storage.getAlarm()), { timeout: 5_000 })
      .not.toBeNull();
    await runBackupToEnd(id);
    expect((await api("GET", `/api/backup/status/${id}`)).body.backup).toMatchObject({
      status: "completed",
      fileCount: 20,
    });
  });

  it("records an object that keeps failing as failed and ends the backup partial, never completed", async () => {
    await putObjects(OBJECTS.slice(0, 30));
    const broken = OBJECTS[7]!.key;
    const id = await startFullBackup();
    await injectInto(id, "source", {
      methods: ["get"],
      failAtCall: 1,
      failures: Infinity,
      keyFilter: (key) => key === broken,
    });
    await runBackupToEnd(id);

    const { body } = await api("GET", `/api/backup/status/${id}`);
    expect(body.backup).toMatchObject({ status: "partial", fileCount: 29, failedCount: 1, snapshotFileCount: 29 });
    expect(body.backup.error).toMatch(/1 object\(s\) could not be read/);
    const failed = await env.DB.prepare(
      "SELECT file_path, status, error FROM backup_files WHERE backup_id = ? AND status = 'failed'",
    )
      .bind(id)
      .all();
    expect(failed.results).toEqual([
      { file_path: broken, status: "failed", error: expect.stringMatching(/injected fault/) },
    ]);
    const errors = await api("GET", `/api/backup/logs/${id}?level=error`);
    expect(errors.body.logs.map((l: { message: string }) => l.message)).toContainEqual(
      expect.stringContaining(`Could not back up ${broken}`),
    );
  });

  it("marks the backup failed and frees the bucket when the backup store keeps failing", async () => {
    await putObjects(OBJECTS.slice(0, 10));
    const id = await startFullBackup();
    await injectInto(id, "backup", { methods: ["put", "head"], failAtCall: 1, failures: Infinity });
    const steps = await runBackupToEnd(id);
    expect(steps).toBe(6); // BACKUP_MAX_STEP_ATTEMPTS
    const { body } = await api("GET", `/api/backup/status/${id}`);
    expect(body.backup).toMatchObject({ status: "failed", error: expect.stringMatching(/injected fault/) });
    // The lease is released: a new backup can start.
    expect((await api("POST", "/api/backup/create", { body: { type: "full" } })).status).toBe(202);
  });
});

describe("the bucket lease", () => {
  it("is not taken from a holder that is still starting", async () => {
    await runInDurableObject(coordinatorStub(), (_c, state) =>
      state.storage.put("lease", {
        holderId: "bk-20200101T000000Z-0000beef",
        kind: "backup",
        acquiredAt: Date.now(),
        lastSeenAt: Date.now(),
      }),
    );
    const refused = await api("POST", "/api/backup/create", { body: { type: "full" } });
    expect(refused.status).toBe(409);
    expect(refused.body.error.details.backupId).toBe("bk-20200101T000000Z-0000beef");
  });

  it("is taken over from a holder that no longer works, and a create re-arms a running holder's lost alarm", async () => {
    await putObjects(OBJECTS.slice(0, 10));
    // A lease left behind by a backup job that does not exist (for example state lost in a crash).
    await runInDurableObject(coordinatorStub(), (_c, state) =>
      state.storage.put("lease", {
        holderId: "bk-20200101T000000Z-deadbeef",
        kind: "backup",
        acquiredAt: 0,
        lastSeenAt: 0,
      }),
    );
    const id = await startFullBackup();

    await runInDurableObject(backupJobStub(id), (_job, state) => state.storage.deleteAlarm());
    const refused = await api("POST", "/api/backup/create", { body: { type: "full" } });
    expect(refused.status).toBe(409);
    expect(await runDurableObjectAlarm(backupJobStub(id))).toBe(true); // re-armed by the create
    await runBackupToEnd(id);
    expect((await api("GET", `/api/backup/status/${id}`)).body.backup.status).toBe("completed");
  });
});
