/**
 * Issue 22, item 7: a path-edited snapshot names the subtrees it kept from its parent by their
 * root chunk only, so nothing under them is in its ledger references. A collection that read the
 * snapshots before it completed, and then finds its parent expired by another cleanup, must
 * still keep those subtrees: it reads the snapshots again and marks the child through them.
 * Without that, the sweep deleted the parent's unchanged leaves and the event backup lost them.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import type { CleanupState } from "../../durable-objects/engine/cleanup/cleanup-state";
import { api } from "../helpers/api";
import { emptyTwoBucketStore, putObjects } from "../helpers/buckets";
import { verify } from "../helpers/flows";
import { cleanupJobStub, coordinatorStub, runBackupToEnd, runJobToEnd } from "../helpers/jobs";
import { replicateJobId } from "../../durable-objects/replicate-job";

const media = () => env.R2_MEDIA_BUCKET!;

async function finished(id: string) {
  await runBackupToEnd(id);
  await runJobToEnd(env.REPLICATE_JOB.getByName(replicateJobId(id)));
  return (await api("GET", `/api/backup/status/${id}`)).body.backup;
}

async function cleanup(body: Record<string, unknown>): Promise<string> {
  const started = await api("POST", "/api/backup/cleanup", { body: { retentionDays: 0, keep: { last: 1 }, ...body } });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return started.body.job.id;
}

const phaseOf = (jobId: string) =>
  runInDurableObject(cleanupJobStub(jobId), async (_job, state) => {
    const saved = await state.storage.get<CleanupState>("checkpoint");
    return saved?.phase;
  });

beforeEach(async () => {
  await emptyTwoBucketStore();
});

describe("a path-edited snapshot and a collection that began before it completed", () => {
  it("keeps the subtrees it shares with a parent another cleanup expires meanwhile", async () => {
    // cutty-files: 400 keys (four or so leaves under a root) and a full backup of them.
    const keys = Array.from({ length: 400 }, (_, i) => `docs/${String(i).padStart(4, "0")}.txt`);
    await putObjects(keys.map((key) => ({ key, body: `content of ${key}` })));
    const parent = await finished((await api("POST", "/api/backup/create", { body: { type: "full" } })).body.backup.id);

    // media-files' cleanup registers as the store's collector and reads the snapshots: the parent is one.
    await putObjects([{ key: "photos/a.txt", body: "a photo" }], media());
    const template = await api("POST", "/api/backup/templates", {
      body: { name: "media", sourceBinding: "R2_MEDIA_BUCKET", bucketName: "media-files" },
    });
    expect(template.status, JSON.stringify(template.body)).toBe(201);
    await finished(
      (await api("POST", "/api/backup/create", { body: { template: "media", type: "full" } })).body.backup.id,
    );
    const collector = await cleanup({ template: "media" });
    for (let steps = 0; (await phaseOf(collector)) !== "mark"; steps++) {
      expect(steps).toBeLessThan(20);
      await runDurableObjectAlarm(cleanupJobStub(collector));
    }

    // An event backup of one changed key: a path edit that keeps the parent's other leaves by name.
    await putObjects([{ key: keys[10]!, body: "changed" }]);
    const started = await coordinatorStub().startBackup({
      type: "incremental",
      trigger: "event",
      requestedBy: "events",
      targetKeys: [keys[10]!],
    });
    expect(started.ok).toBe(true);
    const child = await finished((started as { backup: { id: string } }).backup.id);
    expect(child).toMatchObject({ status: "completed", parentId: parent.id, fileCount: 1 });
    const childLog = (await api("GET", `/api/backup/logs/${child.id}?limit=50`)).body.logs
      .map((l: { message: string }) => l.message)
      .join("\n");
    expect(childLog).toMatch(/chunks stored \(\d+ bytes\), \d+ read/); // made by a path edit

    // cutty-files' cleanup expires the parent, then waits for the collector.
    const expirer = await cleanup({});
    for (
      let steps = 0;
      (await api("GET", `/api/backup/status/${parent.id}`)).body.backup.status !== "expired";
      steps++
    ) {
      expect(steps).toBeLessThan(20);
      await runDurableObjectAlarm(cleanupJobStub(expirer));
    }

    // The collector marks and sweeps: the parent is gone, the child must keep every leaf.
    await runJobToEnd(cleanupJobStub(collector));
    expect((await api("GET", `/api/backup/jobs/${collector}`)).body.job.status).toBe("completed");
    expect((await verify(child.id, { mode: "full" })).result).toMatchObject({ valid: true, filesChecked: 400 });
    await runJobToEnd(cleanupJobStub(expirer));
    expect((await verify(child.id, { mode: "full" })).result).toMatchObject({ valid: true, filesChecked: 400 });
  });
});
