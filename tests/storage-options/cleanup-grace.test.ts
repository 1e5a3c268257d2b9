/**
 * The grace period of cleanup (24 hours in this project), with compression and encryption on: a
 * blob or manifest chunk younger than it is never deleted, referenced or not, so a backup that
 * stopped midway (or one still writing, were it allowed to run) never loses what it stored before
 * recording it.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { emptyBucket, listAll, putObjects, variedObjects } from "../helpers/buckets";
import { completedBackup, crashedBackup, verify } from "../helpers/flows";
import { backupJobStub, cleanupJobStub, runBackupToEnd, runJobToEnd } from "../helpers/jobs";
import { chunkKeysOf } from "../helpers/manifest";
import { readKeyring } from "../../durable-objects/engine/settings/engine-settings";

describe("cleanup grace period", () => {
  it("never deletes a young blob or chunk, even one only a cancelled or crashed backup wrote; expired backups still go", async () => {
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
    // A third one dies while finishing: its manifest chunks are stored, its index never is.
    await putObjects(variedObjects(20).map((o) => ({ ...o, body: `changed again: ${String(o.body)}` })));
    const crashed = await crashedBackup("full");
    const blobsBefore = (await listAll(env.R2_BACKUP_BUCKET, "blobs/")).map((o) => o.key);
    const chunksBefore = (await listAll(env.R2_BACKUP_BUCKET, "chunks/")).map((o) => o.key);
    const keptChunks = await chunkKeysOf(env.R2_BACKUP_BUCKET, [kept.id], await readKeyring(env));
    expect(chunksBefore.filter((key) => !keptChunks.has(key)).length).toBeGreaterThan(0);

    const started = await api("POST", "/api/backup/cleanup", { body: { retentionDays: 0, keep: { last: 1 } } });
    await runJobToEnd(cleanupJobStub(started.body.job.id));
    const job = (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
    expect(job.result).toMatchObject({
      graceHours: 24,
      backupsExpired: 2,
      blobsDeleted: 0,
      chunksDeleted: 0,
      blobsScanned: blobsBefore.length,
    });
    expect([...job.result.backupIdsExpired].sort()).toEqual([created.body.backup.id, crashed].sort());
    // What waits for the grace period is said, with when it becomes reclaimable.
    const waiting = job.result.waitingForGrace;
    const unneededChunks = chunksBefore.filter((key) => !keptChunks.has(key)).length;
    expect(waiting.objects).toBeGreaterThanOrEqual(unneededChunks + 1);
    expect(waiting.bytes).toBeGreaterThan(0);
    const reclaimable = Date.parse(waiting.reclaimableFrom) - Date.now();
    expect(reclaimable).toBeGreaterThan(23 * 3_600_000);
    expect(reclaimable).toBeLessThanOrEqual(24 * 3_600_000);
    expect((await listAll(env.R2_BACKUP_BUCKET, "blobs/")).map((o) => o.key)).toEqual(blobsBefore);
    expect((await listAll(env.R2_BACKUP_BUCKET, "chunks/")).map((o) => o.key)).toEqual(chunksBefore);
    expect((await verify(kept.id)).result).toMatchObject({ valid: true });
  });
});
