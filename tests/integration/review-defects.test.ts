/**
 * The defects a code review found (issue "Hardening"), one test each; every one of these failed
 * on the code before its fix. Large-object and encryption defects are in
 * tests/storage-options/review-defects-sealed.test.ts and tests/small-multipart/.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { StepState } from "../../durable-objects/engine/lifecycle";
import { api } from "../helpers/api";
import { emptyBucket, putObjects, sha256Hex, variedObjects } from "../helpers/buckets";
import { completedBackup, verify } from "../helpers/flows";
import { armPlan, CallPlan, disarm } from "../helpers/interpose";
import {
  backupJobStub,
  coordinatorStub,
  restoreJobStub,
  runBackupToEnd,
  runJobToEnd,
  verifyJobStub,
} from "../helpers/jobs";
import { leavesOf } from "../helpers/manifest";

const OBJECTS = variedObjects(12);

async function stateOf(stub: DurableObjectStub) {
  return runInDurableObject(stub, (_job, state) =>
    state.storage.get<StepState & Record<string, unknown>>("checkpoint"),
  );
}

/** Runs one alarm as the runtime would: a handler that throws is retried (re-armed here). */
async function alarmTolerant(stub: DurableObjectStub): Promise<void> {
  try {
    await runDurableObjectAlarm(stub);
  } catch {
    await runInDurableObject(stub, (_job, state) => state.storage.setAlarm(Date.now() + 3_600_000));
  }
}

const d1Down = (label: string) => label.startsWith("DB.");

/** The message an RPC call failed with; the rejection is handled at once (an RPC promise is only thenable). */
async function failureOf(call: PromiseLike<unknown>): Promise<string> {
  return new Promise<string>((resolve) =>
    call.then(
      () => resolve("(it succeeded)"),
      (error: unknown) => resolve(String(error)),
    ),
  );
}

