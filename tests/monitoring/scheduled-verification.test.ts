/**
 * Verification on a schedule (BACKUP_VERIFY_SCHEDULE, daily here): the 04:00 UTC firing verifies
 * each bucket's newest completed backup, a sample on weekdays (each taking the window after the
 * last) and whole on Sundays; other firings start none. A bucket that goes BACKUP_VERIFY_STALE_DAYS
 * without a valid verification opens not_verified, which a valid verification resolves.
 */
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../workers/index";
import { getConfig } from "../../durable-objects/engine/settings/config";
import { verificationDue } from "../../workers/scheduled-verification";
import { api } from "../helpers/api";
import { putObjects, variedObjects } from "../helpers/buckets";
import { completedBackup } from "../helpers/flows";
import { runJobToEnd, verifyJobStub } from "../helpers/jobs";
import { checkAt } from "../helpers/monitoring";

const MONDAY_4 = Date.parse("2026-11-30T04:00:00Z");
const SUNDAY_4 = Date.parse("2026-12-06T04:00:00Z");
const HOUR = 3_600_000;

const fireCron = async (scheduledTime: number) => {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "0 * * * *", scheduledTime }), env, ctx);
  await waitOnExecutionContext(ctx);
};

async function verifyJobs() {
  return (
    await env.DB.prepare(
      "SELECT id, backup_id, requested_by FROM backup_jobs WHERE kind = 'verify' ORDER BY created_at, id",
    ).all<{
      id: string;
      backup_id: string;
      requested_by: string;
    }>()
  ).results;
}

describe("scheduled verification", () => {
  it("the 04:00 firing verifies the newest backup, sampled on weekdays and whole on Sundays; other hours none", async () => {
    await putObjects(variedObjects(12));
    await completedBackup("full");
    const newest = await completedBackup("incremental");

    await fireCron(MONDAY_4 + HOUR);
    expect(await verifyJobs()).toEqual([]);
    await fireCron(MONDAY_4);
    const [sampled] = await verifyJobs();
    expect(sampled).toMatchObject({ backup_id: newest.id, requested_by: "cron" });
    await runJobToEnd(verifyJobStub(sampled!.id));
    const first = (await api("GET", `/api/backup/jobs/${sampled!.id}`)).body.job;
    expect(first).toMatchObject({ status: "completed", result: { valid: true, sample: { percent: 10 } } });

    await fireCron(MONDAY_4 + 24 * HOUR);
    const second = (await verifyJobs())[1]!;
    await runJobToEnd(verifyJobStub(second.id));
    const next = (await api("GET", `/api/backup/jobs/${second.id}`)).body.job;
    // The slice moves with the day: the next one, whatever backups ran in between.
    expect(next.result.sample.offset).toBe((first.result.sample.offset + 10) % 100);

    await fireCron(SUNDAY_4);
    const sunday = (await verifyJobs())[2]!;
    await runJobToEnd(verifyJobStub(sunday.id));
    const whole = (await api("GET", `/api/backup/jobs/${sunday.id}`)).body.job;
    expect(whole.result).toMatchObject({ valid: true, sample: null });
    expect((await api("GET", `/api/backup/status/${newest.id}`)).body.backup).toMatchObject({
      lastVerificationValid: true,
    });

    const audit = (await api("GET", "/api/backup/audit")).body.events as { action: string; detail: string }[];
    expect(audit.filter((e) => e.action === "schedule.verify").map((e) => e.detail)).toEqual([
      `cutty-files: full verification of ${newest.id} (primary copy)`,
      `cutty-files: 10% sample (from ${next.result.sample.offset}%) verification of ${newest.id} (primary copy)`,
      `cutty-files: 10% sample (from ${first.result.sample.offset}%) verification of ${newest.id} (primary copy)`,
    ]);
  });

  it("not_verified opens after the stale days without a valid verification and resolves with one", async () => {
    await putObjects(variedObjects(4));
    const backup = await completedBackup("full");
    const codes = async (at: number) => (await checkAt(new Date(at))).open.map((a) => a.code);
    expect(await codes(Date.now() + 2 * 24 * HOUR)).not.toContain("not_verified");
    expect(await codes(Date.now() + 3 * 24 * HOUR + HOUR)).toContain("not_verified");
    const started = await api("POST", `/api/backup/verify/${backup.id}`, { body: { mode: "full" } });
    await runJobToEnd(verifyJobStub(started.body.job.id));
    expect(await codes(Date.now() + HOUR)).not.toContain("not_verified");
  });

  it("is due by the schedule: daily samples on weekdays, weekly only on Sundays, manual never", () => {
    const config = (vars: Record<string, string>) => getConfig({ ...env, ...vars });
    const at = (ms: number) => new Date(ms);
    expect(verificationDue(config({}), "0 * * * *", at(MONDAY_4))).toBe("sampled");
    expect(verificationDue(config({}), "0 * * * *", at(SUNDAY_4))).toBe("full");
    expect(verificationDue(config({}), "0 * * * *", at(MONDAY_4 + HOUR))).toBeNull();
    // A trigger firing every 5 minutes verifies once, at the slot's first firing.
    expect(verificationDue(config({}), "*/5 * * * *", at(MONDAY_4 + 5 * 60_000))).toBeNull();
    const weekly = config({ BACKUP_VERIFY_SCHEDULE: "weekly" });
    expect(verificationDue(weekly, "0 * * * *", at(MONDAY_4))).toBeNull();
    expect(verificationDue(weekly, "0 * * * *", at(SUNDAY_4))).toBe("full");
    expect(verificationDue(config({ BACKUP_VERIFY_SCHEDULE: "manual" }), "0 * * * *", at(SUNDAY_4))).toBeNull();
    expect(verificationDue(config({ BACKUP_VERIFY_SAMPLE_PERCENT: "100" }), "0 * * * *", at(MONDAY_4))).toBe("full");
    // Weekly means Sundays only, whatever the sample size.
    const weeklyWhole = config({ BACKUP_VERIFY_SCHEDULE: "weekly", BACKUP_VERIFY_SAMPLE_PERCENT: "100" });
    expect(verificationDue(weeklyWhole, "0 * * * *", at(MONDAY_4))).toBeNull();
  });
});
