/**
 * The cron's run. Every firing looks after stalled jobs, starts the scheduled verifications at
 * their slot (scheduled-verification.ts), checks the alerts of every bucket backed
 * up (so `no_recent_backup` opens even when nothing runs) and wakes the webhook dispatcher (so a
 * delivery whose wake was lost still goes out). The firing that opens a slot of a schedule (the
 * default's BACKUP_SCHEDULE, or a stored template's) asks the bucket's coordinator for an
 * automatic backup; the backup's end starts the cleanup, and each job's end checks the alerts
 * again, so the scheduled run is backup, then cleanup, then alerts, each in its own log.
 *
 * A run that finds the bucket busy (a backup, an event backup, a restore or a cleanup) is not
 * lost: it waits in the coordinator's queue and starts once the bucket is free, because listing
 * backups are what catch changes that events missed. A slot whose previous run is still waiting
 * is missed (recorded as skipped, in the audit trail and in the running job's log), and after
 * BACKUP_ALERT_SKIPPED_RUNS missed slots in a row `schedule_skipped` opens.
 *
 * Each part runs on its own: a failure of one (recorded in the audit trail or the log) never
 * keeps the others from running; the firing reports the first failure once all have run.
 */
import { getConfig, type Config } from "../durable-objects/engine/settings/config";
import { errorMessage } from "../durable-objects/engine/errors";
import { insertLog, openDatabase, runBatch } from "../durable-objects/engine/records";
import { checkAlerts, describeAlertChanges, wakeDispatcher } from "../durable-objects/oversight/monitor";
import { backupDue, scheduleProblem } from "../durable-objects/engine/settings/schedule";
import { reconcileOrphans } from "../durable-objects/oversight/watchdog";
import { recordAudit, type AuditRecord } from "./audit";
import type { AuditAction } from "../schema";
import { allTemplates, templateRun, type BackupTemplate } from "../durable-objects/engine/settings/templates";
import type { StartBackupResult } from "../durable-objects/bucket-coordinator";
import { clock } from "../durable-objects/engine/clock";
import { startScheduledVerification, verificationDue } from "./scheduled-verification";

export async function runScheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
  ctx.waitUntil(reconcileOrphans(env).catch((error: unknown) => console.error("orphan sweep failed", error)));
  const config = getConfig(env);
  const at = new Date(controller.scheduledTime);
  const failures: unknown[] = [];
  const part = async (what: string, run: () => Promise<void>) => {
    try {
      await run();
    } catch (error) {
      console.error(`cron ${controller.cron}: ${what} failed`, error);
      failures.push(error);
    }
  };
  await part("the scheduled backup", () => runDefaultSchedule(controller, env, config, at));
  let templates: BackupTemplate[] = [];
  await part("reading the templates", async () => {
    templates = (await allTemplates(env)).filter((t) => !t.builtIn);
  });
  for (const template of templates)
    await part(`template ${template.name}`, () => runTemplateSchedule(controller, env, template, at));
  const buckets = new Set([config.BACKUP_SOURCE_BUCKET, ...templates.map((t) => t.bucketName)]);
  const verification = verificationDue(config, controller.cron, at);
  if (verification)
    for (const bucketName of buckets)
      await part(`the scheduled verification of ${bucketName}`, () =>
        startScheduledVerification(env, config, bucketName, verification, at),
      );
  for (const bucketName of buckets) {
    await part(`the alerts of ${bucketName}`, async () => {
      const changes = await checkAlerts(
        env.DB,
        config,
        bucketName,
        (bucket) => env.BUCKET_COORDINATOR.getByName(bucket).changeSummary(),
        at,
      );
      console.log(`cron ${controller.cron}: ${bucketName}: ${describeAlertChanges(changes)}`);
    });
  }
  await part("waking the webhook dispatcher", () => wakeDispatcher(env, env.WEBHOOK_DISPATCHER));
  if (failures.length > 0) throw failures[0];
}

async function runDefaultSchedule(controller: ScheduledController, env: Env, config: Config, at: Date): Promise<void> {
  const problem = scheduleProblem(config.BACKUP_SCHEDULE, controller.cron);
  if (problem) {
    console.error(`Invalid configuration: BACKUP_SCHEDULE=${config.BACKUP_SCHEDULE}: ${problem}`);
    await recordAudit(
      env.DB,
      scheduleRun(at, {
        target: null,
        outcome: "failed",
        detail: `configuration error: BACKUP_SCHEDULE=${config.BACKUP_SCHEDULE}: ${problem}`,
      }),
    );
  } else if (backupDue(config.BACKUP_SCHEDULE, controller.cron, at)) {
    await startScheduledBackup(controller, env, config, at);
  }
}

/**
 * A stored template's scheduled run. Unlike the default's, a run that finds the bucket busy is not
 * skipped: it waits in the bucket's coordinator and starts once the bucket is free (templates of
 * one bucket share its slots, so skipping would starve all but the first).
 */
