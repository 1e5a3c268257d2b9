/**
 * A deployment whose backup bucket carries R2 bucket lock rules of 10 days
 * (BACKUP_BUCKET_LOCK_DAYS): the engine never asks R2 for what a rule would refuse. A damaged blob
 * the lock keeps from being replaced fails its object (reported: the backup is partial, the file
 * row and the log say why) instead of failing the step again and again; the sweep leaves
 * unneeded blobs younger than the lock; no cleanup expires a backup younger than it (and a day).
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { advanceClock } from "../../durable-objects/engine/clock";
import { api } from "../helpers/api";
import { listAll, putObjects } from "../helpers/buckets";
import { cleanup, completedBackup, crashedBackup } from "../helpers/flows";
import { armPlan, CallPlan } from "../helpers/interpose";
import { backupJobStub, runBackupToEnd, writeFirstFromNow } from "../helpers/jobs";

const DAY = 86_400_000;

describe("an R2 bucket lock on the backup bucket", () => {
  it("a damaged blob the lock keeps fails its object, reported, and the backup goes on", async () => {
    await putObjects([
      { key: "kept.txt", body: "a file whose blob stays sound" },
      { key: "damaged.txt", body: "a file whose blob is replaced by something else" },
    ]);
    const first = await completedBackup("full");
    const files = (await api("GET", `/api/backup/files/${first.id}`)).body.files as {
      path: string;
      checksum: string;
    }[];
    // Unencrypted, a blob is named by its content's SHA-256.
    const blob = `blobs/${files.find((f) => f.path === "damaged.txt")!.checksum}`;
    expect(await env.R2_BACKUP_BUCKET.head(blob)).not.toBeNull();
    // Overwritten in place (as an attacker with the R2 credential could, before the lock applied).
    await env.R2_BACKUP_BUCKET.put(blob, "not the content");

    const second = await completedBackup("full");
    expect(second).toMatchObject({ status: "partial", snapshotFileCount: 1 });
    const failed = (await api("GET", `/api/backup/status/${second.id}`)).body.backup;
    expect(failed.failedCount).toBe(1);
    const errors = (await api("GET", `/api/backup/logs/${second.id}?level=error`)).body.logs as { message: string }[];
    expect(errors.map((l) => l.message)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^Could not back up damaged\\.txt: the stored blob ${blob} cannot be trusted \\(.*\\) and an R2 bucket lock keeps it from being replaced until .* \\(BACKUP_BUCKET_LOCK_DAYS 10\\)`,
        ),
      ),
    ]);
  });

  it("a backup whose content was mostly new still asks before it writes: no put over a locked blob", async () => {
    await putObjects([{ key: "stored.txt", body: "content the store holds already" }]);
    await completedBackup("full");
    const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
    const id: string = created.body.backup.id;
    // Writing first (engine/backup/write-first.ts) would put over the stored, locked blob.
    await writeFirstFromNow(backupJobStub(id));
    const plan = new CallPlan("count");
    const blobCalls: string[] = [];
    plan.before = async (label, key) => {
      if (key.startsWith("blobs/")) blobCalls.push(label);
    };
    await armPlan(backupJobStub(id), plan);
    await runBackupToEnd(id);
    expect(blobCalls).toEqual(["R2_BACKUP_BUCKET.head"]);
    expect((await api("GET", `/api/backup/status/${id}`)).body.backup.status).toBe("completed");
  });

  it("the sweep leaves unneeded blobs younger than the lock, and no cleanup expires a younger backup", async () => {
    await putObjects([{ key: "doc.txt", body: "version 0" }]);
    const oldest = await completedBackup("full");
    await putObjects([{ key: "doc.txt", body: "version 1" }]);
    const crashed = await crashedBackup("incremental"); // stored its blob, never finished
    await putObjects([{ key: "doc.txt", body: "version 2" }]);
    const newest = await completedBackup("incremental");
    const blobs = async () => (await listAll(env.R2_BACKUP_BUCKET, "blobs/")).length;
    expect(await blobs()).toBe(3);

    const asked = { retentionDays: 0, keep: { last: 1 } };
    const young = await cleanup(asked);
    expect(young.result).toMatchObject({
      graceHours: 240,
      backupsExpired: 0,
      keptByLock: 2, // the oldest and the crashed one
      blobsDeleted: 0,
      waitingForGrace: { objects: expect.any(Number) },
    });
    expect(young.result.waitingForGrace.objects).toBeGreaterThan(0);
    expect(await blobs()).toBe(3);

    // Past the lock (and the day of margin for indexes written at a backup's end), the same
    // request expires the oldest and the crashed backup's blob goes.
    advanceClock(11 * DAY + 60_000);
    const old = await cleanup(asked);
    expect(old.result).toMatchObject({ backupsExpired: 2, keptByLock: 0 });
    expect(old.result.backupIdsExpired.sort()).toEqual([oldest.id, crashed].sort());
    expect(await blobs()).toBe(1);
    expect((await api("GET", `/api/backup/status/${newest.id}`)).body.backup.status).toBe("completed");
  });
});
