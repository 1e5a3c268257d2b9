/**
 * Event-driven backups: R2 event notifications through the Worker's queue handler, the pending
 * changes in the coordinator, and the targeted incremental they start. The engine project sets
 * BACKUP_EVENT_THRESHOLD to 5 and BACKUP_EVENT_MAX_DELAY_SECONDS to an hour (vitest.config.ts).
 */
import {
  createExecutionContext,
  createMessageBatch,
  env,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import worker from "../../workers/index";
import type { BucketCoordinator } from "../../durable-objects/bucket-coordinator";
import type { BackupJob } from "../../durable-objects/backup-job";
import { EVENT_BACKOFF_BASE_MS, type Backoff } from "../../durable-objects/engine/coordinator/event-backoff";
import { TARGETED_MAX_KEYS } from "../../durable-objects/engine/coordinator/pending-changes";
import { api } from "../helpers/api";
import { putObjects } from "../helpers/buckets";
import { completedBackup, verify } from "../helpers/flows";
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
async function deliver(bodies: unknown[], deadLetters: unknown[] = []) {
  const batch = createMessageBatch(
    "cutty-files-events",
    bodies.map((body, i) => ({
      id: `m${i}-${Math.random().toString(36).slice(2)}`,
      timestamp: new Date(),
      attempts: 1,
      body,
    })),
  );
  const ctx = createExecutionContext();
  // The dead-letter producer, watched: what the consumer could not process is sent there.
  const deadLetterQueue = {
    send: async (body: unknown) => void deadLetters.push(body),
    sendBatch: async (messages: Iterable<{ body: unknown }>) =>
      void deadLetters.push(...[...messages].map((m) => m.body)),
  };
  await worker.queue(batch, { ...env, OBJECT_EVENTS_DEAD_LETTERS: deadLetterQueue as unknown as Queue });
  return getQueueResult(batch, ctx);
}

async function backupsBy(trigger: string) {
  const { body } = await api("GET", "/api/backup/list?limit=100");
  return (body.backups as { id: string; trigger: string; type: string; status: string }[]).filter(
    (b) => b.trigger === trigger,
  );
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

/** The coordinator's event backoff, and a way to let it pass now (instead of waiting it out). */
const backoffOf = () =>
  runInDurableObject(coordinatorStub(), (_o: BucketCoordinator, state) => state.storage.get<Backoff>("event-backoff"));
async function endBackoff(): Promise<void> {
  await runInDurableObject(coordinatorStub(), async (_o: BucketCoordinator, state) => {
    const backoff = await state.storage.get<Backoff>("event-backoff");
    if (backoff) await state.storage.put("event-backoff", { ...backoff, retryAt: Date.now() - 1 });
    await state.storage.setAlarm(Date.now());
  });
}

async function snapshotOf(id: string) {
  const { body } = await api("GET", `/api/backup/files/${id}?limit=1000`);
  return body.files;
}

/** A backup's log lines, oldest first, as one text. */
async function logText(id: string): Promise<string> {
  const logs: { message: string }[] = (await api("GET", `/api/backup/logs/${id}?limit=1000`)).body.logs;
  return logs.map((l) => l.message).join("\n");
}

/**
 * A full backup of p/a.txt and p/b.txt that cannot read p/b.txt (it ends partial), optionally
 * with `moreUnread` failed keys recorded beside it, then five changed keys under q/ and the event
 * backup they start, run to its end.
 */
async function eventBackupAfterPartialParent(moreUnread = 0) {
  await putObjects(["a", "b"].map((k) => ({ key: `p/${k}.txt`, body: k })));
  const fullId = (await api("POST", "/api/backup/create", { body: { type: "full" } })).body.backup.id;
  const plan = new CallPlan("count");
  plan.outage = (label, key) => label === "R2_BUCKET.get" && key === "p/b.txt";
  await armPlan(backupJobStub(fullId), plan);
  await runBackupToEnd(fullId);
  expect(await statusOf(fullId)).toMatchObject({ status: "partial", failedCount: 1 });
  if (moreUnread > 0) {
    await env.DB.batch(
      Array.from({ length: moreUnread }, (_, i) =>
        env.DB.prepare(
          "INSERT INTO backup_files (backup_id, file_path, file_size, status, error) VALUES (?, ?, 0, 'failed', 'x')",
        ).bind(fullId, `gone/${String(i).padStart(4, "0")}`),
      ),
    );
  }
  await putObjects(["1", "2", "3", "4", "5"].map((k) => ({ key: `q/${k}.txt`, body: k })));
  await deliver(["1", "2", "3", "4", "5"].map((k) => notification("PutObject", `q/${k}.txt`)));
  const [started] = await eventBackupsStarted(1);
  await runBackupToEnd(started!.id);
  return { fullId, id: started!.id, log: await logText(started!.id) };
}

/** Runs a backup to its end with a small tree fanout (4), so a few hundred keys grow a tree of several levels. */
async function runWithSmallTrees(id: string) {
  await runInDurableObject(backupJobStub(id), (job: BackupJob) => {
    job.wrapDeps = (deps) => ({
      ...deps,
      settings: { ...deps.settings, treeShape: { leafModulus: 4, pageModulus: 4 } },
    });
  });
  await runBackupToEnd(id);
  return statusOf(id);
}

async function backupWithSmallTrees(type: "full" | "incremental") {
  return runWithSmallTrees((await api("POST", "/api/backup/create", { body: { type } })).body.backup.id);
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
    const deadLetters: unknown[] = [];
    const result = await deliver(
      [
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
      ],
      deadLetters,
    );
    // Everything is acknowledged: malformed messages go to the dead-letter queue, never retried, never blocking.
    expect(result.ackAll).toBe(true);
    expect(deadLetters).toHaveLength(3);
    expect(result.retryBatch.retry).toBe(false);
    expect(result.retryMessages).toEqual([]);
    expect(await coordinatorStub().changeSummary()).toMatchObject({ count: 5, overflowSince: null });
    expect((await api("GET", "/api/backup/stats")).body.unprotectedChanges).toMatchObject({
      keys: 5,
      overflow: false,
      oldestAt: expect.any(String),
    });

    // Five keys reach the threshold: the coordinator's alarm starts one event backup.
    const started = await eventBackupsStarted(1);
    expect(started[0]).toMatchObject({ type: "incremental", status: "in_progress" });
    await runBackupToEnd(started[0]!.id);
    const backup = await statusOf(started[0]!.id);
    expect(backup).toMatchObject({
      status: "completed",
      parentId: full.id,
      requestedBy: "events",
      fileCount: 4,
      deletedCount: 1,
      snapshotFileCount: 7,
    });
    const log = await logText(backup.id);
    expect(log).toContain("reads only the 5 key(s) named by change events");

    // Its changes are covered: nothing is pending and no second backup starts.
    expect(await coordinatorStub().changeSummary()).toMatchObject({ count: 0, firstReceivedAt: null });
    expect((await api("GET", "/api/backup/stats")).body.unprotectedChanges).toEqual({
      keys: 0,
      oldestAt: null,
      overflow: false,
    });
    await runDurableObjectAlarm(coordinatorStub());
    expect(await backupsBy("event")).toHaveLength(1);
    // The list filters by trigger.
    expect((await api("GET", "/api/backup/list?trigger=event")).body.backups.map((b: { id: string }) => b.id)).toEqual([
      backup.id,
    ]);
    expect((await api("GET", "/api/backup/list?trigger=api")).body.backups.map((b: { id: string }) => b.id)).toEqual([
      full.id,
    ]);
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

  it("sends what it cannot process to the dead-letter queue, and never records a key R2 refuses (defect 7)", async () => {
    const tooLong = "é".repeat(1000); // 1,000 characters, 2,000 bytes of UTF-8
    const deadLetters: { reason: string; body: unknown }[] = [];
    const result = await deliver(
      [
        notification("PutObject", tooLong),
        {},
        notification("PutObject", "fine.txt"),
        notification("PutObject", "x.txt", "another-bucket"),
      ],
      deadLetters,
    );
    expect(result.ackAll).toBe(true);
    expect(deadLetters.map((d) => d.reason)).toEqual([
      expect.stringMatching(/R2 can never hold its key: the key is 2000 bytes in UTF-8; R2 allows 1024/),
      expect.stringMatching(/not an R2 event notification/),
    ]);
    expect(deadLetters[1]!.body).toEqual({});
    // Only the valid key of the backed-up bucket is pending.
    expect(await coordinatorStub().changeSummary()).toMatchObject({ count: 1 });
    // The coordinator refuses such a key too, whoever records it.
    expect(await coordinatorStub().recordChanges([tooLong, "also-fine.txt"])).toMatchObject({ count: 2 });
  });

  it("edits its parent's tree by path (issue 22): the tree a listing of the same state builds, from a few chunks read", async () => {
    // 600 keys under a small fanout (4): a tree of about five levels.
    const keys = Array.from({ length: 600 }, (_, i) => `bulk/${String(i).padStart(4, "0")}.txt`);
    await putObjects(keys.map((key) => ({ key, body: `first ${key}` })));
    const full = await backupWithSmallTrees("full");
    const fullLog = await logText(full.id);
    const treeChunks = Number(/, (\d+) chunks stored/.exec(fullLog)![1]);

    // Every kind of change: an overwrite, a deletion, a key between two others, a metadata-only
    // rewrite (same bytes, new content type) and a key after the last one (the right spine).
    await putObjects([
      { key: keys[100]!, body: "second" },
      { key: `${keys[300]!}.new`, body: "between" },
      { key: keys[450]!, body: `first ${keys[450]}`, contentType: "text/markdown" },
      { key: "zz/last.txt", body: "after the last key" },
    ]);
    await env.R2_BUCKET.delete(keys[200]!);
    await deliver([
      notification("PutObject", keys[100]!),
      notification("DeleteObject", keys[200]!),
      notification("PutObject", `${keys[300]!}.new`),
      notification("PutObject", keys[450]!),
      notification("PutObject", "zz/last.txt"),
    ]);
    const [started] = await eventBackupsStarted(1);
    const edited = await runWithSmallTrees(started!.id);
    expect(edited).toMatchObject({ status: "completed", fileCount: 4, deletedCount: 1, snapshotFileCount: 601 });
    const log = await logText(edited.id);
    const read = Number(/chunks stored \(\d+ bytes\), (\d+) read/.exec(log)![1]);
    console.log(`path edit: 5 changed keys among 600 read ${read} of the parent's ${treeChunks} chunks`);
    expect(read).toBeLessThan(treeChunks / 4);

    // A listing incremental and a full backup of the same state build exactly the same tree.
    const listed = await backupWithSmallTrees("incremental");
    const whole = await backupWithSmallTrees("full");
    expect(whole.checksum).not.toBe(full.checksum);
    expect(listed.checksum).toBe(whole.checksum);
    expect(edited.checksum).toBe(whole.checksum);
    expect(edited).toMatchObject({ snapshotFileCount: whole.snapshotFileCount, snapshotSize: whole.snapshotSize });
    expect(await snapshotOf(edited.id)).toEqual(await snapshotOf(whole.id));
    expect((await verify(edited.id, { mode: "full" })).result).toMatchObject({ valid: true, filesChecked: 601 });
  });

  it("drops a named key R2 refuses with a logged reason, and fails only an object it cannot read (defect 7)", async () => {
    await putObjects([{ key: "kept.txt", body: "kept" }]);
    const parent = await completedBackup("full");
    await putObjects([
      { key: "changed.txt", body: "changed" },
      { key: "unreadable.txt", body: "cannot be read now" },
    ]);
    const tooLong = "é".repeat(1000);
    // As a coordinator from before the key check could have kept them: the backup must cope.
    const started = await coordinatorStub().startBackup({
      type: "incremental",
      trigger: "event",
      requestedBy: "events",
      targetKeys: ["changed.txt", tooLong, "unreadable.txt"],
    });
    if (!started.ok) throw new Error(`not started: ${JSON.stringify(started)}`);
    const plan = new CallPlan("count");
    plan.outage = (label, key) => label === "R2_BUCKET.head" && key === "unreadable.txt";
    await armPlan(backupJobStub(started.backup.id), plan);
    await runBackupToEnd(started.backup.id);

    const backup = await statusOf(started.backup.id);
    expect(backup).toMatchObject({ status: "partial", parentId: parent.id, failedCount: 1, snapshotFileCount: 2 });
    expect((await snapshotOf(backup.id)).map((f: { path: string }) => f.path)).toEqual(["changed.txt", "kept.txt"]);
    const logs = (await api("GET", `/api/backup/logs/${backup.id}?limit=100`)).body.logs
      .map((l: { message: string }) => l.message)
      .join("\n");
    expect(logs).toMatch(/Dropped a key named by a change event that R2 refuses \(é{20}/);
    expect(logs).toMatch(/Could not back up unreadable.txt: head unreadable.txt: injected fault/);
  });

  it("backs off after event backups that do not complete, so requested backups get the bucket between them (defect 7)", async () => {
    await putObjects([{ key: "k.txt", body: "k" }]);
    await completedBackup("full");
    await putObjects(["1", "2", "3", "4", "5"].map((k) => ({ key: `n${k}.txt`, body: k })));
    await deliver(["1", "2", "3", "4", "5"].map((k) => notification("PutObject", `n${k}.txt`)));

    // Every event backup fails to read the source bucket: each named object fails, so it ends partial.
    const failing = async (count: number) => {
      const started = (await eventBackupsStarted(count)).find((b) => b.status === "in_progress")!;
      const plan = new CallPlan("count");
      plan.outage = (label) => label.startsWith("R2_BUCKET.");
      await armPlan(backupJobStub(started.id), plan);
      await runBackupToEnd(started.id);
      return statusOf(started.id);
    };
    const before = Date.now();
    expect(await failing(1)).toMatchObject({ status: "partial", failedCount: 5 });
    const first = (await backoffOf())!;
    expect(first.failures).toBe(1);
    expect(first.retryAt).toBeGreaterThanOrEqual(before + EVENT_BACKOFF_BASE_MS);
    // The changes are kept, the coordinator's alarm waits for the backoff, and the bucket is free.
    expect(await coordinatorStub().changeSummary()).toMatchObject({ count: 5 });
    expect(
      await runInDurableObject(coordinatorStub(), (_o: BucketCoordinator, state) => state.storage.getAlarm()),
    ).toBeGreaterThanOrEqual(first.retryAt);
    const requested = await completedBackup("incremental");
    expect(requested.status).toBe("completed");
    // That backup covered the changes, and ended the backoff.
    expect(await coordinatorStub().changeSummary()).toMatchObject({ count: 0 });
    expect(await backoffOf()).toBeUndefined();

    // Two failures in a row: the wait doubles.
    await putObjects(["6", "7", "8", "9", "10"].map((k) => ({ key: `n${k}.txt`, body: k })));
    await deliver(["6", "7", "8", "9", "10"].map((k) => notification("PutObject", `n${k}.txt`)));
    expect(await failing(2)).toMatchObject({ status: "partial" });
    await endBackoff();
    const second = Date.now();
    // Its parent ended partial: it names the parent's unread keys too (the same five), and fails them again.
    expect(await failing(3)).toMatchObject({ status: "partial", failedCount: 5 });
    expect((await backoffOf())!).toMatchObject({ failures: 2, retryAt: expect.any(Number) });
    expect((await backoffOf())!.retryAt).toBeGreaterThanOrEqual(second + 2 * EVENT_BACKOFF_BASE_MS);
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
    const alarmAt = await runInDurableObject(coordinatorStub(), (_o: BucketCoordinator, state) =>
      state.storage.getAlarm(),
    );
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

    // The next attempt waits out the backoff (a minute after the first failure; moved back here).
    await runDurableObjectAlarm(coordinatorStub());
    expect(await backupsBy("event")).toHaveLength(1);
    await endBackoff();
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
    const keys = Array.from({ length: TARGETED_MAX_KEYS + 1 }, (_, i) => `many/${String(i).padStart(5, "0")}.txt`);
    await putObjects(keys.slice(0, 20).map((key) => ({ key, body: key })));
    // One batch: the coordinator's alarm (due at once past the threshold) must find them all pending.
    await deliver(keys.map((key) => notification("PutObject", key)));
    const [started] = await eventBackupsStarted(1);
    await runBackupToEnd(started!.id);
    const log = await logText(started!.id);
    expect(log).not.toContain("reads only");
    // Listed: it found the 20 objects that exist, whatever the events said.
    expect(await statusOf(started!.id)).toMatchObject({ status: "completed", fileCount: 20, snapshotFileCount: 21 });
  });

  it("names the keys a partial parent could not read, so they are read again without listing the bucket", async () => {
    const { fullId, id, log } = await eventBackupAfterPartialParent();
    expect(log).toContain(`Its parent ${fullId} ended partial: this event backup also reads again the 1 object(s)`);
    expect(log).toContain("reads only the 6 key(s) named by change events");
    // The five named keys and the object the parent could not read.
    expect(await statusOf(id)).toMatchObject({
      status: "completed",
      parentId: fullId,
      fileCount: 6,
      snapshotFileCount: 7,
    });
  });

  it("lists the bucket when a partial parent's unread keys are more than an event backup can name", async () => {
    // As if it had also failed to read as many more objects as an event backup can name (gone since).
    const { fullId, id, log } = await eventBackupAfterPartialParent(TARGETED_MAX_KEYS);
    expect(log).toContain(`Its parent ${fullId} ended partial with more unread objects than an event backup can name`);
    expect(log).not.toContain("reads only");
    expect(await statusOf(id)).toMatchObject({ status: "completed", fileCount: 6, snapshotFileCount: 7 });
  });
});
