import {
  createExecutionContext,
  createScheduledController,
  env,
  runDurableObjectAlarm,
  waitOnExecutionContext,
} from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../workers/index";
import { putObjects, variedObjects } from "../helpers/buckets";
import { cleanupJobStub, coordinatorStub, runBackupToEnd, runJobToEnd } from "../helpers/jobs";
import { alertRows, insertHistory } from "../helpers/monitoring";

// The handler starts the backup before returning; the orphan sweep runs in waitUntil. The
// shipped trigger fires hourly; the daily schedule's backup is due at the 02:00 UTC firing.
const DUE = Date.parse("2026-12-01T02:00:00Z");
const fireCron = async (scheduledTime = DUE) => {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "0 * * * *", scheduledTime }), env, ctx);
  await waitOnExecutionContext(ctx);
};

const backups = async () =>
  (
    await env.DB.prepare(
      "SELECT id, backup_type, trigger, requested_by, parent_id FROM r2_backups ORDER BY backup_date",
    ).all()
  ).results;

const runs = async () =>
  (
    await env.DB.prepare("SELECT outcome, detail FROM audit_events WHERE action = 'schedule.run' ORDER BY id").all<{
      outcome: string;
      detail: string;
    }>()
  ).results;

describe("daily cron", () => {
  it("takes an automatic backup, full first, then incremental; a run while one is running waits and starts after it", async () => {
    await putObjects(variedObjects(8));
    await fireCron();
    const [first] = await backups();
    expect(first).toMatchObject({ backup_type: "full", trigger: "cron", requested_by: "cron" });
    await fireCron(); // the first is still running: this run waits in the coordinator's queue
    expect(await backups()).toHaveLength(1);
    expect((await runs()).at(-1)).toMatchObject({
      outcome: "accepted",
      detail: expect.stringMatching(/queued behind backup .*; it starts when the bucket is free/),
    });
    await runBackupToEnd(first!.id as string);
    // The cron's backup is followed by a cleanup with the configured policy, before the waiting run.
    const cleanupId = `job-cleanup-after-${first!.id}`;
    expect(
      await env.DB.prepare("SELECT kind, requested_by, status FROM backup_jobs WHERE id = ?").bind(cleanupId).first(),
    ).toEqual({
      kind: "cleanup",
      requested_by: "cron",
      status: "in_progress",
    });
    await fireCron(); // the previous run still waits: this slot is missed
    expect(await backups()).toHaveLength(1);
    expect((await runs()).at(-1)).toMatchObject({
      outcome: "skipped",
      detail: expect.stringContaining("this slot is missed"),
    });
    await runJobToEnd(cleanupJobStub(cleanupId));
    expect(
      await env.DB.prepare(
        "SELECT status, json_extract(result, '$.backupsExpired') AS expired, json_extract(result, '$.retentionDays') AS days FROM backup_jobs WHERE id = ?",
      )
        .bind(cleanupId)
        .first(),
    ).toEqual({ status: "completed", expired: 0, days: 30 });

    // The bucket is free: the waiting run starts (from the coordinator's alarm), as an incremental.
    await runDurableObjectAlarm(coordinatorStub());
    const all = await backups();
    expect(all).toHaveLength(2);
    expect(all[1]).toMatchObject({ backup_type: "incremental", trigger: "cron", parent_id: first!.id });
    expect((await runs()).at(-1)).toMatchObject({
      outcome: "accepted",
      detail: expect.stringContaining(`that waited for the bucket started backup ${all[1]!.id}`),
    });
  });

  it("runs every part of a firing even when one throws: a failing scheduled start keeps neither alerts nor webhooks from running", async () => {
    const failing = {
      getByName: (name: string) => {
        const real = env.BUCKET_COORDINATOR.getByName(name);
        return new Proxy(real, {
          get: (target, property) =>
            property === "startBackup"
              ? () => Promise.reject(new Error("the coordinator is unreachable"))
              : Reflect.get(target, property, target),
        });
      },
    };
    const brokenEnv = { ...env, BUCKET_COORDINATOR: failing as unknown as Env["BUCKET_COORDINATOR"] };
    // Three failed backups in a row: the firing's alert check, if it runs, opens consecutive_failures.
    await insertHistory(
      ["bk-f1", "bk-f2", "bk-f3"].map((id, i) => ({
        id,
        status: "failed" as const,
        at: new Date(DUE - (3 - i) * 3_600_000).toISOString(),
      })),
    );
    const ctx = createExecutionContext();
    await expect(
      worker.scheduled(createScheduledController({ cron: "0 * * * *", scheduledTime: DUE }), brokenEnv, ctx),
    ).rejects.toThrow("the coordinator is unreachable");
    await waitOnExecutionContext(ctx);
    expect((await runs()).at(-1)).toMatchObject({
      outcome: "failed",
      detail: expect.stringContaining("the coordinator is unreachable"),
    });
    expect((await alertRows()).map((a) => [a.code, a.resolved_at])).toEqual([["consecutive_failures", null]]);
  });
});
