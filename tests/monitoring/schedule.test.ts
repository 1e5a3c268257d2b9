/**
 * The scheduled run end to end: a run that finds a backup still running starts nothing, says so,
 * and after BACKUP_ALERT_SKIPPED_RUNS (3) in a row opens `schedule_skipped`, which the next run
 * that starts a backup resolves. A trigger that cannot serve the schedule is a recorded error.
 */
import { createExecutionContext, createScheduledController, env, runDurableObjectAlarm, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import worker from "../../workers/index";
import { api } from "../helpers/api";
import { putObjects, variedObjects } from "../helpers/buckets";
import { cleanupJobStub, runBackupToEnd, runJobToEnd } from "../helpers/jobs";
import { alertRows } from "../helpers/monitoring";

// (no_recent_backup opens too over these days of a backup that never ends; it is not this test's.)
const skippedAlerts = async () => (await alertRows()).filter((a) => a.code === "schedule_skipped").map((a) => [a.code, a.resolved_at]);

const fire = async (iso: string, cron = "0 * * * *") => {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron, scheduledTime: Date.parse(iso) }), env, ctx);
  await waitOnExecutionContext(ctx);
};
const runs = async () =>
  (await env.DB.prepare("SELECT outcome, target, detail FROM audit_events WHERE action = 'schedule.run' ORDER BY id").all()).results as {
    outcome: string;
    target: string | null;
    detail: string;
  }[];

describe("scheduled runs", () => {
  it("skips while a backup runs, alerts after repeated skips, and resolves when a run starts again", async () => {
    await putObjects(variedObjects(4));
    await fire("2026-12-01T02:00:00Z");
    await fire("2026-12-01T03:00:00Z"); // not a daily slot: no run at all
    const [started] = await runs();
    expect(started).toMatchObject({ outcome: "accepted" });
    const backupId = started!.target!;

    for (const day of ["02", "03"]) await fire(`2026-12-${day}T02:00:00Z`);
    expect((await runs()).map((r) => r.outcome)).toEqual(["accepted", "skipped", "skipped"]);
    expect(await skippedAlerts()).toEqual([]);
    await fire("2026-12-04T02:00:00Z");
    expect(await skippedAlerts()).toEqual([["schedule_skipped", null]]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM r2_backups").first("n")).toBe(1); // never a second one

    // The backup ends; its cron cleanup follows and holds the bucket until it ends too.
    await runBackupToEnd(backupId);
    await runJobToEnd(cleanupJobStub(`job-cleanup-after-${backupId}`));
    await fire("2026-12-05T02:00:00Z");
    expect((await runs()).at(-1)).toMatchObject({ outcome: "accepted" });
    expect(await skippedAlerts()).toEqual([["schedule_skipped", "2026-12-05T02:00:00.000Z"]]);
  });

  it("a stored template on the same bucket waits its turn once, and its runs neither break the default's skip streak nor stand for its last run", async () => {
    await putObjects(variedObjects(4));
    const created = await api("POST", "/api/backup/templates", {
      body: { name: "docs", sourceBinding: "R2_BUCKET", bucketName: "cutty-files", includePrefixes: ["deep/"], schedule: "daily" },
    });
    expect(created.status).toBe(201);
    for (const day of ["01", "02", "03", "04"]) await fire(`2026-12-${day}T02:00:00Z`);
    const both = await env.DB.prepare("SELECT action, outcome FROM audit_events WHERE action IN ('schedule.run', 'template.run') ORDER BY id").all();
    expect(both.results.map((r) => `${r.action} ${r.outcome}`)).toEqual([
      "schedule.run accepted",
      "template.run accepted",
      ...Array.from({ length: 3 }, () => ["schedule.run skipped", "template.run accepted"]).flat(),
    ]);
    // Three skips of the default in a row, with the template's waiting runs in between.
    expect(await skippedAlerts()).toEqual([["schedule_skipped", null]]);
    const { schedule } = (await api("GET", "/api/backup/stats")).body;
    expect(schedule.lastRun).toMatchObject({ outcome: "skipped", detail: expect.not.stringContaining("template") });

    // The default's backup ends, its cleanup follows; then the waiting template runs, once.
    const backupId = (await runs())[0]!.target!;
    await runBackupToEnd(backupId);
    await runJobToEnd(cleanupJobStub(`job-cleanup-after-${backupId}`));
    await runDurableObjectAlarm(env.BUCKET_COORDINATOR.getByName("cutty-files"));
    // (The due alarm may also fire by itself: wait for the start either way.)
    await vi.waitFor(
      async () => {
        const backups = (await api("GET", "/api/backup/list?limit=10")).body.backups;
        expect(backups.map((b: { template: string }) => b.template)).toEqual(["docs", "default"]);
      },
      { timeout: 5000, interval: 50 },
    );
  });

  it("records a trigger that cannot serve the schedule as a configuration error, and starts nothing", async () => {
    await fire("2026-12-01T03:30:00Z", "30 3 * * *");
    expect(await runs()).toEqual([
      expect.objectContaining({
        outcome: "failed",
        detail: expect.stringMatching(/^configuration error: BACKUP_SCHEDULE=daily: cron trigger "30 3 \* \* \*" cannot run a daily schedule/),
      }),
    ]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM r2_backups").first("n")).toBe(0);
    // ...and stats says so.
    const { schedule } = (await api("GET", "/api/backup/stats")).body;
    expect(schedule).toMatchObject({ schedule: "daily", lastRun: { outcome: "failed", detail: expect.stringContaining("cannot run a daily schedule") } });
  });
});
