/**
 * The cron's run. Every firing looks after stalled jobs, checks the source bucket's alerts (so
 * `no_recent_backup` opens even when nothing runs) and wakes the webhook dispatcher (so a delivery
 * whose wake was lost still goes out). The firing that opens a slot of BACKUP_SCHEDULE also asks
 * for an automatic backup; the backup's end starts the cleanup, and each job's end checks the
 * alerts again, so the scheduled run is backup, then cleanup, then alerts, each in its own log.
 * A run that finds a job still holding the bucket starts nothing: it is recorded as skipped (in
 * the audit trail and in the running job's log) and, after BACKUP_ALERT_SKIPPED_RUNS in a row,
 * opens `schedule_skipped`.
 */
import { getConfig, type Config } from "../durable-objects/config";
import { errorMessage } from "../durable-objects/engine/errors";
import { insertLog, openDatabase, runBatch } from "../durable-objects/engine/records";
import { checkAlerts, describeAlertChanges, wakeDispatcher } from "../durable-objects/monitor";
import { backupDue, scheduleProblem } from "../durable-objects/schedule";
import { reconcileOrphans } from "../durable-objects/watchdog";
import { recordAudit, type AuditRecord } from "./audit";
import type { AuditAction } from "../schema";
import { allTemplates, templateRun, type BackupTemplate } from "../durable-objects/templates";

export async function runScheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
  ctx.waitUntil(reconcileOrphans(env).catch((error: unknown) => console.error("orphan sweep failed", error)));
  const config = getConfig(env);
  const at = new Date(controller.scheduledTime);
  const problem = scheduleProblem(config.BACKUP_SCHEDULE, controller.cron);
  if (problem) {
    console.error(`Invalid configuration: BACKUP_SCHEDULE=${config.BACKUP_SCHEDULE}: ${problem}`);
    await recordAudit(
      env.DB,
      scheduleRun(at, { target: null, outcome: "failed", detail: `configuration error: BACKUP_SCHEDULE=${config.BACKUP_SCHEDULE}: ${problem}` }),
    );
  } else if (backupDue(config.BACKUP_SCHEDULE, controller.cron, at)) {
    await startScheduledBackup(controller, env, config, at);
  }
  const templates = (await allTemplates(env)).filter((t) => !t.builtIn);
  for (const template of templates) await runTemplateSchedule(controller, env, template, at);
  for (const bucketName of new Set([config.BACKUP_SOURCE_BUCKET, ...templates.map((t) => t.bucketName)])) {
    const changes = await checkAlerts(env.DB, config, bucketName, (bucket) => env.BUCKET_COORDINATOR.getByName(bucket).changeSummary(), at);
    console.log(`cron ${controller.cron}: ${bucketName}: ${describeAlertChanges(changes)}`);
  }
  await wakeDispatcher(env, env.WEBHOOK_DISPATCHER);
}

/**
 * A stored template's scheduled run. Unlike the default's, a run that finds the bucket busy is not
 * skipped: it waits in the bucket's coordinator and starts once the bucket is free (templates of
 * one bucket share its slots, so skipping would starve all but the first).
 */
async function runTemplateSchedule(controller: ScheduledController, env: Env, template: BackupTemplate, at: Date): Promise<void> {
  const label = `cron ${controller.cron} (template ${template.name}, ${template.schedule})`;
  const problem = scheduleProblem(template.schedule, controller.cron);
  if (problem) {
    console.error(`${label}: ${problem}`);
    await recordAudit(env.DB, scheduleRun(at, { target: template.name, outcome: "failed", detail: `${label}: ${problem}` }, "template.run"));
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
    const detail = result.ok
      ? `${label}: ${startedWhat(result.backup)}`
      : result.reason === "busy"
        ? `${label}: queued behind ${result.kind} ${result.holderId}; it starts when the bucket is free`
        : `${label}: not started, ${result.reason}`;
    console.log(detail);
    await recordAudit(
      env.DB,
      scheduleRun(
        at,
        { target: result.ok ? result.backup.id : template.name, outcome: result.ok || result.reason === "busy" ? "accepted" : "skipped", detail },
        "template.run",
      ),
    );
  } catch (error) {
    // One template's failure must not keep the others from running.
    console.error(`${label}: failed`, error);
    await recordAudit(env.DB, scheduleRun(at, { target: template.name, outcome: "failed", detail: `${label}: ${errorMessage(error)}` }, "template.run"));
  }
}

const startedWhat = (backup: { backupType: string }) => `started ${backup.backupType === "incremental" ? "an" : "a"} ${backup.backupType} backup`;

function scheduleRun(at: Date, outcome: Pick<AuditRecord, "target" | "outcome" | "detail">, action: AuditAction = "schedule.run"): AuditRecord {
  return { at: at.toISOString(), actor: "cron", action, status: null, ...outcome };
}

async function startScheduledBackup(controller: ScheduledController, env: Env, config: Config, at: Date): Promise<void> {
  const label = `cron ${controller.cron} (${config.BACKUP_SCHEDULE})`;
  const coordinator = env.BUCKET_COORDINATOR.getByName(config.BACKUP_SOURCE_BUCKET);
  const result = await coordinator.startBackup({ type: "auto", trigger: "cron", requestedBy: "cron" }).catch(async (error: unknown) => {
    await recordAudit(env.DB, scheduleRun(at, { target: null, outcome: "failed", detail: `${label}: ${errorMessage(error)}` }));
    throw error;
  });
  if (result.ok) {
    const detail = `${label}: ${startedWhat(result.backup)}`;
    console.log(`${detail} ${result.backup.id}`);
    await recordAudit(env.DB, scheduleRun(at, { target: result.backup.id, outcome: "accepted", detail }));
    return;
  }
  const why = result.reason === "busy" ? `${result.kind} ${result.holderId} is still running` : result.reason;
  const detail = `${label}: skipped, ${why}`;
  console.warn(detail);
  await recordAudit(env.DB, scheduleRun(at, { target: result.reason === "busy" ? result.holderId : null, outcome: "skipped", detail }));
  if (result.reason === "busy") {
    // In the log of the job that kept the run waiting, where an operator looking at it will see it.
    const db = openDatabase(env.DB);
    await runBatch(db, [
      insertLog(db, {
        eventKey: `${result.holderId}:schedule-skipped:${at.toISOString()}`,
        backupId: result.holderId,
        timestamp: new Date().toISOString(),
        eventType: "progress",
        level: "warn",
        message: `The scheduled backup of ${at.toISOString()} was skipped: this ${result.kind} was still running.`,
        requestedBy: "cron",
      }),
    ]);
  }
}
