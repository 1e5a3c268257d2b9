/**
 * The grace period of cleanup (24 hours in this project), with compression and encryption on: a
 * blob younger than it is never deleted, referenced or not, so a backup that stopped midway (or
 * one still writing, were it allowed to run) never loses what it stored before recording it.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { emptyBucket, listAll, putObjects, variedObjects } from "../helpers/buckets";
import { completedBackup, verify } from "../helpers/flows";
import { backupJobStub, cleanupJobStub, runBackupToEnd, runJobToEnd } from "../helpers/jobs";

describe("cleanup grace period", () => {
  it("never deletes a young blob, even one only a cancelled backup wrote; expired backups still go", async () => {
    await emptyBucket(env.R2_BUCKET);
    await emptyBucket(env.R2_BACKUP_BUCKET);
    await putObjects(variedObjects(20));
    const kept = await completedBackup("full");
    // A second backup of new content stops after its first step: its blobs are referenced by nothing.
    await putObjects(variedObjects(20).map((o) => ({ ...o, body: `changed: ${String(o.body)}` })));
    const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
    await runDurableObjectAlarm(backupJobStub(created.body.backup.id));
    await api("POST", `/api/backup/cancel/${created.body.backup.id}`);
    await runBackupToEnd(created.body.backup.id);
    expect((await api("GET", `/api/backup/status/${created.body.backup.id}`)).body.backup.status).toBe("cancelled");
    const blobsBefore = (await listAll(env.R2_BACKUP_BUCKET, "blobs/")).map((o) => o.key);

    const started = await api("POST", "/api/backup/cleanup", { body: { retentionDays: 0, keep: { last: 1 } } });
    await runJobToEnd(cleanupJobStub(started.body.job.id));
    const job = (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
    expect(job.result).toMatchObject({
      graceHours: 24,
      backupsExpired: 1,
      backupIdsExpired: [created.body.backup.id],
      blobsDeleted: 0,
      blobsScanned: blobsBefore.length,
    });
    expect((await listAll(env.R2_BACKUP_BUCKET, "blobs/")).map((o) => o.key)).toEqual(blobsBefore);
    expect((await verify(kept.id)).result).toMatchObject({ valid: true });
  });
});
