/**
 * Event-driven backups: R2 event notifications through the Worker's queue handler, the pending
 * changes in the coordinator, and the targeted incremental they start. The engine project sets
 * BACKUP_EVENT_THRESHOLD to 5 and BACKUP_EVENT_MAX_DELAY_SECONDS to an hour (vitest.config.ts).
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import worker from "../../workers/index";
import type { BucketCoordinator } from "../../durable-objects/bucket-coordinator";
import { api } from "../helpers/api";
import { putObjects } from "../helpers/buckets";
import { completedBackup } from "../helpers/flows";
import { armPlan, CallPlan } from "../helpers/interpose";
import { backupJobStub, coordinatorStub, runBackupToEnd } from "../helpers/jobs";

const BUCKET = "cutty-files";

function notification(action: string, key: string, bucket = BUCKET) {
  return {
    account: "0123456789abcdef",
    action,
    bucket,
    object: { key, ...(action === "DeleteObject" ? {} : { size: 1, eTag: "e" }) },
    eventTime: new Date().toISOString(),
  };
}

/** Delivers `bodies` to the Worker's queue handler as one batch; returns what it acknowledged. */
async function deliver(bodies: unknown[]) {
  const batch = createMessageBatch(
    "cutty-files-events",
    bodies.map((body, i) => ({ id: `m${i}-${Math.random().toString(36).slice(2)}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  return getQueueResult(batch, ctx);
}

async function backupsBy(trigger: string) {
  const { body } = await api("GET", "/api/backup/list?limit=100");
  return (body.backups as { id: string; trigger: string; type: string; status: string }[]).filter((b) => b.trigger === trigger);
}

/**
 * Waits until `count` event backups exist. An alarm that is due fires by itself in the test
 * runtime (only the jobs' steps are held back), so it is run here only if it has not yet.
 */
async function eventBackupsStarted(count: number) {
  await runDurableObjectAlarm(coordinatorStub());
  return vi.waitFor(
    async () => {
      const started = await backupsBy("event");
      expect(started).toHaveLength(count);
      return started;
    },
    { timeout: 5000, interval: 50 },
  );
}

async function snapshotOf(id: string) {
  const { body } = await api("GET", `/api/backup/files/${id}?limit=1000`);
  return body.files;
}

async function statusOf(id: string) {
  return (await api("GET", `/api/backup/status/${id}`)).body.backup;
}

describe("event-driven backups", () => {
  it("turns creates, overwrites, deletes, duplicates and out-of-order events into one targeted incremental of exactly the changed keys", async () => {
    await putObjects(["a", "b", "c", "d", "e", "f"].map((k) => ({ key: `docs/${k}.txt`, body: `first ${k}` })));
    const full = await completedBackup("full");

    await putObjects([
      { key: "docs/b.txt", body: "second b" },
      { key: "docs/d.txt", body: "d deleted, then written again" },
      { key: "new/1.txt", body: "new one" },
      { key: "new/2.txt", body: "new two" },
    ]);
    await env.R2_BUCKET.delete("docs/c.txt");
    const result = await deliver([
      notification("PutObject", "docs/b.txt"),
      notification("DeleteObject", "docs/c.txt"),
      notification("PutObject", "new/1.txt"),
      notification("CompleteMultipartUpload", "new/2.txt"),
      notification("PutObject", "docs/b.txt"), // a duplicate
      notification("PutObject", "docs/d.txt"), // out of order: the delete that came first arrives last
      notification("DeleteObject", "docs/d.txt"),
      {}, // malformed
      "not even an object",
      { action: "PutObject", bucket: BUCKET, object: {} },
      notification("PutObject", "elsewhere.txt", "another-bucket"), // not backed up here
    ]);
    // Everything is acknowledged: malformed messages are dropped, never retried, never blocking.
    expect(result.ackAll).toBe(true);
    expect(result.retryBatch.retry).toBe(false);
    expect(result.retryMessages).toEqual([]);
    expect(await coordinatorStub().changeSummary()).toMatchObject({ count: 5, overflowSince: null });
    expect((await api("GET", "/api/backup/stats")).body.unprotectedChanges).toMatchObject({ keys: 5, overflow: false, oldestAt: expect.any(String) });

    // Five keys reach the threshold: the coordinator's alarm starts one event backup.
    const started = await eventBackupsStarted(1);
    expect(started[0]).toMatchObject({ type: "incremental", status: "in_progress" });
    await runBackupToEnd(started[0]!.id);
    const backup = await statusOf(started[0]!.id);
    expect(backup).toMatchObject({ status: "completed", parentId: full.id, requestedBy: "events", fileCount: 4, deletedCount: 1, snapshotFileCount: 7 });
    const log = (await api("GET", `/api/backup/logs/${backup.id}`)).body.logs.map((l: { message: string }) => l.message).join("\n");
    expect(log).toContain("reads only the 5 key(s) named by change events");

    // Its changes are covered: nothing is pending and no second backup starts.
    expect(await coordinatorStub().changeSummary()).toMatchObject({ count: 0, firstReceivedAt: null });
    expect((await api("GET", "/api/backup/stats")).body.unprotectedChanges).toEqual({ keys: 0, oldestAt: null, overflow: false });
    await runDurableObjectAlarm(coordinatorStub());
    expect(await backupsBy("event")).toHaveLength(1);
    // The list filters by trigger.
    expect((await api("GET", "/api/backup/list?trigger=event")).body.backups.map((b: { id: string }) => b.id)).toEqual([backup.id]);
    expect((await api("GET", "/api/backup/list?trigger=api")).body.backups.map((b: { id: string }) => b.id)).toEqual([full.id]);
    expect((await api("GET", "/api/backup/list?trigger=events")).status).toBe(400);

    // A listing incremental of the same bucket state has the same snapshot, byte for byte.
    const listing = await completedBackup("incremental");
    expect(await snapshotOf(listing.id)).toEqual(await snapshotOf(backup.id));
    expect(listing.checksum).toBe(backup.checksum);
    expect((await snapshotOf(backup.id)).map((f: { path: string }) => f.path)).toEqual([
      "docs/a.txt",
      "docs/b.txt",
      "docs/d.txt",
      "docs/e.txt",
      "docs/f.txt",
      "new/1.txt",
      "new/2.txt",
    ]);
  });

  it("never starts while another backup holds the bucket: the changes wait for its end", async () => {
    await putObjects([{ key: "x.txt", body: "x" }]);
    await completedBackup("full");
    const running = (await api("POST", "/api/backup/create", { body: { type: "full" } })).body.backup.id;
    await putObjects(["p", "q", "r", "s", "t"].map((k) => ({ key: `${k}.txt`, body: k })));
    await deliver(["p", "q", "r", "s", "t"].map((k) => notification("PutObject", `${k}.txt`)));
    await runDurableObjectAlarm(coordinatorStub()); // due, but the bucket is busy
    expect(await backupsBy("event")).toHaveLength(0);

    // The running backup was requested before these events arrived, so they are still pending
    // when it ends; its release re-arms the check and the event backup follows.
    await runBackupToEnd(running);
    const started = await eventBackupsStarted(1);
    await runBackupToEnd(started[0]!.id);
    expect(await statusOf(started[0]!.id)).toMatchObject({ status: "completed", parentId: running, fileCount: 0 });
  });

  it("waits below the threshold until the oldest change has waited BACKUP_EVENT_MAX_DELAY_SECONDS", async () => {
    await putObjects([{ key: "only.txt", body: "one" }]);
    await completedBackup("full");
    await putObjects([{ key: "only.txt", body: "changed" }]);
    await deliver([notification("PutObject", "only.txt")]);
    const alarmAt = await runInDurableObject(coordinatorStub(), (_o: BucketCoordinator, state) => state.storage.getAlarm());
    const summary = await coordinatorStub().changeSummary();
    expect(alarmAt).toBe(summary.firstReceivedAt! + 3600 * 1000);
    await runDurableObjectAlarm(coordinatorStub()); // early: not due yet
    expect(await backupsBy("event")).toHaveLength(0);

    // An hour later (the stored arrival moved back instead of waiting):
    await runInDurableObject(coordinatorStub(), (_o: BucketCoordinator, state) =>
      state.storage.put("changes", { ...summary, firstReceivedAt: summary.firstReceivedAt! - 3600 * 1000 }),
    );
    await runInDurableObject(coordinatorStub(), (_o: BucketCoordinator, state) => state.storage.setAlarm(Date.now()));
    const started = await eventBackupsStarted(1);
    await runBackupToEnd(started[0]!.id);
    expect(await statusOf(started[0]!.id)).toMatchObject({ status: "completed", fileCount: 1 });
  });

  it("keeps the changes of an event backup that did not complete, and backs them up next time", async () => {
    await putObjects([{ key: "k.txt", body: "k" }]);
    await completedBackup("full");
    await putObjects(["1", "2", "3", "4", "5"].map((k) => ({ key: `n${k}.txt`, body: k })));
    await deliver(["1", "2", "3", "4", "5"].map((k) => notification("PutObject", `n${k}.txt`)));
    const [first] = await eventBackupsStarted(1);
    expect((await api("POST", `/api/backup/cancel/${first!.id}`)).status).toBe(202);
    await runBackupToEnd(first!.id);
    expect(await statusOf(first!.id)).toMatchObject({ status: "cancelled" });
    expect(await coordinatorStub().changeSummary()).toMatchObject({ count: 5 });

    const second = (await eventBackupsStarted(2)).find((b) => b.id !== first!.id)!;
    await runBackupToEnd(second.id);
    expect(await statusOf(second.id)).toMatchObject({ status: "completed", fileCount: 5 });
    expect(await coordinatorStub().changeSummary()).toMatchObject({ count: 0 });
  });

  it("keeps a change outside a template's scope when that template's backup completes (invariant 13)", async () => {
    await putObjects([
      { key: "reports/q1.csv", body: "q1" },
      { key: "images/logo.png", body: "png" },
    ]);
    await completedBackup("full");
    const template = await api("POST", "/api/backup/templates", {
      body: { name: "reports", sourceBinding: "R2_BUCKET", bucketName: BUCKET, includePrefixes: ["reports/"] },
    });
    expect(template.status, JSON.stringify(template.body)).toBe(201);
    await putObjects([{ key: "images/new.png", body: "new" }]);
    await deliver([notification("PutObject", "images/new.png")]);
    expect(await coordinatorStub().changeSummary()).toMatchObject({ count: 1 });

    const reports = await api("POST", "/api/backup/create", { body: { template: "reports" } });
    await runBackupToEnd(reports.body.backup.id);
    expect(await statusOf(reports.body.backup.id)).toMatchObject({ status: "completed" });
    // Its snapshot holds reports/ only: images/new.png is still not in any backup of the default.
    expect(await coordinatorStub().changeSummary()).toMatchObject({ count: 1 });
    const listing = await completedBackup("incremental");
    expect(listing.status).toBe("completed");
    expect(await coordinatorStub().changeSummary()).toMatchObject({ count: 0 });
  });

  it("falls back to a listing incremental when more keys changed than a targeted backup carries", async () => {
    await putObjects([{ key: "base.txt", body: "b" }]);
    await completedBackup("full");
    const keys = Array.from({ length: 1001 }, (_, i) => `many/${String(i).padStart(4, "0")}.txt`);
    await putObjects(keys.slice(0, 20).map((key) => ({ key, body: key })));
    await deliver(keys.map((key) => notification("PutObject", key)).slice(0, 500));
    await deliver(keys.map((key) => notification("PutObject", key)).slice(500));
    const [started] = await eventBackupsStarted(1);
    await runBackupToEnd(started!.id);
    const log = (await api("GET", `/api/backup/logs/${started!.id}`)).body.logs.map((l: { message: string }) => l.message).join("\n");
    expect(log).not.toContain("reads only");
    // Listed: it found the 20 objects that exist, whatever the events said.
    expect(await statusOf(started!.id)).toMatchObject({ status: "completed", fileCount: 20, snapshotFileCount: 21 });
  });

  it("lists the bucket instead when the parent ended partial, so what the parent could not read is read again", async () => {
    await putObjects(["a", "b", "c"].map((k) => ({ key: `p/${k}.txt`, body: k })));
    const fullId = (await api("POST", "/api/backup/create", { body: { type: "full" } })).body.backup.id;
    const plan = new CallPlan("count");
    plan.outage = (label, key) => label === "R2_BUCKET.get" && key === "p/b.txt";
    await armPlan(backupJobStub(fullId), plan);
    await runBackupToEnd(fullId);
    expect(await statusOf(fullId)).toMatchObject({ status: "partial", failedCount: 1 });

    await putObjects(["1", "2", "3", "4", "5"].map((k) => ({ key: `q/${k}.txt`, body: k })));
    await deliver(["1", "2", "3", "4", "5"].map((k) => notification("PutObject", `q/${k}.txt`)));
    const [started] = await eventBackupsStarted(1);
    await runBackupToEnd(started!.id);
    const log = (await api("GET", `/api/backup/logs/${started!.id}`)).body.logs.map((l: { message: string }) => l.message).join("\n");
    expect(log).toContain(`Its parent ${fullId} ended partial`);
    expect(log).not.toContain("reads only");
    // The five named keys and the object the parent could not read.
    expect(await statusOf(started!.id)).toMatchObject({ status: "completed", parentId: fullId, fileCount: 6, snapshotFileCount: 8 });
  });
});
