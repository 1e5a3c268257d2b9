/**
 * The read queries of the API, beside the schema they read: route handlers call these and shape
 * the answer; they never build SQL themselves. Every query is served by an index of schema/index.ts.
 */
import { and, asc, desc, eq, gt, gte, inArray, isNotNull, lt, ne, or, sql, type SQL } from "drizzle-orm";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import * as schema from "./index";
import {
  backupFiles,
  backupJobs,
  backupLogs,
  FINDING_LISTS,
  FINDINGS_KEPT,
  jobFindings,
  LOG_LEVELS,
  r2Backups,
  type BackupStatus,
  type BackupTrigger,
  type BackupType,
  type FindingList,
  type JobFindingRow,
  type LogLevel,
} from "./index";

type Database = DrizzleD1Database<typeof schema>;

/** Ids longer than this are never issued, so they are unknown without a query. */
const MAX_ID_LENGTH = 128;

export async function findBackupRow(db: Database, id: string) {
  if (id.length > MAX_ID_LENGTH) return undefined;
  return db.query.r2Backups.findFirst({ where: eq(r2Backups.id, id) });
}

/** The keys a backup recorded as failed (it could not read them), at most `limit`, in id order. */
export async function failedKeysOf(db: Database, backupId: string, limit: number): Promise<string[]> {
  const rows = await db
    .select({ path: backupFiles.filePath })
    .from(backupFiles)
    .where(and(eq(backupFiles.backupId, backupId), eq(backupFiles.status, "failed")))
    .orderBy(asc(backupFiles.id))
    .limit(limit);
  return rows.map((r) => r.path);
}

export async function findJobRow(db: Database, id: string) {
  if (id.length > MAX_ID_LENGTH) return undefined;
  return db.query.backupJobs.findFirst({ where: eq(backupJobs.id, id) });
}

/** A page of backups, newest first, after the (backupDate, id) of the last row of the previous page. */
export function backupPage(
  db: Database,
  filter: {
    /** One status, or several (`kept`: completed and partial, the backups with a snapshot). */
    status?: BackupStatus | "kept";
    type?: BackupType;
    trigger?: BackupTrigger;
    template?: string;
    bucketName?: string;
    after?: { d: string; i: string };
  },
  limit: number,
) {
  const conditions: SQL[] = [];
  // Expired backups are the audit trail: listed only when asked for by status.
  conditions.push(
    filter.status === "kept"
      ? inArray(r2Backups.status, ["completed", "partial"])
      : filter.status
        ? eq(r2Backups.status, filter.status)
        : ne(r2Backups.status, "expired"),
  );
  if (filter.bucketName) conditions.push(eq(r2Backups.bucketName, filter.bucketName));
  if (filter.type) conditions.push(eq(r2Backups.backupType, filter.type));
  if (filter.trigger) conditions.push(eq(r2Backups.trigger, filter.trigger));
  if (filter.template) conditions.push(eq(r2Backups.template, filter.template));
  if (filter.after)
    conditions.push(
      or(
        lt(r2Backups.backupDate, filter.after.d),
        and(eq(r2Backups.backupDate, filter.after.d), lt(r2Backups.id, filter.after.i)),
      )!,
    );
  return db
    .select()
    .from(r2Backups)
    .where(and(...conditions))
    .orderBy(desc(r2Backups.backupDate), desc(r2Backups.id))
    .limit(limit);
}

/**
 * A page of a backup's or a job's log in id order; `level` is a minimum severity. A job's lines
 * are those whose event key it prefixed with its id (a verification files them under its backup
 * too, so the backup's log shows them as well).
 */
export function logPage(
  db: Database,
  owner: { backupId: string } | { jobId: string },
  filter: { level?: LogLevel; afterId?: number },
  limit: number,
) {
  const conditions: SQL[] =
    "backupId" in owner
      ? [eq(backupLogs.backupId, owner.backupId)]
      : // ":" is followed by ";" in code-point order: the range is exactly the keys `<jobId>:...`.
        [gte(backupLogs.eventKey, `${owner.jobId}:`), lt(backupLogs.eventKey, `${owner.jobId};`)];
  if (filter.level) conditions.push(inArray(backupLogs.level, LOG_LEVELS.slice(LOG_LEVELS.indexOf(filter.level))));
  if (filter.afterId !== undefined) conditions.push(gt(backupLogs.id, filter.afterId));
  return db
    .select()
    .from(backupLogs)
    .where(and(...conditions))
    .orderBy(asc(backupLogs.id))
    .limit(limit);
}

/**
 * The kept findings of a job, per list, in the order they were found: a fanned-out restore's
 * shards' too (their job ids are `<job id>/shard-<nn>`, in the order of their ranges), up to
 * FINDINGS_KEPT a list.
 */
export async function jobFindingLists(db: Database, jobId: string): Promise<Record<FindingList, JobFindingRow[]>> {
  const ofList = (list: FindingList) =>
    db
      .select()
      .from(jobFindings)
      .where(
        and(
          or(
            eq(jobFindings.jobId, jobId),
            and(gt(jobFindings.jobId, `${jobId}/shard-`), lt(jobFindings.jobId, `${jobId}/shard.`)),
          ),
          eq(jobFindings.list, list),
        ),
      )
      .orderBy(asc(jobFindings.jobId), asc(jobFindings.seq))
      .limit(FINDINGS_KEPT);
  const [problem, failure, planned, expired, held] = await Promise.all(FINDING_LISTS.map(ofList));
  return { problem: problem!, failure: failure!, planned: planned!, expired: expired!, held: held! };
}

/**
 * Where the next sampled verification of a backup starts: just after the window of the newest
 * sampled verification that finished (whatever its percentage), so windows neither overlap nor
 * skip. Full verifications do not move the window.
 */
export async function nextSampleOffset(db: Database, backupId: string): Promise<number> {
  const [newest] = await db
    .select({
      offset: sql<number>`json_extract(${backupJobs.result}, '$.sample.offset')`,
      percent: sql<number>`json_extract(${backupJobs.result}, '$.sample.percent')`,
    })
    .from(backupJobs)
    .where(
      and(
        eq(backupJobs.backupId, backupId),
        eq(backupJobs.kind, "verify"),
        isNotNull(sql`json_extract(${backupJobs.result}, '$.sample.offset')`),
      ),
    )
    .orderBy(desc(backupJobs.createdAt), desc(backupJobs.id))
    .limit(1);
  return newest ? (newest.offset + newest.percent) % 100 : 0;
}

/**
 * The bucket's newest backup with a snapshot (completed or partial), of any template: what a
 * fanned-out full backup plans its ranges from (only key boundaries are read from it).
 */
export async function latestSnapshotRow(db: Database, bucketName: string) {
  return db.query.r2Backups.findFirst({
    where: and(eq(r2Backups.bucketName, bucketName), inArray(r2Backups.status, ["completed", "partial"])),
    orderBy: [desc(r2Backups.backupDate)],
  });
}
