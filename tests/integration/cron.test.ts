import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../workers/index";
import { putObjects, variedObjects } from "../helpers/buckets";
import { cleanupJobStub, runBackupToEnd, runJobToEnd } from "../helpers/jobs";

// The handler starts the backup before returning; the orphan sweep runs in waitUntil. The
// shipped trigger fires hourly; the daily schedule's backup is due at the 02:00 UTC firing.
const DUE = Date.parse("2026-12-01T02:00:00Z");
const fireCron = async (scheduledTime = DUE) => {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "0 * * * *", scheduledTime }), env, ctx);
  await waitOnExecutionContext(ctx);
};

const backups = async () =>
  (await env.DB.prepare("SELECT id, backup_type, trigger, requested_by, parent_id FROM r2_backups ORDER BY backup_date").all()).results;

describe("daily cron", () => {
  it("takes an automatic backup: full first, then incremental, and skips while one is running", async () => {
    await putObjects(variedObjects(8));
    await fireCron();
    const [first] = await backups();
    expect(first).toMatchObject({ backup_type: "full", trigger: "cron", requested_by: "cron" });
    await fireCron(); // the first is still running: skipped
    expect(await backups()).toHaveLength(1);
    await runBackupToEnd(first!.id as string);
    // The cron's backup is followed by a cleanup with the configured policy, which holds the lease
    // until it ends: the next cron waits for it.
    const cleanupId = `job-cleanup-after-${first!.id}`;
    expect(await env.DB.prepare("SELECT kind, requested_by, status FROM backup_jobs WHERE id = ?").bind(cleanupId).first()).toEqual({
      kind: "cleanup",
      requested_by: "cron",
      status: "in_progress",
    });
    await fireCron();
    expect(await backups()).toHaveLength(1);
    await runJobToEnd(cleanupJobStub(cleanupId));
    expect(
      await env.DB.prepare(
        "SELECT status, json_extract(result, '$.backupsExpired') AS expired, json_extract(result, '$.retentionDays') AS days FROM backup_jobs WHERE id = ?",
      )
        .bind(cleanupId)
        .first(),
    ).toEqual({ status: "completed", expired: 0, days: 30 });

    await fireCron();
    const all = await backups();
    expect(all[1]).toMatchObject({ backup_type: "incremental", trigger: "cron", parent_id: first!.id });
  });
});
