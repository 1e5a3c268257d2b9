/**
 * GET /api/backup/stats, read from the `backup_health_metrics` and `backup_summary` views, the
 * latest cleanup's measurement of the backup bucket, the open alerts and the webhook outbox.
 *
 * storedBytes is what the backup bucket holds without listing it per call: the store as the
 * latest cleanup measured it (its sweep lists everything once), plus what every backup that
 * ended since then reports having added. Before any cleanup measured it, it is every backup's
 * additions minus what cleanups freed ("estimated").
 */
import { and, desc, eq, gt, inArray, isNotNull, isNull, sql } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import * as schema from "./index";
import {
  alerts,
  auditEvents,
  backupHealthMetrics,
  backupJobs,
  backupSummary,
  r2Backups,
  webhookDeliveries,
} from "./index";

type Database = DrizzleD1Database<typeof schema>;
type HealthRow = typeof backupHealthMetrics.$inferSelect;
type SummaryRow = typeof backupSummary.$inferSelect;

/** Backups in a bucket's trend, and how many of the newest are compared with the rest. */
const TREND_BACKUPS = 30;
const TREND_RECENT = 5;

const rounded = (value: number | null, digits = 2) =>
  value === null ? null : Math.round(value * 10 ** digits) / 10 ** digits;

export async function readStats(db: Database, schedule: string) {
  const measurementQuery = db
    .select({
      jobId: backupJobs.id,
      at: backupJobs.completedAt,
      bytes: sql<number>`json_extract(${backupJobs.result}, '$.storeBytes')`,
    })
    .from(backupJobs)
    .where(
      and(
        eq(backupJobs.kind, "cleanup"),
        eq(backupJobs.status, "completed"),
        isNotNull(sql`json_extract(${backupJobs.result}, '$.storeBytes')`),
      ),
    )
    .orderBy(desc(backupJobs.completedAt))
    .limit(1);
  const [health, [measurement], open, outbox, freed, [lastProblem], [lastRun]] = await db.batch([
    db.select().from(backupHealthMetrics).orderBy(backupHealthMetrics.bucketName),
    measurementQuery,
    db.select().from(alerts).where(isNull(alerts.resolvedAt)).orderBy(alerts.openedAt),
    db
      .select({ status: webhookDeliveries.status, count: sql<number>`count(*)` })
      .from(webhookDeliveries)
      .where(inArray(webhookDeliveries.status, ["pending", "failed"]))
      .groupBy(webhookDeliveries.status),
    db
      .select({ bytes: sql<number>`coalesce(sum(json_extract(${backupJobs.result}, '$.bytesFreed')), 0)` })
      .from(backupJobs)
      .where(
        and(
          eq(backupJobs.kind, "cleanup"),
          eq(backupJobs.status, "completed"),
          sql`json_extract(${backupJobs.result}, '$.dryRun') = 0`,
        ),
      ),
    // The newest delivery still failing (retrying or given up), so a broken receiver is visible.
    db
      .select({
        id: webhookDeliveries.id,
        event: webhookDeliveries.event,
        status: webhookDeliveries.status,
        error: webhookDeliveries.lastError,
        at: webhookDeliveries.lastAttemptAt,
      })
      .from(webhookDeliveries)
      .where(and(inArray(webhookDeliveries.status, ["pending", "failed"]), isNotNull(webhookDeliveries.lastError)))
      .orderBy(desc(webhookDeliveries.lastAttemptAt))
      .limit(1),
    // What the latest scheduled run of BACKUP_SCHEDULE did (a trigger that cannot serve the
    // schedule shows here).
    db
      .select({ at: auditEvents.at, outcome: auditEvents.outcome, detail: auditEvents.detail })
      .from(auditEvents)
      .where(eq(auditEvents.action, "schedule.run"))
      .orderBy(desc(auditEvents.id))
      .limit(1),
  ]);
  const [written] = await db
    .select({ bytes: sql<number>`coalesce(sum(${r2Backups.storedBytes}), 0)` })
    .from(r2Backups)
    .where(measurement?.at ? gt(r2Backups.completedAt, measurement.at) : undefined);
  const storedBytes = measurement
    ? measurement.bytes + (written?.bytes ?? 0)
    : Math.max(0, (written?.bytes ?? 0) - (freed[0]?.bytes ?? 0));

  const buckets = await Promise.all(
    health.map(async (row) => ({ ...healthFigures(row), ...(await bucketTrend(db, row.bucketName)) })),
  );
  const totals = totalFigures(health);
  return {
    ...totals,
    storedBytes,
    dedupRatio: storedBytes > 0 ? rounded(totals.logicalBytes / storedBytes) : null,
    alerts: open.map((a) => ({
      code: a.code,
      severity: a.severity,
      message: a.message,
      since: a.openedAt,
      bucketName: a.bucketName,
      id: a.id,
    })),
    storage: {
      source: measurement ? "measured" : "estimated",
      measuredAt: measurement?.at ?? null,
      measuredBy: measurement?.jobId ?? null,
      measuredBytes: measurement?.bytes ?? null,
      writtenSinceBytes: written?.bytes ?? 0,
    },
    webhooks: {
      pending: outbox.find((o) => o.status === "pending")?.count ?? 0,
      failed: outbox.find((o) => o.status === "failed")?.count ?? 0,
      lastProblem: lastProblem ?? null,
    },
    buckets,
    schedule: { schedule, lastRun: lastRun ?? null },
  };
}

