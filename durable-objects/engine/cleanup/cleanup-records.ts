/**
 * What a cleanup reads and writes in D1 (CleanupDeps, but for the job's own storage and the
 * buckets): the history its policy applies to, expiries, old rows to prune, and the store's
 * snapshots for the mark.
 */
import {
  and,
  asc,
  count,
  eq,
  exists,
  gt,
  inArray,
  isNotNull,
  isNull,
  lt,
  lte,
  min,
  ne,
  not,
  or,
  sql,
} from "drizzle-orm";
import {
  alerts,
  massChangeHolding,
  backupFiles,
  backupJobs,
  backupLogs,
  holdStands,
  jobFindings,
  r2Backups,
  webhookDeliveries,
} from "../../../schema/index";
import type { CleanupDeps, CleanupState, ExpireOutcome } from "./cleanup-state";
import { insertLog, runBatch, updateBackup, type Database } from "../records";
import { DEFAULT_TEMPLATE } from "../settings/templates";

/** Jobs that read a backup's snapshot: a backup one of them reads is never expired under it. */
const READERS = ["verify", "restore", "replicate"] as const;
const SNAPSHOT = ["completed", "partial"] as const;

const finishedDeliveryBefore = (createdBefore: string) =>
  and(ne(webhookDeliveries.status, "pending"), lt(webhookDeliveries.createdAt, createdBefore));

export function cleanupHistory(db: Database, state: CleanupState, now: Date): CleanupDeps["history"] {
  return async () => {
    const ofThisTemplate = and(
      eq(r2Backups.bucketName, state.bucketName),
      eq(r2Backups.template, state.template ?? DEFAULT_TEMPLATE),
    );
    const rows = await db
      .select({
        id: r2Backups.id,
        backupDate: r2Backups.backupDate,
        status: r2Backups.status,
        holdAt: r2Backups.holdAt,
        holdReleaseAt: r2Backups.holdReleaseAt,
      })
      .from(r2Backups)
      .where(and(ofThisTemplate, inArray(r2Backups.status, ["completed", "partial", "failed", "cancelled"])));
    const suspect = await suspectedSince(db, state.bucketName, now);
    const backups = rows.map(({ holdAt, holdReleaseAt, ...backup }) => ({
      ...backup,
      held: holdStands({ holdAt, holdReleaseAt }, now),
      heldByAlert: suspect !== null && backup.backupDate < suspect,
    }));
    // What a running verification, restore or replication reads, and a running backup's parent.
    const jobs = await db
      .select({ id: backupJobs.backupId })
      .from(backupJobs)
      .where(and(eq(backupJobs.status, "in_progress"), inArray(backupJobs.kind, [...READERS])));
    const parents = await db
      .select({ id: r2Backups.parentId })
      .from(r2Backups)
      .where(inArray(r2Backups.status, ["pending", "in_progress"]));
    // Expired, but their manifest not yet deleted: an earlier cleanup stopped midway (any template).
    const unfinished = await db
      .select({ id: r2Backups.id })
      .from(r2Backups)
      .where(
        and(
          eq(r2Backups.bucketName, state.bucketName),
          eq(r2Backups.status, "expired"),
          isNotNull(r2Backups.manifestKey),
        ),
      );
    return {
      backups,
      inUse: new Set([...jobs, ...parents].map((r) => r.id).filter((id): id is string => id !== null)),
      unfinishedExpiries: unfinished.map((r) => r.id),
    };
  };
}

/**
 * The date of the oldest backup an open mass_change alert of the bucket suspects (null: none):
 * every backup older than it is a last good state, kept until the alert's resolution takes effect.
 */
async function suspectedSince(db: Database, bucketName: string, now: Date): Promise<string | null> {
  const [oldest] = await db
    .select({ date: min(suspectedDate) })
    .from(alerts)
    .where(and(eq(alerts.bucketName, bucketName), massChangeHolding(now)));
  return oldest?.date ?? null;
}

/** The date of the backup a mass_change alert suspects (every older one is held). */
const suspectedDate = sql<string>`json_extract(${alerts.details}, '$.backupDate')`;

/**
 * Expires a backup unless a job reads it: one conditional update, so a verification, restore or
 * replication that starts after the plan either is seen here (the backup is kept) or starts on
 * an expired backup (and refuses it).
 */
