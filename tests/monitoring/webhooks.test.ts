/**
 * Webhook deliveries against a real receiver on the loopback (scripts/webhook-receiver.mjs, which
 * checks signatures with the recipe of docs/operations.md). The dispatcher's clock is the
 * test's: `deliverDue(at)` sends what is due at `at`, so backoff is exercised without sleeping.
 */
import {
  createExecutionContext,
  createScheduledController,
  env,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../workers/index";
import { deliverDue, MAX_ATTEMPTS, retryDelayMs } from "../../durable-objects/engine/monitor/webhook-dispatch";
import { openDatabase } from "../../durable-objects/engine/records";
import { api } from "../helpers/api";
import { putObjects, variedObjects } from "../helpers/buckets";
import { completedBackup, verify } from "../helpers/flows";
import { armPlan, CallPlan, disarm } from "../helpers/interpose";
import { backupJobStub, cleanupJobStub, runJobToEnd } from "../helpers/jobs";
import { dispatcher, queuedDeliveries, receiver } from "../helpers/monitoring";

const HOUR = 3_600_000;
const later = (hours: number) => new Date(Date.now() + hours * HOUR).toISOString();

beforeEach(() => receiver.reset());

describe("webhooks", () => {
  it("a failed verification opens verification_failed and the receiver gets one signed delivery of it", async () => {
    await putObjects(variedObjects(6));
    const backup = await completedBackup();
    // Damage the store: one blob the snapshot needs is gone.
    const [blob] = (await env.R2_BACKUP_BUCKET.list({ prefix: "blobs/" })).objects;
    await env.R2_BACKUP_BUCKET.delete(blob!.key);
    const job = await verify(backup.id, { mode: "full" });
    expect(job.result.valid).toBe(false);

    const report = await dispatcher().deliverDue();
    expect(report).toMatchObject({ delivered: 3, retrying: 0, failed: 0, nextAttemptAt: null });
    const received = await receiver.deliveries();
    expect(received.map((d) => d.event)).toEqual(["backup.completed", "verify.completed", "alert.opened"]);
    expect(received.every((d) => d.valid)).toBe(true);
    const opened = JSON.parse(received[2]!.body);
    expect(opened).toMatchObject({
      id: received[2]!.id,
      event: "alert.opened",
      data: { alert: { code: "verification_failed", severity: "critical" } },
    });
    expect(JSON.parse(received[0]!.body).data.backup).toMatchObject({
      id: backup.id,
      status: "completed",
      performance: { steps: expect.any(Number) },
    });
    expect(JSON.parse(received[1]!.body).data.job).toMatchObject({
      id: job.id,
      kind: "verify",
      status: "completed",
      result: { valid: false },
    });

    // Stats shows the alert; nothing is sent twice.
    const stats = (await api("GET", "/api/backup/stats")).body;
    expect(stats.alerts).toEqual([
      expect.objectContaining({ code: "verification_failed", severity: "critical", since: expect.any(String) }),
    ]);
    expect(await dispatcher().deliverDue(later(24))).toMatchObject({ delivered: 0 });
    expect(await receiver.deliveries()).toHaveLength(3);
  });

  it("a receiver that fails 3 times then succeeds gets the same delivery id and body every time, signed afresh", async () => {
    await putObjects(variedObjects(3));
    await completedBackup();
    await receiver.mode({ failNext: 3 });
    const reports = [];
    for (const hours of [0, 1, 2, 3]) reports.push(await dispatcher().deliverDue(later(hours)));
    expect(reports.map((r) => [r.delivered, r.retrying])).toEqual([
      [0, 1],
      [0, 1],
      [0, 1],
      [1, 0],
    ]);
    const received = await receiver.deliveries();
    expect(received.map((d) => d.answered)).toEqual([500, 500, 500, 204]);
    expect(new Set(received.map((d) => d.id)).size).toBe(1);
    expect(new Set(received.map((d) => d.body)).size).toBe(1);
    expect(new Set(received.map((d) => d.timestamp)).size).toBe(4);
    expect(received.every((d) => d.valid)).toBe(true);
    expect(await queuedDeliveries()).toEqual([
      expect.objectContaining({ event: "backup.completed", status: "delivered", attempts: 4, last_error: null }),
    ]);
  });

  it("stamps each delivery with the time it is sent, not when the dispatcher's run began", async () => {
    await putObjects(variedObjects(3));
    const backup = await completedBackup();
    await verify(backup.id);
    // A slow receiver: each answer takes 4 minutes of the (test's) clock.
    const start = Math.floor(Date.now() / 1000) * 1000 + HOUR; // whole seconds, and later than the deliveries are due
    let clock = start;
    const stamps: number[] = [];
    const report = await deliverDue(
      {
        db: openDatabase(env.DB),
        url: "http://127.0.0.1:9/hook",
        secret: "s",
        timeoutMs: 1000,
        clock: () => clock,
        fetch: async (_url, init) => {
          stamps.push(Number(new Headers(init?.headers).get("x-backup-timestamp")));
          clock += 4 * 60_000;
          return new Response(null, { status: 204 });
        },
      },
      new Date(clock),
    );
    expect(report).toMatchObject({ delivered: 2 });
    expect(stamps).toEqual([start / 1000, start / 1000 + 240]);
  });

  it("backs off for at least 10 minutes over 5 attempts, then gives up visibly", async () => {
    const beforeFifth = [1, 2, 3, 4].reduce((sum, n) => sum + retryDelayMs(n), 0);
    expect(beforeFifth).toBeGreaterThanOrEqual(10 * 60_000);
    expect(MAX_ATTEMPTS).toBeGreaterThanOrEqual(5);

    await putObjects(variedObjects(2));
    await completedBackup();
    await receiver.mode({ failNext: 1000 });
    // Retries are not due before their backoff has passed.
    expect(await dispatcher().deliverDue()).toMatchObject({ retrying: 1 });
    expect(await dispatcher().deliverDue()).toMatchObject({ delivered: 0, retrying: 0, failed: 0 });
    for (let n = 1; n < MAX_ATTEMPTS; n++) await dispatcher().deliverDue(later(24 * n));
    expect(await queuedDeliveries()).toEqual([
      expect.objectContaining({
        status: "failed",
        attempts: MAX_ATTEMPTS,
        last_error: "the receiver answered HTTP 500",
      }),
    ]);
    expect((await receiver.deliveries()).length).toBe(MAX_ATTEMPTS);
    expect((await api("GET", "/api/backup/stats")).body.webhooks).toEqual({
      pending: 0,
      failed: 1,
      lastProblem: expect.objectContaining({
        event: "backup.completed",
        status: "failed",
        error: "the receiver answered HTTP 500",
      }),
    });
  });

  it("a crash between deciding and sending still sends, once", async () => {
    await putObjects(variedObjects(3));
    const id = (await api("POST", "/api/backup/create", { body: { type: "full" } })).body.backup.id;
    // The backup's end is recorded (and its delivery queued), then waking the dispatcher fails.
    const plan = new CallPlan("count");
    plan.outage = (label) => label.startsWith("WEBHOOK_DISPATCHER");
    await armPlan(backupJobStub(id), plan);
    // (The recording of its end is retried for ever: run it until the wake has failed once.)
    for (let step = 0; step < 100 && plan.injected === 0; step++) await runDurableObjectAlarm(backupJobStub(id));
    expect(plan.injected).toBe(1);
    expect((await api("GET", `/api/backup/status/${id}`)).body.backup.status).toBe("completed");
    expect(await queuedDeliveries()).toEqual([
      expect.objectContaining({ event: "backup.completed", status: "pending", attempts: 0 }),
    ]);

    // The retried recording replays the end (queuing nothing twice) and wakes the dispatcher.
    await disarm(backupJobStub(id));
    expect(await runDurableObjectAlarm(backupJobStub(id))).toBe(true);
    expect(await queuedDeliveries()).toHaveLength(1);
    await dispatcher().deliverDue();
    expect((await receiver.deliveries()).map((d) => d.event)).toEqual(["backup.completed"]);
  });

  it("a delivery whose wake was lost goes out at the next cron firing", async () => {
    await putObjects(variedObjects(2));
    await completedBackup();
    await runInDispatcher(async (state) => state.storage.deleteAlarm()); // the wake is lost
    const ctx = createExecutionContext();
    // 05:00: not a backup slot of the daily schedule; the firing still wakes the dispatcher.
    await worker.scheduled(
      createScheduledController({ cron: "0 * * * *", scheduledTime: Date.parse("2026-12-01T05:00:00Z") }),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(await runDurableObjectAlarm(dispatcher())).toBe(true);
    expect((await receiver.deliveries()).map((d) => d.event)).toEqual(["backup.completed"]);
  });

  it("a receiver that never answers does not slow a backup; the attempt times out and is retried", async () => {
    await receiver.mode({ hang: true });
    await putObjects(variedObjects(4));
    const backup = await completedBackup();
    expect(backup.status).toBe("completed");
    // The backup ended without waiting on the receiver: it only queued its delivery.
    expect(await receiver.deliveries()).toEqual([]);

    const sending = Date.now();
    const report = await dispatcher().deliverDue();
    expect(Date.now() - sending).toBeGreaterThanOrEqual(300);
    expect(report).toMatchObject({ delivered: 0, retrying: 1 });
    expect(await queuedDeliveries()).toEqual([
      expect.objectContaining({ status: "pending", attempts: 1, last_error: "no answer within 300 ms" }),
    ]);
  });

  it("cleanup prunes deliveries sent or given up longer ago than the log retention, never pending ones", async () => {
    const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
    for (const [id, status, created] of [
      ["dl-old-delivered", "delivered", daysAgo(91)],
      ["dl-old-failed", "failed", daysAgo(91)],
      ["dl-old-pending", "pending", daysAgo(91)],
      ["dl-new-delivered", "delivered", daysAgo(1)],
    ] as const) {
      await env.DB.prepare(
        "INSERT INTO webhook_deliveries (id, event, body, created_at, status, attempts, next_attempt_at) VALUES (?, 'backup.completed', '{}', ?, ?, 1, ?)",
      )
        .bind(id, created, status, created)
        .run();
    }
    const cleanup = async (body: unknown) => {
      const started = await api("POST", "/api/backup/cleanup", { body });
      expect(started.status).toBe(202);
      await runJobToEnd(cleanupJobStub(started.body.job.id));
      return (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
    };
    expect((await cleanup({ dryRun: true })).result).toMatchObject({ deliveriesDeleted: 2 });
    expect((await queuedDeliveries()).length).toBeGreaterThanOrEqual(4);
    expect((await cleanup({})).result).toMatchObject({ deliveriesDeleted: 2 });
    const left = (await queuedDeliveries()).map((d) => d.id);
    expect(left).toEqual(expect.arrayContaining(["dl-old-pending", "dl-new-delivered"]));
    expect(left).not.toContain("dl-old-delivered");
    expect(left).not.toContain("dl-old-failed");
  });
});

function runInDispatcher(run: (state: DurableObjectState) => Promise<void>) {
  return runInDurableObject(dispatcher(), (_instance, state) => run(state));
}