function healthFigures(row: HealthRow) {
  return {
    bucketName: row.bucketName,
    totalBackups: row.totalBackups,
    completedBackups: row.completedBackups,
    failedBackups: row.failedBackups,
    expiredBackups: row.expiredBackups,
    successRate: row.successRate,
    lastBackupDate: row.lastBackupDate,
    lastSuccessfulBackupDate: row.lastSuccessfulBackupDate,
    consecutiveFailures: row.consecutiveFailures,
    averageDurationSeconds: rounded(row.averageDurationSeconds),
    bytesWritten: row.bytesWritten,
    logicalBytes: row.logicalBytes,
  };
}

/** The whole system: sums, the newest dates, the worst failure streak, rates over all buckets. */
function totalFigures(rows: HealthRow[]) {
  const sum = (pick: (row: HealthRow) => number | null) => rows.reduce((total, row) => total + (pick(row) ?? 0), 0);
  const newest = (pick: (row: HealthRow) => string | null) =>
    rows.map(pick).reduce<string | null>((a, b) => (b !== null && (a === null || b > a) ? b : a), null);
  const completed = sum((r) => r.completedBackups);
  const finished = completed + sum((r) => r.failedBackups);
  const durationWeight = sum((r) => (r.averageDurationSeconds === null ? 0 : r.completedBackups));
  return {
    totalBackups: sum((r) => r.totalBackups),
    completedBackups: completed,
    failedBackups: sum((r) => r.failedBackups),
    expiredBackups: sum((r) => r.expiredBackups),
    successRate: finished > 0 ? rounded((100 * completed) / finished) : null,
    lastBackupDate: newest((r) => r.lastBackupDate),
    lastSuccessfulBackupDate: newest((r) => r.lastSuccessfulBackupDate),
    consecutiveFailures: rows.reduce((worst, r) => Math.max(worst, r.consecutiveFailures), 0),
    averageDurationSeconds:
      durationWeight > 0
        ? rounded(sum((r) => (r.averageDurationSeconds ?? 0) * r.completedBackups) / durationWeight)
        : null,
    logicalBytes: sum((r) => r.logicalBytes),
  };
}

/**
 * The bucket's last TREND_BACKUPS finished backups with their performance, and per type the time
 * per 1,000 objects of the newest TREND_RECENT against the ones before: a backup that slows down
 * shows here before it misses its window.
 */
async function bucketTrend(db: Database, bucketName: string) {
  const rows = await db
    .select()
    .from(backupSummary)
    .where(and(eq(backupSummary.bucketName, bucketName), isNotNull(backupSummary.durationSeconds)))
    .orderBy(desc(backupSummary.backupDate))
    .limit(TREND_BACKUPS);
  return {
    recentBackups: rows.map((r) => ({
      id: r.id,
      backupDate: r.backupDate,
      type: r.backupType,
      template: r.template,
      status: r.status,
      durationSeconds: rounded(r.durationSeconds),
      objectsPerSecond: r.durationSeconds ? rounded(r.filesProcessed / r.durationSeconds) : null,
      megabytesPerSecond: r.durationSeconds ? rounded(r.bytesProcessed / 1_000_000 / r.durationSeconds) : null,
      steps: r.steps,
      retries: r.retries,
      storedBytes: r.storedBytes,
      snapshotSize: r.snapshotSize,
    })),
    trend: { full: typeTrend(rows, "full"), incremental: typeTrend(rows, "incremental") },
  };
}

function typeTrend(rows: SummaryRow[], type: SummaryRow["backupType"]) {
  const costs = rows
    .filter(
      (r) => r.backupType === type && r.status === "completed" && r.filesProcessed > 0 && r.durationSeconds !== null,
    )
    .map((r) => (r.durationSeconds! * 1000) / r.filesProcessed);
  const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : null);
  const recent = mean(costs.slice(0, TREND_RECENT));
  const previous = mean(costs.slice(TREND_RECENT));
  return {
    secondsPerThousandObjectsRecent: rounded(recent, 3),
    secondsPerThousandObjectsBefore: rounded(previous, 3),
    changePercent: recent !== null && previous ? rounded((100 * (recent - previous)) / previous, 1) : null,
  };
}