export function expireRecord(db: Database, state: CleanupState, now: Date): CleanupDeps["expireRecord"] {
  return async (backupId): Promise<ExpireOutcome> => {
    const reading = db
      .select({ id: backupJobs.id })
      .from(backupJobs)
      .where(
        and(
          eq(backupJobs.backupId, backupId),
          inArray(backupJobs.status, ["pending", "in_progress"]),
          inArray(backupJobs.kind, [...READERS]),
        ),
      );
    // A legal hold placed after the plan keeps it too (its release not yet due), and so does a
    // mass_change alert opened after the plan that suspects a later backup.
    const notHeld = or(isNull(r2Backups.holdAt), lte(r2Backups.holdReleaseAt, now.toISOString()));
    const suspectingAlert = db
      .select({ id: alerts.id })
      .from(alerts)
      .where(
        and(
          eq(alerts.bucketName, r2Backups.bucketName),
          massChangeHolding(now),
          gt(suspectedDate, r2Backups.backupDate),
        ),
      );
    const [, [row]] = await db.batch([
      db
        .update(r2Backups)
        .set({ status: "expired", updatedAt: now.toISOString() })
        .where(
          and(
            eq(r2Backups.id, backupId),
            ne(r2Backups.status, "expired"),
            not(exists(reading)),
            notHeld,
            not(exists(suspectingAlert)),
          ),
        ),
      db
        .select({
          status: r2Backups.status,
          holdAt: r2Backups.holdAt,
          holdReleaseAt: r2Backups.holdReleaseAt,
          suspected: sql<number>`${exists(suspectingAlert)}`,
        })
        .from(r2Backups)
        .where(eq(r2Backups.id, backupId)),
    ]);
    if (row?.status !== "expired")
      return !row ? "in_use" : holdStands(row, now) ? "held" : row.suspected ? "held_by_alert" : "in_use";
    await runBatch(db, [
      insertLog(db, {
        eventKey: `${backupId}:expired`,
        backupId,
        timestamp: now.toISOString(),
        eventType: "cleanup",
        level: "info",
        message: `Expired by cleanup ${state.jobId} (requested by ${state.requestedBy}): not kept by retention ${state.policy.retentionDays} days, keep ${JSON.stringify(state.policy.keep)}.`,
        requestedBy: state.requestedBy,
      }),
    ]);
    return "expired";
  };
}

/** Its manifest and rows are gone: the manifest location is cleared, so no cleanup plans it again. */
export function expiryFinished(db: Database, now: Date): CleanupDeps["expiryFinished"] {
  return async (backupId) =>
    runBatch(db, [updateBackup(db, backupId, { manifestKey: null, updatedAt: now.toISOString() })]);
}

export function deleteFileRows(db: Database): CleanupDeps["deleteFileRows"] {
  return async (backupId, limit) => {
    const result = await db.run(
      sql`DELETE FROM ${backupFiles} WHERE ${backupFiles.id} IN (SELECT ${backupFiles.id} FROM ${backupFiles} WHERE ${backupFiles.backupId} = ${backupId} LIMIT ${limit})`,
    );
    return result.meta.changes ?? 0;
  };
}

/** Every snapshot in the store, of any bucket or template, in id order (the mark's order). */
export async function storeSnapshots(db: Database): Promise<string[]> {
  const rows = await db
    .select({ id: r2Backups.id })
    .from(r2Backups)
    .where(inArray(r2Backups.status, [...SNAPSHOT]))
    .orderBy(asc(r2Backups.id));
  return rows.map((r) => r.id);
}

export async function backupStatus(db: Database, backupId: string): Promise<string | null> {
  const [row] = await db.select({ status: r2Backups.status }).from(r2Backups).where(eq(r2Backups.id, backupId));
  return row?.status ?? null;
}

export function prunableRows(db: Database): CleanupDeps["prunable"] {
  return {
    logs: {
      count: async (expiredBefore) => {
        const [row] = await db
          .select({ n: count() })
          .from(backupLogs)
          .innerJoin(r2Backups, eq(r2Backups.id, backupLogs.backupId))
          .where(and(eq(r2Backups.status, "expired"), lt(r2Backups.updatedAt, expiredBefore)));
        return row?.n ?? 0;
      },
      delete: async (expiredBefore, limit) => {
        const result = await db.run(
          sql`DELETE FROM ${backupLogs} WHERE ${backupLogs.id} IN (SELECT l.id FROM ${backupLogs} l JOIN ${r2Backups} b ON b.id = l.backup_id WHERE b.status = 'expired' AND b.updated_at < ${expiredBefore} LIMIT ${limit})`,
        );
        return result.meta.changes ?? 0;
      },
    },
    findings: {
      count: async (endedBefore) => {
        const [row] = await db
          .select({ n: count() })
          .from(jobFindings)
          .innerJoin(backupJobs, eq(backupJobs.id, jobFindings.jobId))
          .where(lt(backupJobs.completedAt, endedBefore));
        return row?.n ?? 0;
      },
      delete: async (endedBefore, limit) => {
        const result = await db.run(
          sql`DELETE FROM ${jobFindings} WHERE rowid IN (SELECT f.rowid FROM ${jobFindings} f JOIN ${backupJobs} j ON j.id = f.job_id WHERE j.completed_at < ${endedBefore} LIMIT ${limit})`,
        );
        return result.meta.changes ?? 0;
      },
    },
    // The webhook outbox: deliveries sent or given up on (pending ones always stay).
    deliveries: {
      count: async (createdBefore) => {
        const [row] = await db
          .select({ n: count() })
          .from(webhookDeliveries)
          .where(finishedDeliveryBefore(createdBefore));
        return row?.n ?? 0;
      },
      delete: async (createdBefore, limit) => {
        const result = await db.run(
          sql`DELETE FROM ${webhookDeliveries} WHERE ${webhookDeliveries.id} IN (SELECT ${webhookDeliveries.id} FROM ${webhookDeliveries} WHERE ${finishedDeliveryBefore(createdBefore)} LIMIT ${limit})`,
        );
        return result.meta.changes ?? 0;
      },
    },
  };
}
