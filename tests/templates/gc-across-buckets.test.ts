/**
 * Defect 1 of the issue "Garbage collection that cannot lose data": a cleanup of one source
 * bucket must never delete a blob that a backup of another source bucket, writing into the same
 * backup store, relies on. Both tests failed before the store-level exclusion
 * (docs/invariants.md, 16): the first deleted a blob a running backup had found present by
 * deduplication, the second one that a backup completed between the cleanup's plan and its sweep.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { emptyTwoBucketStore, listAll, putObjects, sha256Hex } from "../helpers/buckets";
import { verify } from "../helpers/flows";
import { armPlan, CallPlan, disarm } from "../helpers/interpose";
import { backupJobStub, cleanupJobStub, runBackupToEnd, runJobToEnd, writeFirstFromNow } from "../helpers/jobs";
import { replicateJobId } from "../../durable-objects/replicate-job";

const media = () => env.R2_MEDIA_BUCKET!;
const SHARED = "the same content in both source buckets";

async function finished(id: string) {
  await runBackupToEnd(id);
  await runJobToEnd(env.REPLICATE_JOB.getByName(replicateJobId(id)));
  return (await api("GET", `/api/backup/status/${id}`)).body.backup;
}

async function create(body: Record<string, unknown>): Promise<string> {
  const created = await api("POST", "/api/backup/create", { body });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  return created.body.backup.id;
}

async function startCleanup(): Promise<string> {
  const started = await api("POST", "/api/backup/cleanup", { body: { retentionDays: 0, keep: { last: 1 } } });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return started.body.job.id;
}

const sharedBlob = async () => `blobs/${await sha256Hex(SHARED)}`;

/**
 * cutty-files once held SHARED, in a backup the next cleanup expires (its newer backup does not
 * name it); media-files holds SHARED too, backed up by a template into the same store.
 */
beforeEach(async () => {
  await emptyTwoBucketStore();
  await putObjects([{ key: "docs/shared.txt", body: SHARED }]);
  await finished(await create({ type: "full" }));
  await env.R2_BUCKET.delete("docs/shared.txt");
  await putObjects([{ key: "docs/other.txt", body: "something else" }]);
  await finished(await create({ type: "incremental" }));
  await putObjects([{ key: "photos/same.txt", body: SHARED }], media());
  const template = await api("POST", "/api/backup/templates", {
    body: { name: "media", sourceBinding: "R2_MEDIA_BUCKET", bucketName: "media-files" },
  });
  expect(template.status, JSON.stringify(template.body)).toBe(201);
});

describe("a cleanup of one source bucket and a backup of another, into one store", () => {
  it("keeps a blob that a running backup of the other bucket found present by deduplication", async () => {
    const mediaBackup = await create({ template: "media", type: "full" });
    // Its first step reads photos/same.txt, finds SHARED's blob already stored and skips it.
    await runDurableObjectAlarm(backupJobStub(mediaBackup));
    expect((await api("GET", `/api/backup/status/${mediaBackup}`)).body.backup.status).toBe("in_progress");

    await runJobToEnd(cleanupJobStub(await startCleanup()));
    const done = await finished(mediaBackup);
    expect(done.status).toBe("completed");
    expect((await listAll(env.R2_BACKUP_BUCKET, "blobs/")).map((o) => o.key)).toContain(await sharedBlob());
    expect((await verify(mediaBackup, { mode: "full" })).result).toMatchObject({ valid: true, filesChecked: 1 });
  });

  it("keeps what a backup of the other bucket that completed between the cleanup's plan and its sweep names", async () => {
    const cleanupId = await startCleanup();
    await runDurableObjectAlarm(cleanupJobStub(cleanupId)); // the plan
    const mediaBackup = await finished(await create({ template: "media", type: "full" }));
    expect(mediaBackup.status).toBe("completed");

    await runJobToEnd(cleanupJobStub(cleanupId));
    expect((await api("GET", `/api/backup/jobs/${cleanupId}`)).body.job.status).toBe("completed");
    expect((await verify(mediaBackup.id, { mode: "full" })).result).toMatchObject({ valid: true, filesChecked: 1 });
  });

  for (const writeFirst of [false, true])
    it(`makes a backup step that found a blob present ${writeFirst ? "(R2 refused its write) " : ""}run again when a sweep deletes it before the step commits`, async () => {
      const mediaBackup = await create({ template: "media", type: "full" });
      // Writing first, the step puts SHARED's blob only if absent; R2 refuses, and the HEAD after
      // finds it stored, as asking first does.
      if (writeFirst) await writeFirstFromNow(backupJobStub(mediaBackup));
      const cleanupId = await startCleanup();
      // The media backup's first step reads photos/same.txt and finds SHARED's blob stored; just
      // before its commit, the cleanup runs to its end and deletes that blob (nothing references
      // it yet). The commit then finds the blob condemned after its fence: the step does not count.
      const plan = new CallPlan("count");
      let swept = false;
      const blobCalls: string[] = [];
      plan.before = async (label, key) => {
        if (key.startsWith("blobs/")) blobCalls.push(label);
        if (label !== "DB.batch" || swept) return;
        swept = true;
        await runJobToEnd(cleanupJobStub(cleanupId));
      };
      await armPlan(backupJobStub(mediaBackup), plan);
      await runDurableObjectAlarm(backupJobStub(mediaBackup));
      await disarm(backupJobStub(mediaBackup));
      expect(swept).toBe(true);
      expect(blobCalls).toEqual(
        writeFirst ? ["R2_BACKUP_BUCKET.put", "R2_BACKUP_BUCKET.head"] : ["R2_BACKUP_BUCKET.head"],
      );
      // The step runs again, finds the blob gone, stores it, and the backup completes whole.
      const done = await finished(mediaBackup);
      expect(done).toMatchObject({ status: "completed", snapshotFileCount: 1 });
      expect((await listAll(env.R2_BACKUP_BUCKET, "blobs/")).map((o) => o.key)).toContain(await sharedBlob());
      expect((await verify(mediaBackup, { mode: "full" })).result).toMatchObject({ valid: true, filesChecked: 1 });
      const logs = (await api("GET", `/api/backup/logs/${mediaBackup}?limit=100`)).body.logs.map(
        (l: { message: string }) => l.message,
      );
      expect(logs.some((m: string) => /waits for a cleanup: 1 object\(s\) this step found in the store/.test(m))).toBe(
        true,
      );
    });
});
