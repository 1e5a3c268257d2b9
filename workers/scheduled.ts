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
  const changes = await checkAlerts(env.DB, config, config.BACKUP_SOURCE_BUCKET, at);
  console.log(`cron ${controller.cron}: ${describeAlertChanges(changes)}`);
  await wakeDispatcher(env, env.WEBHOOK_DISPATCHER);
}

function scheduleRun(at: Date, outcome: Pick<AuditRecord, "target" | "outcome" | "detail">): AuditRecord {
  return { at: at.toISOString(), actor: "cron", action: "schedule.run", status: null, ...outcome };
}

async function startScheduledBackup(controller: ScheduledController, env: Env, config: Config, at: Date): Promise<void> {
  const label = `cron ${controller.cron} (${config.BACKUP_SCHEDULE})`;
  const coordinator = env.BUCKET_COORDINATOR.getByName(config.BACKUP_SOURCE_BUCKET);
  const result = await coordinator.startBackup({ type: "auto", trigger: "cron", requestedBy: "cron" }).catch(async (error: unknown) => {
    await recordAudit(env.DB, scheduleRun(at, { target: null, outcome: "failed", detail: `${label}: ${errorMessage(error)}` }));
    throw error;
  });
  if (result.ok) {
    const detail = `${label}: started a ${result.backup.backupType} backup`;
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
