/**
 * The garbage-collection defects of the issue "Garbage collection that cannot lose data", one
 * test each; every one of these failed on the code before its fix (grace period 0 in this project).
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { emptyBucket, putObjects, type SeedObject } from "../helpers/buckets";
import { completedBackup, verify } from "../helpers/flows";
import { armPlan, CallPlan } from "../helpers/interpose";
import { cleanupJobStub, runJobToEnd } from "../helpers/jobs";
import { clearTables } from "../helpers/d1-tables";
import { leavesOf, snapshotEntries } from "../helpers/manifest";
import { readIndex } from "../../durable-objects/engine/format/manifest";
import { locatorOf, openManifest } from "../../durable-objects/engine/format/manifest-reader";

async function freshBuckets(): Promise<void> {
  await emptyBucket(env.R2_BUCKET);
  await emptyBucket(env.R2_BACKUP_BUCKET);
  await clearTables(["r2_backups", "backup_files", "backup_logs", "backup_jobs", "job_findings"]);
}

async function cleanup(body: unknown): Promise<string> {
  const started = await api("POST", "/api/backup/cleanup", { body });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  await runJobToEnd(cleanupJobStub(started.body.job.id));
  const job = (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
  expect(job.status, JSON.stringify(job)).toBe("completed");
  return job.id;
}

/** A snapshot's leaves in order, each with its keys (read as the engine reads them). */
async function leavesWithKeys(backupId: string): Promise<string[][]> {
  const index = (await readIndex(env.R2_BACKUP_BUCKET, null, backupId))!;
  const reader = openManifest(env.R2_BACKUP_BUCKET, null, locatorOf(index));
  const leaves: string[][] = [];
  for (let seq = 0; seq < reader.chunkCount; seq++) {
    const leaf = await reader.leaf(seq);
    if (leaf.kind !== "leaf") throw new Error(`leaf ${seq} of ${backupId} is unreadable`);
    leaves.push(leaf.entries.map((e) => e.key));
  }
  return leaves;
}

describe("defect 2: the mark phase marks a new page whose children an older snapshot marked", () => {
  it(
    "keeps the new root of a snapshot made only of old leaves, so the newest backup still verifies",
    { timeout: 120_000 },
    async () => {
      await freshBuckets();
      const objects: SeedObject[] = Array.from({ length: 500 }, (_, i) => ({
        key: `docs/${String(i).padStart(4, "0")}.txt`,
        body: `document ${i}`,
      }));
      await putObjects(objects);
      const older = await completedBackup("full");
      const leaves = await leavesWithKeys(older.id);
      expect(leaves.length, "a tree of several leaves under an index page").toBeGreaterThanOrEqual(3);

      // Delete exactly the second leaf's keys (a folder): the next snapshot's leaves are all old
      // ones, under a new root page.
      await env.R2_BUCKET.delete(leaves[1]!);
      const newer = await completedBackup("incremental");
      expect(newer.status).toBe("completed");
      expect(await leavesWithKeys(newer.id)).toEqual([leaves[0], ...leaves.slice(2)]);

      // Both kept: the older one is marked first (ids in time order), then the newer one's root.
      await cleanup({ retentionDays: 0, keep: { last: 2 } });
      expect((await verify(newer.id)).result).toMatchObject({ valid: true, filesChecked: 500 - leaves[1]!.length });
      expect((await verify(older.id)).result).toMatchObject({ valid: true, filesChecked: 500 });
      expect((await snapshotEntries(env.R2_BACKUP_BUCKET, newer.id)).length).toBe(500 - leaves[1]!.length);
    },
  );
});

