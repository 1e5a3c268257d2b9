/**
 * The scheduled run end to end: a run that finds the bucket busy waits in the coordinator's queue
 * and starts once it is free; a slot whose previous run still waits is missed (skipped), and after
 * BACKUP_ALERT_SKIPPED_RUNS (3) missed slots in a row `schedule_skipped` opens, which the waiting
 * run's start resolves. A trigger that cannot serve the schedule is a recorded error.
 */
import {
  createExecutionContext,
  createScheduledController,
  env,
  runDurableObjectAlarm,
  waitOnExecutionContext,
} from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../workers/index";
import { api } from "../helpers/api";
import { putObjects, variedObjects } from "../helpers/buckets";
import { cleanupJobStub, runBackupToEnd, runJobToEnd } from "../helpers/jobs";
import { alertRows } from "../helpers/monitoring";

// (no_recent_backup opens too over these days of a backup that never ends; it is not this test's.)
const skippedAlerts = async () =>
  (await alertRows()).filter((a) => a.code === "schedule_skipped").map((a) => [a.code, a.resolved_at]);

const fire = async (iso: string, cron = "0 * * * *") => {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron, scheduledTime: Date.parse(iso) }), env, ctx);
  await waitOnExecutionContext(ctx);
};
const runs = async () =>
  (
    await env.DB.prepare(
      "SELECT outcome, target, detail FROM audit_events WHERE action = 'schedule.run' ORDER BY id",
    ).all()
  ).results as {
    outcome: string;
    target: string | null;
    detail: string;
  }[];

describe("scheduled runs", () => {
  it("waits while a backup runs, alerts after repeated missed slots, and resolves when the waiting run starts", async () => {
    await putObjects(variedObjects(4));
    await fire("2026-12-01T02:00:00Z");
    await fire("2026-12-01T03:00:00Z"); // not a daily slot: no run at all
    const [started] = await runs();
    expect(started).toMatchObject({ outcome: "accepted" });
    const backupId = started!.target!;

    // The next slot's run waits for the bucket; the slots after it are missed while it waits.
    for (const day of ["02", "03", "04"]) await fire(`2026-12-${day}T02:00:00Z`);
    expect((await runs()).map((r) => r.outcome)).toEqual(["accepted", "accepted", "skipped", "skipped"]);
    expect((await runs())[1]).toMatchObject({
      target: backupId,
      detail: expect.stringContaining("queued behind backup"),
    });
    expect(await skippedAlerts()).toEqual([]);
    await fire("2026-12-05T02:00:00Z");
    expect(await skippedAlerts()).toEqual([["schedule_skipped", null]]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM r2_backups").first("n")).toBe(1); // never a second one meanwhile
    const log = (await api("GET", `/api/backup/logs/${backupId}?limit=100`)).body.logs.map(
      (l: { message: string }) => l.message,
    );
    expect(log).toContainEqual(expect.stringContaining("The scheduled backup of 2026-12-03T02:00:00.000Z was missed"));

    // The backup ends; its cron cleanup follows, then the waiting run starts (once).
    await runBackupToEnd(backupId);
    await runJobToEnd(cleanupJobStub(`job-cleanup-after-${backupId}`));
    await runDurableObjectAlarm(env.BUCKET_COORDINATOR.getByName("cutty-files"));
    expect(await env.DB.prepare("SELECT count(*) AS n FROM r2_backups").first("n")).toBe(2);
    expect((await runs()).at(-1)).toMatchObject({
      outcome: "accepted",
      detail: expect.stringContaining("that waited for the bucket started backup"),
    });
    await fire("2026-12-05T03:00:00Z"); // an hourly firing: it checks the alerts
    expect(await skippedAlerts()).toEqual([["schedule_skipped", "2026-12-05T03:00:00.000Z"]]);
  });

  it("a stored template on the same bucket waits its turn once, and its runs neither break the default's skip streak nor stand for its last run", async () => {
    await putObjects(variedObjects(4));
    const created = await api("POST", "/api/backup/templates", {
      body: {
        name: "docs",
        sourceBinding: "R2_BUCKET",
        bucketName: "cutty-files",
        includePrefixes: ["deep/"],
        schedule: "daily",
      },
    });
    expect(created.status).toBe(201);
    for (const day of ["01", "02", "03", "04", "05"]) await fire(`2026-12-${day}T02:00:00Z`);
    const both = await env.DB.prepare(
      "SELECT action, outcome FROM audit_events WHERE action IN ('schedule.run', 'template.run') ORDER BY id",
    ).all();
    expect(both.results.map((r) => `${r.action} ${r.outcome}`)).toEqual([
      "schedule.run accepted",
      "template.run accepted", // waits behind the default's backup
      "schedule.run accepted", // waits too
      "template.run skipped", // its run of the 1st still waits: the 2nd's slot is missed
      ...Array.from({ length: 3 }, () => ["schedule.run skipped", "template.run skipped"]).flat(),
    ]);
    // Three missed slots of the default in a row, with the template's runs in between.
    expect(await skippedAlerts()).toEqual([["schedule_skipped", null]]);
    const { schedule } = (await api("GET", "/api/backup/stats")).body;
    expect(schedule.lastRun).toMatchObject({ outcome: "skipped", detail: expect.not.stringContaining("template") });

    // The default's backup ends, its cleanup follows; then the waiting runs start in the order
    // they were queued (the template's first), each once.
    const backupId = (await runs())[0]!.target!;
    await runBackupToEnd(backupId);
    await runJobToEnd(cleanupJobStub(`job-cleanup-after-${backupId}`));
    await runDurableObjectAlarm(env.BUCKET_COORDINATOR.getByName("cutty-files"));
    const listed = async () =>
      (await api("GET", "/api/backup/list?limit=10")).body.backups as { id: string; template: string }[];
    expect((await listed()).map((b) => b.template)).toEqual(["docs", "default"]);
    const docsBackup = (await listed())[0]!.id;
    await runBackupToEnd(docsBackup);
    await runJobToEnd(cleanupJobStub(`job-cleanup-after-${docsBackup}`)); // a template's cron backup has its cleanup too
    await runDurableObjectAlarm(env.BUCKET_COORDINATOR.getByName("cutty-files"));
    expect((await listed()).map((b) => b.template)).toEqual(["default", "docs", "default"]);
  });

  it("records a trigger that cannot serve the schedule as a configuration error, and starts nothing", async () => {
    await fire("2026-12-01T03:30:00Z", "30 3 * * *");
    expect(await runs()).toEqual([
      expect.objectContaining({
        outcome: "failed",
        detail: expect.stringMatching(
          /^configuration error: BACKUP_SCHEDULE=daily: cron trigger "30 3 \* \* \*" cannot run a daily schedule/,
        ),
      }),
    ]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM r2_backups").first("n")).toBe(0);
    // ...and stats says so.
    const { schedule } = (await api("GET", "/api/backup/stats")).body;
    expect(schedule).toMatchObject({
      schedule: "daily",
      lastRun: { outcome: "failed", detail: expect.stringContaining("cannot run a daily schedule") },
    });
  });
});