async function runTemplateSchedule(
  controller: ScheduledController,
  env: Env,
  template: BackupTemplate,
  at: Date,
): Promise<void> {
  const label = `cron ${controller.cron} (template ${template.name}, ${template.schedule})`;
  const problem = scheduleProblem(template.schedule, controller.cron);
  if (problem) {
    console.error(`${label}: ${problem}`);
    await recordAudit(
      env.DB,
      scheduleRun(at, { target: template.name, outcome: "failed", detail: `${label}: ${problem}` }, "template.run"),
    );
    return;
  }
  if (!backupDue(template.schedule, controller.cron, at)) return;
  try {
    const result = await env.BUCKET_COORDINATOR.getByName(template.bucketName).startBackup({
      type: "auto",
      trigger: "cron",
      requestedBy: "cron",
      template: templateRun(template),
      queueIfBusy: true,
    });
    await recordScheduledRun(env, at, label, result, template.name, "template.run");
  } catch (error) {
    // One template's failure must not keep the others from running.
    console.error(`${label}: failed`, error);
    await recordAudit(
      env.DB,
      scheduleRun(
        at,
        { target: template.name, outcome: "failed", detail: `${label}: ${errorMessage(error)}` },
        "template.run",
      ),
    );
  }
}

const startedWhat = (backup: { backupType: string }) =>
  `started ${backup.backupType === "incremental" ? "an" : "a"} ${backup.backupType} backup`;

function scheduleRun(
  at: Date,
  outcome: Pick<AuditRecord, "target" | "outcome" | "detail">,
  action: AuditAction = "schedule.run",
): AuditRecord {
  return { at: at.toISOString(), actor: "cron", action, status: null, ...outcome };
}

async function startScheduledBackup(
  controller: ScheduledController,
  env: Env,
  config: Config,
  at: Date,
): Promise<void> {
  const label = `cron ${controller.cron} (${config.BACKUP_SCHEDULE})`;
  const coordinator = env.BUCKET_COORDINATOR.getByName(config.BACKUP_SOURCE_BUCKET);
  const result = await coordinator
    .startBackup({ type: "auto", trigger: "cron", requestedBy: "cron", queueIfBusy: true })
    .catch(async (error: unknown) => {
      await recordAudit(
        env.DB,
        scheduleRun(at, { target: null, outcome: "failed", detail: `${label}: ${errorMessage(error)}` }),
      );
      throw error;
    });
  await recordScheduledRun(env, at, label, result, null, "schedule.run");
}

/**
 * What a scheduled run did, in the audit trail: started a backup; waits in the bucket's queue
 * (accepted: it starts once the bucket is free); or found the previous run of its schedule still
 * waiting, so this slot is missed (skipped: what `schedule_skipped` counts, for the default).
 * A run that waits or misses its slot is also logged on the job that holds the bucket.
 */
async function recordScheduledRun(
  env: Env,
  at: Date,
  label: string,
  result: StartBackupResult,
  template: string | null,
  action: AuditAction,
): Promise<void> {
  if (result.ok) {
    const detail = `${label}: ${startedWhat(result.backup)}`;
    console.log(`${detail} ${result.backup.id}`);
    await recordAudit(env.DB, scheduleRun(at, { target: result.backup.id, outcome: "accepted", detail }, action));
    return;
  }
  if (result.reason !== "busy") {
    const detail = `${label}: not started, ${result.reason}`;
    console.warn(detail);
    await recordAudit(env.DB, scheduleRun(at, { target: template, outcome: "skipped", detail }, action));
    return;
  }
  const holder = `${result.kind} ${result.holderId}`;
  const detail = result.alreadyQueued
    ? `${label}: skipped, the previous scheduled run still waits behind ${holder}: this slot is missed`
    : `${label}: queued behind ${holder}; it starts when the bucket is free`;
  console.warn(detail);
  await recordAudit(
    env.DB,
    scheduleRun(
      at,
      { target: result.holderId, outcome: result.alreadyQueued ? "skipped" : "accepted", detail },
      action,
    ),
  );
  // In the log of the job that keeps the run waiting, where an operator looking at it will see it.
  const db = openDatabase(env.DB);
  await runBatch(db, [
    insertLog(db, {
      eventKey: `${result.holderId}:schedule-${result.alreadyQueued ? "missed" : "queued"}:${template ?? "default"}:${at.toISOString()}`,
      backupId: result.holderId,
      timestamp: clock.date().toISOString(),
      eventType: "progress",
      level: "warn",
      message: result.alreadyQueued
        ? `The scheduled backup of ${at.toISOString()}${template ? ` (template ${template})` : ""} was missed: the previous scheduled run still waits for this ${result.kind} to end.`
        : `The scheduled backup of ${at.toISOString()}${template ? ` (template ${template})` : ""} waits for this ${result.kind} to end.`,
      requestedBy: "cron",
    }),
  ]);
}