describe("defect 1: the last write of a job converges to D1", () => {
  it("a verification whose final D1 write fails is recorded once D1 is back (alarm retries it)", async () => {
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    const started = await api("POST", `/api/backup/verify/${backup.id}`, { body: {} });
    const stub = verifyJobStub(started.body.job.id);
    const plan = new CallPlan("count");
    await armPlan(stub, plan);
    // Step 1 checks the chunk; step 2 decides the outcome and writes its progress, then records
    // the end: D1 goes down between those two writes and stays down for three more alarms.
    await runDurableObjectAlarm(stub);
    let batches = 0;
    plan.outage = (label) => label.startsWith("DB.") && ++batches > 1;
    for (let i = 0; i < 4; i++) await alarmTolerant(stub);
    expect((await stateOf(stub))!.stage).toBe("finishing");
    expect((await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job.status).toBe("in_progress");
    expect(await runInDurableObject(stub, (_job, state) => state.storage.getAlarm())).not.toBeNull();

    plan.outage = null;
    await runJobToEnd(stub);
    expect((await stateOf(stub))!.stage).toBe("done");
    const job = (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
    expect(job).toMatchObject({ status: "completed", result: { valid: true, filesChecked: OBJECTS.length } });
    expect((await api("GET", `/api/backup/status/${backup.id}`)).body.backup).toMatchObject({
      lastVerificationValid: true,
      lastVerifiedAt: expect.any(String),
    });
  });

  it("a backup that gives up during a D1 outage is failed in D1 too, through heartbeat, with its error", async () => {
    await putObjects(OBJECTS);
    const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
    const id = created.body.backup.id;
    const stub = backupJobStub(id);
    const plan = new CallPlan("count");
    plan.outage = d1Down;
    await armPlan(stub, plan);
    for (let i = 0; i < 8; i++) await alarmTolerant(stub);
    const state = (await stateOf(stub))!;
    expect(state).toMatchObject({
      stage: "finishing",
      outcome: "failed",
      error: expect.stringMatching(/after 6 attempts.*injected fault: DB\./),
    });
    expect((await api("GET", `/api/backup/status/${id}`)).body.backup.status).toBe("in_progress");
    expect(await coordinatorStub().currentLease()).toMatchObject({ holderId: id }); // not released before it is recorded

    plan.outage = null;
    expect(await stub.heartbeat()).toBe("finished");
    const backup = (await api("GET", `/api/backup/status/${id}`)).body.backup;
    expect(backup).toMatchObject({ status: "failed", error: expect.stringMatching(/injected fault/) });
    expect(await coordinatorStub().currentLease()).toBeNull();
  });

  it("a job whose D1 start record failed records it with its first step, and completes", async () => {
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    const jobId = `job-start-fails-${Date.now()}`;
    const stub = verifyJobStub(jobId);
    const plan = new CallPlan("count");
    plan.outage = d1Down;
    await armPlan(stub, plan);
    expect(
      await failureOf(
        stub.start({
          jobId,
          backupId: backup.id,
          requestedBy: "test",
          mode: "full",
          sample: null,
          recordedChecksum: backup.checksum,
        }),
      ),
    ).toMatch(/injected fault/);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM backup_jobs WHERE id = ?").bind(jobId).first("n")).toBe(0);
    expect((await stateOf(stub))!.startRecorded).toBe(false);

    plan.outage = null;
    await runJobToEnd(stub);
    expect((await api("GET", `/api/backup/jobs/${jobId}`)).body.job).toMatchObject({
      status: "completed",
      result: { valid: true },
    });
  });

  it("a D1 row in progress with no job state behind it is failed by the watchdog after the grace period", async () => {
    const id = "bk-orphaned-row";
    const longAgo = new Date(Date.now() - 20 * 60_000).toISOString();
    await env.DB.prepare(
      "INSERT INTO r2_backups (id, bucket_name, backup_date, status, backup_type, trigger, requested_by, started_at, updated_at, phase) VALUES (?, 'cutty-files', ?, 'in_progress', 'full', 'api', 'test', ?, ?, 'copying')",
    )
      .bind(id, longAgo, longAgo, longAgo)
      .run();
    // The read answers at once from D1; the watchdog runs after the response.
    expect((await api("GET", `/api/backup/status/${id}`)).body.backup.status).toBe("in_progress");
    await expect
      .poll(async () => (await api("GET", `/api/backup/status/${id}`)).body.backup.status, { timeout: 5_000 })
      .toBe("failed");
    expect((await api("GET", `/api/backup/status/${id}`)).body.backup.error).toMatch(/no state behind this record/);
  });
});

describe("defect 3: no failed job has an empty error", () => {
  it("a backup whose steps keep failing with errors that have no message says what failed", async () => {
    await putObjects(OBJECTS.slice(0, 3));
    const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
    const id = created.body.backup.id;
    const plan = new CallPlan("count");
    plan.outage = (label) => label === "R2_BACKUP_BUCKET.put";
    plan.fault = () => new Error("");
    await armPlan(backupJobStub(id), plan);
    for (let i = 0; i < 8; i++) await alarmTolerant(backupJobStub(id));
    const backup = (await api("GET", `/api/backup/status/${id}`)).body.backup;
    expect(backup).toMatchObject({ status: "failed", error: "Failed after 6 attempts of one step: Error" });
  });
});

describe("defect 4: a replayed step leaves exactly the rows of its final attempt", () => {
  it("an object that failed in the first attempt and was captured on replay has no failed row", async () => {
    await emptyBucket(env.R2_BUCKET);
    await putObjects(OBJECTS);
    const flaky = OBJECTS[3]!.key;
    const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
    const id = created.body.backup.id;
    const stub = backupJobStub(id);
    const plan = new CallPlan("count");
    // First attempt: every read of one object fails (it is recorded failed), then the job dies
    // right after the step's D1 batch, before its checkpoint.
    plan.outage = (label, key) => label === "R2_BUCKET.get" && key === flaky;
    plan.dieAfter = (label) => label === "DB.batch";
    await armPlan(stub, plan);
    await alarmTolerant(stub);
    expect(
      await env.DB.prepare("SELECT status FROM backup_files WHERE backup_id = ? AND file_path = ?")
        .bind(id, flaky)
        .first("status"),
    ).toBe("failed");

    await disarm(stub);
    await runBackupToEnd(id);
    const backup = (await api("GET", `/api/backup/status/${id}`)).body.backup;
    expect(backup).toMatchObject({ status: "completed", failedCount: 0, fileCount: OBJECTS.length });
    expect(
      await env.DB.prepare("SELECT count(*) AS n FROM backup_files WHERE backup_id = ? AND status = 'failed'")
        .bind(id)
        .first("n"),
    ).toBe(0);
    const restored = (await api("POST", `/api/backup/restore/${id}`, { body: { targetPrefix: "replayed/" } })).body.job;
    await runJobToEnd(restoreJobStub(restored.id));
    expect((await api("GET", `/api/backup/jobs/${restored.id}`)).body.job.result).toMatchObject({
      filesRestored: OBJECTS.length,
      filesFailed: 0,
      failures: [],
    });
  });
});

describe("defect 6: a start that throws keeps the lease until the job is known not to run", () => {
  it("the coordinator keeps the lease of a restore whose start failed after saving its state", async () => {
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    const jobId = `job-lease-${Date.now()}`;
    const plan = new CallPlan("count");
    plan.outage = d1Down;
    await armPlan(restoreJobStub(jobId), plan);
    const request = {
      jobId,
      backupId: backup.id,
      bucketName: "cutty-files",
      requestedBy: "test",
      options: {
        overwriteExisting: false,
        verifyAfterRestore: false,
        dryRun: false,
        targetPrefix: "lease/",
        filter: { pathPrefix: "", extensions: [], modifiedFrom: null, modifiedTo: null },
      },
    };
    expect(await failureOf(coordinatorStub().startRestore(request))).toMatch(/injected fault/);
    // The job exists and will run: a backup now would run beside it.
    expect(await coordinatorStub().currentLease()).toMatchObject({ holderId: jobId, kind: "restore" });
    expect((await api("POST", "/api/backup/create", { body: { type: "full" } })).status).toBe(409);

    plan.outage = null;
    await runJobToEnd(restoreJobStub(jobId));
    expect(await coordinatorStub().currentLease()).toBeNull();
    expect((await api("GET", `/api/backup/jobs/${jobId}`)).body.job).toMatchObject({
      status: "completed",
      result: { filesRestored: OBJECTS.length },
    });
  });
});

describe("defect 7: a partial backup is a parent", () => {
  it("an incremental after a partial full backup builds on it, and auto stays incremental", async () => {
    await emptyBucket(env.R2_BUCKET);
    await putObjects(OBJECTS);
    const unreadable = OBJECTS[5]!.key;
    const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
    const fullId = created.body.backup.id;
    const plan = new CallPlan("count");
    plan.outage = (label, key) => label === "R2_BUCKET.get" && key === unreadable;
    await armPlan(backupJobStub(fullId), plan);
    await runBackupToEnd(fullId);
    expect((await api("GET", `/api/backup/status/${fullId}`)).body.backup.status).toBe("partial");

    const incremental = await api("POST", "/api/backup/create", { body: { type: "auto" } });
    expect(incremental.body.backup).toMatchObject({ type: "incremental", parentId: fullId });
    await runBackupToEnd(incremental.body.backup.id);
    // The object the parent could not read is read again as new, and the snapshot is whole.
    const done = (await api("GET", `/api/backup/status/${incremental.body.backup.id}`)).body.backup;
    expect(done).toMatchObject({ status: "completed", fileCount: 1, snapshotFileCount: OBJECTS.length });
  });
});

describe("defect 8: dedup checks a blob before trusting it", () => {
  it("a planted blob at a content's name is detected, logged and repaired by the next backup", async () => {
    await emptyBucket(env.R2_BUCKET);
    await emptyBucket(env.R2_BACKUP_BUCKET);
    const content = "the real content of the victim file";
    await putObjects([{ key: "victim.txt", body: content }, ...OBJECTS.slice(0, 3)]);
    const blob = `blobs/${await sha256Hex(content)}`;
    await env.R2_BACKUP_BUCKET.put(blob, "planted bytes of another length", {
      customMetadata: { format: "raw", backupId: "attacker", sourceKey: "x" },
    });

    const backup = await completedBackup();
    const stored = await env.R2_BACKUP_BUCKET.get(blob);
    expect(await stored!.text()).toBe(content);
    const logs = (await api("GET", `/api/backup/logs/${backup.id}?level=warn`)).body.logs;
    expect(logs.map((l: { message: string }) => l.message)).toContainEqual(
      expect.stringMatching(/Repaired blobs\/.* \(content of victim\.txt\).*stored size/),
    );
    expect((await verify(backup.id)).result).toMatchObject({ valid: true });
  });

  it("a blob of the right size but a foreign SHA-256 is not trusted either", async () => {
    await emptyBucket(env.R2_BUCKET);
    await emptyBucket(env.R2_BACKUP_BUCKET);
    const content = "abcdefgh";
    await putObjects([{ key: "same-size.txt", body: content }]);
    const blob = `blobs/${await sha256Hex(content)}`;
    await env.R2_BACKUP_BUCKET.put(blob, "ABCDEFGH", {
      customMetadata: { format: "raw", backupId: "attacker", sourceKey: "x" },
    });
    await completedBackup();
    expect(await (await env.R2_BACKUP_BUCKET.get(blob))!.text()).toBe(content);
  });
});

describe("defect 9 and 10: bounded reads, sample windows", () => {
  it("files reads at most 8 manifest chunks per request and pages on with a cursor", async () => {
    await emptyBucket(env.R2_BUCKET);
    const many = Array.from({ length: 1_000 }, (_, i) => ({
      key: `bulk/${String(i).padStart(4, "0")}.txt`,
      body: `n${i}`,
    }));
    await putObjects(many);
    const backup = await completedBackup();
    const leaves = await leavesOf(env.R2_BACKUP_BUCKET, backup.id);
    expect(leaves.length).toBeGreaterThan(8);
    const paths: string[] = [];
    let cursor = "";
    for (let page = 0; ; page++) {
      const body = (await api("GET", `/api/backup/files/${backup.id}?limit=1000${cursor}`)).body;
      // A page reads 8 leaves at most, so it ends with the eighth leaf however many were asked.
      const expected = leaves.slice(page * 8, page * 8 + 8).reduce((sum, leaf) => sum + leaf.entries, 0);
      expect(body.files).toHaveLength(expected);
      paths.push(...body.files.map((f: { path: string }) => f.path));
      if (body.nextCursor === null) break;
      cursor = `&cursor=${body.nextCursor}`;
    }
    expect(paths).toEqual(many.map((o) => o.key));
  });

  it("each sampled verification starts where the previous one ended, whatever its percentage", async () => {
    await emptyBucket(env.R2_BUCKET);
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    const offsets = [];
    for (const samplePercent of [10, 30, 25, 50])
      offsets.push((await verify(backup.id, { samplePercent })).result.sample.offset);
    await verify(backup.id, { mode: "full" }); // a full run does not move the window
    offsets.push((await verify(backup.id, { samplePercent: 10 })).result.sample.offset);
    expect(offsets).toEqual([0, 10, 40, 65, 15]);
  });
});

describe("defect 10: an error no retry can cure fails the job at once", () => {
  it("a restore whose manifest chunk is gone fails at its first step, naming the chunk, instead of retrying six times", async () => {
    await emptyBucket(env.R2_BUCKET);
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    const [firstLeaf] = await leavesOf(env.R2_BACKUP_BUCKET, backup.id);
    await env.R2_BACKUP_BUCKET.delete(firstLeaf!.key);
    const started = await api("POST", `/api/backup/restore/${backup.id}`, { body: { targetPrefix: "gone/" } });
    expect(await runJobToEnd(restoreJobStub(started.body.job.id))).toBe(1);
    expect((await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job).toMatchObject({
      status: "failed",
      error: `manifest chunk ${firstLeaf!.key} of backup ${backup.id} is missing; verify the backup`,
    });
    expect(await coordinatorStub().currentLease()).toBeNull();
  });
});

describe("cancellation", () => {
  it("a cancelled backup stops at its next step, is never a parent, and cannot be restored or cancelled again", async () => {
    await emptyBucket(env.R2_BUCKET);
    await putObjects(OBJECTS);
    const parent = await completedBackup();
    const created = await api("POST", "/api/backup/create", { body: { type: "incremental" } });
    const id = created.body.backup.id;
    const cancelled = await api("POST", `/api/backup/cancel/${id}`);
    expect(cancelled.status).toBe(202);
    await runBackupToEnd(id);
    const backup = (await api("GET", `/api/backup/status/${id}`)).body.backup;
    expect(backup).toMatchObject({ status: "cancelled", error: expect.stringMatching(/Cancelled by/) });
    expect(await coordinatorStub().currentLease()).toBeNull();
    expect((await api("POST", `/api/backup/cancel/${id}`)).status).toBe(409);
    expect((await api("POST", `/api/backup/restore/${id}`, { body: {} })).status).toBe(409);
    const next = await api("POST", "/api/backup/create", { body: { type: "incremental" } });
    expect(next.body.backup.parentId).toBe(parent.id);
    await runBackupToEnd(next.body.backup.id);
  });

  it("cancelling a restore needs the restore scope, and releases the bucket", async () => {
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    const started = await api("POST", `/api/backup/restore/${backup.id}`, { body: { targetPrefix: "cancel-me/" } });
    const jobId = started.body.job.id;
    const { mintToken } = await import("../helpers/tokens");
    expect(
      (await api("POST", `/api/backup/cancel/${jobId}`, { token: await mintToken({ scope: "backup:write" }) })).status,
    ).toBe(403);
    expect(
      (await api("POST", `/api/backup/cancel/${jobId}`, { token: await mintToken({ scope: "backup:restore" }) }))
        .status,
    ).toBe(202);
    await runJobToEnd(restoreJobStub(jobId));
    expect((await api("GET", `/api/backup/jobs/${jobId}`)).body.job).toMatchObject({
      status: "cancelled",
      error: expect.stringMatching(/Cancelled by/),
    });
    expect(await coordinatorStub().currentLease()).toBeNull();
    expect((await api("POST", "/api/backup/cancel/no-such-id")).status).toBe(404);
    expect((await api("POST", `/api/backup/cancel/${jobId}`, { body: { force: true } })).status).toBe(400);
  });
});

describe("defect 11: API edges", () => {
  it("unknown paths under /api/backup/ are 404; known paths with another method are 405", async () => {
    expect((await api("GET", "/api/backup/nothing-here")).status).toBe(404);
    expect((await api("GET", "/api/backup/status/a/b")).status).toBe(404);
    expect((await api("DELETE", "/api/backup/status/some-id")).status).toBe(405);
    expect((await api("GET", "/api/backup/create")).status).toBe(405);
  });
});
