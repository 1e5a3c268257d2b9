/**
 * Monitoring, as the jobs and the cron use it: evaluate a bucket's alerts (whenever a backup,
 * verification or cleanup ends, and on every cron firing, so `no_recent_backup` opens even when
 * nothing runs), and wake the webhook dispatcher after deliveries were queued.
 */
import { getConfig, type Config } from "../engine/settings/config";
import type { AlertThresholds } from "../engine/monitor/alert-rules";
import { desiredAlerts } from "../engine/monitor/alert-rules";
import { readBucketFacts } from "../engine/monitor/alert-facts";
import { applyAlerts, type AlertChanges } from "../engine/monitor/alert-store";
import { openDatabase } from "../engine/records";
import type { ChangeSummary } from "../engine/coordinator/pending-changes";
import { clock } from "../engine/clock";

export const DISPATCHER_NAME = "webhooks";

export function alertThresholds(config: Config): AlertThresholds {
  return {
    consecutiveFailures: config.BACKUP_ALERT_CONSECUTIVE_FAILURES,
    staleHours: config.BACKUP_ALERT_STALE_HOURS,
    growthFactor: config.BACKUP_ALERT_GROWTH_FACTOR,
    growthWindow: config.BACKUP_ALERT_GROWTH_WINDOW,
    growthMinBytes: config.BACKUP_ALERT_GROWTH_MIN_BYTES,
    skippedRuns: config.BACKUP_ALERT_SKIPPED_RUNS,
    pendingChanges: config.BACKUP_ALERT_PENDING_CHANGES,
    pendingHours: config.BACKUP_ALERT_PENDING_HOURS,
    massChange: {
      sharePercent: config.BACKUP_ALERT_MASS_CHANGE_PERCENT,
      factor: config.BACKUP_ALERT_MASS_CHANGE_FACTOR,
      incompressibleRisePercent: config.BACKUP_ALERT_INCOMPRESSIBLE_RISE_PERCENT,
      minObjects: config.BACKUP_ALERT_MASS_CHANGE_MIN_OBJECTS,
      windowHours: config.BACKUP_ALERT_MASS_CHANGE_WINDOW_HOURS,
    },
    verifyStaleDays: config.BACKUP_VERIFY_STALE_DAYS,
  };
}

export function webhooksEnabled(config: Config): boolean {
  return config.BACKUP_WEBHOOK_URL !== undefined;
}

/** The bucket's change events waiting for a backup, as its coordinator keeps them. */
export type PendingChangesReader = (bucketName: string) => Promise<ChangeSummary>;

/**
 * Evaluates one bucket's alerts at `now` and applies the changes (idempotent). Change events are
 * the configured source bucket's only, so its pending changes are read from its coordinator.
 */
export async function checkAlerts(
  d1: D1Database,
  config: Config,
  bucketName: string,
  pending: PendingChangesReader,
  now = clock.date(),
): Promise<AlertChanges> {
  const db = openDatabase(d1);
  const limits = alertThresholds(config);
  const sourceBucket = bucketName === config.BACKUP_SOURCE_BUCKET;
  const facts = {
    ...(await readBucketFacts(db, bucketName, limits, sourceBucket, now)),
    pendingChanges: sourceBucket ? await pending(bucketName) : null,
  };
  return applyAlerts(db, bucketName, desiredAlerts(facts, limits, now), now, webhooksEnabled(config));
}

/** One line for the log: what changed and what is open. */
export function describeAlertChanges(changes: AlertChanges): string {
  const codes = (rows: { code: string }[]) => (rows.length ? rows.map((r) => r.code).join(", ") : "none");
  return `Alerts checked: opened ${codes(changes.opened)}; resolved ${codes(changes.resolved)}; open ${codes(changes.open)}.`;
}

/** Asks the dispatcher to send what is due (a no-op without a webhook URL). */
export async function wakeDispatcher(env: object, dispatcher: Env["WEBHOOK_DISPATCHER"]): Promise<void> {
  if (webhooksEnabled(getConfig(env))) await dispatcher.getByName(DISPATCHER_NAME).wake();
}
