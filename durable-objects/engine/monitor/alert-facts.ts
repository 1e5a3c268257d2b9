/**
 * What the alert rules need to know about one bucket, read from D1 in one batch of small indexed
 * queries (r2_backups by bucket and date, audit_events by action).
 */
import { and, desc, eq, gt, inArray, isNotNull, lte, max, min, or, sql } from "drizzle-orm";
import { alerts, auditEvents, r2Backups } from "../../../schema";
import type { Database } from "../records";
import type { AlertThresholds, BucketFacts } from "./alert-rules";

/** How many backups an alert names at most (its count stays exact). */
const NAMED = 10;
/** Measured backups the mass-change rule reads at most: 11 days of hourly backups, or many event backups. */
const CHANGE_HISTORY = 1000;

export async function readBucketFacts(
  db: Database,
  bucketName: string,
  limits: AlertThresholds,
  /** Whether the scheduled runs (which back up the configured source bucket) concern this bucket. */
  scheduledHere: boolean,
  now: Date,
): Promise<Omit<BucketFacts, "pendingChanges">> {
  const ofBucket = eq(r2Backups.bucketName, bucketName);
  const newestCompletedDate = db
    .select({ date: max(r2Backups.backupDate) })
    .from(r2Backups)
    .where(and(ofBucket, eq(r2Backups.status, "completed")));
  const sinceSuccess = and(
    ofBucket,
    inArray(r2Backups.status, ["failed", "partial"]),
    gt(r2Backups.backupDate, sql`coalesce((${newestCompletedDate}), '')`),
  );
  const invalid = and(
    ofBucket,
    inArray(r2Backups.status, ["completed", "partial"]),
    eq(r2Backups.lastVerificationValid, false),
  );
  const unreplicated = and(
    ofBucket,
    inArray(r2Backups.status, ["completed", "partial"]),
    inArray(r2Backups.replicaStatus, ["incomplete", "failed"]),
  );
  const [
    failureCount,
    failures,
    times,
    invalidCount,
    invalidIds,
    completed,
    runs,
    unreplicatedCount,
    unreplicatedIds,
    changeRows,
    acknowledged,
  ] = await db.batch([
    db
      .select({ count: sql<number>`count(*)` })
      .from(r2Backups)
      .where(sinceSuccess),
    db
      .select({ id: r2Backups.id, error: r2Backups.error })
      .from(r2Backups)
      .where(sinceSuccess)
      .orderBy(desc(r2Backups.backupDate))
      .limit(NAMED),
    db
      .select({
        lastCompletedAt: sql<
          string | null
        >`max(CASE WHEN ${r2Backups.status} = 'completed' THEN ${r2Backups.completedAt} END)`,
        firstBackupAt: min(r2Backups.backupDate),
        firstCompletedAt: sql<
          string | null
        >`min(CASE WHEN ${r2Backups.status} = 'completed' THEN ${r2Backups.completedAt} END)`,
        // The newest valid verification of a backup still kept (an expired one proves nothing now).
        lastValidVerificationAt: sql<
          string | null
        >`max(CASE WHEN ${r2Backups.status} IN ('completed', 'partial') AND ${r2Backups.lastVerificationValid} = 1 THEN ${r2Backups.lastVerifiedAt} END)`,
      })
      .from(r2Backups)
      .where(ofBucket),
    db
      .select({ count: sql<number>`count(*)` })
      .from(r2Backups)
      .where(invalid),
    db.select({ id: r2Backups.id }).from(r2Backups).where(invalid).orderBy(desc(r2Backups.backupDate)).limit(NAMED),
    // Backups recorded before stored bytes were measured have no steps either: left out, so
    // their zeros do not make the first measured backup look like a surge.
    db
      .select({ id: r2Backups.id, storedBytes: r2Backups.storedBytes })
      .from(r2Backups)
      .where(and(ofBucket, eq(r2Backups.status, "completed"), gt(r2Backups.steps, 0)))
      .orderBy(desc(r2Backups.backupDate))
      .limit(limits.growthWindow + 1),
    db
      .select({ outcome: auditEvents.outcome, detail: auditEvents.detail })
      .from(auditEvents)
      // The default's runs (a stored template's are template.run: they wait instead of being skipped).
      .where(eq(auditEvents.action, "schedule.run"))
      .orderBy(desc(auditEvents.id))
      .limit(limits.skippedRuns),
    db
      .select({ count: sql<number>`count(*)` })
      .from(r2Backups)
      .where(unreplicated),
    db
      .select({ id: r2Backups.id })
      .from(r2Backups)
      .where(unreplicated)
      .orderBy(desc(r2Backups.backupDate))
      .limit(NAMED),
    // What the mass-change rule judges: enough measured backups for its trailing windows.
    db
      .select({
        id: r2Backups.id,
        backupDate: r2Backups.backupDate,
        modified: r2Backups.modifiedCount,
        deleted: r2Backups.deletedCount,
        snapshotFileCount: r2Backups.snapshotFileCount,
        backupType: r2Backups.backupType,
        sampled: r2Backups.sampledCount,
        incompressible: r2Backups.incompressibleCount,
        prefixes: r2Backups.changedPrefixes,
      })
      .from(r2Backups)
      .where(and(ofBucket, inArray(r2Backups.status, ["completed", "partial"]), isNotNull(r2Backups.modifiedCount)))
      .orderBy(desc(r2Backups.backupDate))
      .limit(CHANGE_HISTORY),
    // Resolving mass_change acknowledges every backup up to the request (once it takes effect).
    db
      .select({ through: max(alerts.resolveRequestedAt) })
      .from(alerts)
      .where(
        and(
          eq(alerts.bucketName, bucketName),
          eq(alerts.code, "mass_change"),
          or(isNotNull(alerts.resolvedAt), lte(alerts.resolveAt, now.toISOString())),
        ),
      ),
  ]);
  const [newest, ...previous] = completed;
  const skipped = scheduledHere ? leadingSkips(runs) : [];
  return {
    bucketName,
    failuresSinceSuccess: { count: failureCount[0]?.count ?? 0, newest: failures },
    lastCompletedAt: times[0]?.lastCompletedAt ?? null,
    firstBackupAt: times[0]?.firstBackupAt ?? null,
    verification: {
      lastValidAt: times[0]?.lastValidVerificationAt ?? null,
      firstCompletedAt: times[0]?.firstCompletedAt ?? null,
    },
    invalidVerifications: { count: invalidCount[0]?.count ?? 0, backupIds: invalidIds.map((r) => r.id) },
    growth: newest
      ? { backupId: newest.id, storedBytes: newest.storedBytes, previous: previous.map((r) => r.storedBytes) }
      : null,
    skippedRuns: { count: skipped.length, lastDetail: skipped[0]?.detail ?? null },
    replicaProblems: { count: unreplicatedCount[0]?.count ?? 0, backupIds: unreplicatedIds.map((r) => r.id) },
    changes: {
      history: changeRows.map(({ snapshotFileCount, backupType, ...row }, i) => {
        // A full backup has no parent to find deletions against: what it lacks against the backup
        // before it counts instead, so a wipe followed by the weekly full backup is still seen.
        const before = changeRows[i + 1];
        const deleted =
          backupType === "full" && before
            ? Math.max(row.deleted, before.snapshotFileCount - snapshotFileCount)
            : row.deleted;
        return {
          ...row,
          deleted,
          modified: row.modified ?? 0,
          sampled: row.sampled ?? 0,
          incompressible: row.incompressible ?? 0,
          prefixes: row.prefixes ?? {},
          baseline: snapshotFileCount + deleted,
        };
      }),
      acknowledgedThrough: acknowledged[0]?.through ?? null,
    },
  };
}

/** The newest runs up to the first that was not skipped. */
function leadingSkips<T extends { outcome: string }>(runs: T[]): T[] {
  const firstOther = runs.findIndex((run) => run.outcome !== "skipped");
  return firstOther === -1 ? runs : runs.slice(0, firstOther);
}