describe("defect 4: an expiry interrupted between its steps is finished by the next cleanup", () => {
  it("deletes the manifest and file rows a cancelled cleanup left behind an expired backup", async () => {
    await freshBuckets();
    await putObjects([{ key: "a.txt", body: "first" }]);
    const older = await completedBackup("full");
    await putObjects([{ key: "a.txt", body: "second" }]);
    await completedBackup("incremental");
    expect(await readIndex(env.R2_BACKUP_BUCKET, null, older.id)).not.toBeNull();

    // The backup bucket refuses deletes: the expiry marks the backup expired, then fails.
    const started = await api("POST", "/api/backup/cleanup", { body: { retentionDays: 0, keep: { last: 1 } } });
    const stub = cleanupJobStub(started.body.job.id);
    const plan = new CallPlan("count");
    plan.outage = (label) => label === "R2_BACKUP_BUCKET.delete";
    await armPlan(stub, plan);
    await runDurableObjectAlarm(stub); // plan
    await runDurableObjectAlarm(stub).catch(() => undefined); // expire: fails deleting the manifest
    expect((await api("POST", `/api/backup/cancel/${started.body.job.id}`)).status).toBe(202);
    await runJobToEnd(stub);
    expect((await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job.status).toBe("cancelled");
    expect((await api("GET", `/api/backup/status/${older.id}`)).body.backup.status).toBe("expired");
    expect(await readIndex(env.R2_BACKUP_BUCKET, null, older.id)).not.toBeNull();

    const next = await cleanup({ retentionDays: 0, keep: { last: 1 } });
    expect((await api("GET", `/api/backup/jobs/${next}`)).body.job.result).toMatchObject({
      backupsExpired: 0,
      expiriesFinished: 1,
    });
    expect(await readIndex(env.R2_BACKUP_BUCKET, null, older.id)).toBeNull();
    expect(
      (await env.DB.prepare("SELECT count(*) AS n FROM backup_files WHERE backup_id = ?")
        .bind(older.id)
        .first<{ n: number }>())!.n,
    ).toBe(0);
    expect(
      (await env.DB.prepare("SELECT manifest_key FROM r2_backups WHERE id = ?").bind(older.id).first())!.manifest_key,
    ).toBeNull();
    // Finished once: the cleanup after it has nothing of it left to do.
    expect(
      (await api("GET", `/api/backup/jobs/${await cleanup({ retentionDays: 0, keep: { last: 1 } })}`)).body.job.result
        .expiriesFinished,
    ).toBe(0);
  });
});

describe("a verification or restore of a backup a cleanup expires", () => {
  it("refuses clearly when the expiry came first, and never raises verification_failed", async () => {
    await freshBuckets();
    await env.DB.exec("DELETE FROM alerts");
    await putObjects([{ key: "a.txt", body: "first" }]);
    const older = await completedBackup("full");
    await putObjects([{ key: "a.txt", body: "second" }]);
    await completedBackup("incremental");
    // Accepted while the backup was completed; the cleanup's expiry landed before the job's row.
    const jobId = `job-verify-after-expiry-${Date.now()}`;
    const stub = env.VERIFY_JOB.getByName(jobId);
    await cleanup({ retentionDays: 0, keep: { last: 1 } });
    await stub.start({
      jobId,
      backupId: older.id,
      requestedBy: "test",
      mode: "full",
      sample: null,
      recordedChecksum: older.checksum,
    });
    await runJobToEnd(stub);
    const job = (await api("GET", `/api/backup/jobs/${jobId}`)).body.job;
    expect(job).toMatchObject({
      status: "failed",
      error: expect.stringMatching(
        /is expired: a cleanup expired it before this verify could read it; nothing was read/,
      ),
    });
    expect(
      (await env.DB.prepare("SELECT count(*) AS n FROM alerts WHERE code = 'verification_failed'").first<{
        n: number;
      }>())!.n,
    ).toBe(0);
    expect((await api("POST", `/api/backup/verify/${older.id}`, { body: {} })).status).toBe(409);
  });

  it("keeps a backup the plan expires when a verification began to read it first", async () => {
    await freshBuckets();
    await putObjects([{ key: "a.txt", body: "first" }]);
    const older = await completedBackup("full");
    await putObjects([{ key: "a.txt", body: "second" }]);
    await completedBackup("incremental");
    const started = await api("POST", "/api/backup/cleanup", { body: { retentionDays: 0, keep: { last: 1 } } });
    await runDurableObjectAlarm(cleanupJobStub(started.body.job.id)); // the plan expires `older`
    const verifying = await api("POST", `/api/backup/verify/${older.id}`, { body: { mode: "full" } });
    expect(verifying.status).toBe(202);
    await runJobToEnd(cleanupJobStub(started.body.job.id));
    expect((await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job.result).toMatchObject({
      backupsExpired: 0,
      keptInUse: 1,
    });
    await runJobToEnd(env.VERIFY_JOB.getByName(verifying.body.job.id));
    expect((await api("GET", `/api/backup/jobs/${verifying.body.job.id}`)).body.job.result).toMatchObject({
      valid: true,
      filesChecked: 1,
    });
    expect((await api("GET", `/api/backup/status/${older.id}`)).body.backup.status).toBe("completed");
  });
});

describe("a cleanup that fails in its mark phase", () => {
  it("says what it had done: the expiries it made, and that no blob or chunk was deleted", async () => {
    await freshBuckets();
    await putObjects([{ key: "a.txt", body: "first" }]);
    await completedBackup("full");
    await putObjects([{ key: "a.txt", body: "second" }]);
    await completedBackup("incremental");
    await putObjects([{ key: "a.txt", body: "third" }]);
    const newest = await completedBackup("incremental");
    const [leaf] = await leavesOf(env.R2_BACKUP_BUCKET, newest.id);
    await env.R2_BACKUP_BUCKET.delete(leaf!.key);

    const started = await api("POST", "/api/backup/cleanup", { body: { retentionDays: 0, keep: { last: 2 } } });
    await runJobToEnd(cleanupJobStub(started.body.job.id));
    const job = (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
    expect(job.status).toBe("failed");
    expect(job.error).toMatch(
      /is missing; 1 backup\(s\) were expired \(their manifests and file rows deleted\); no blob or chunk was deleted$/,
    );
  });
});
