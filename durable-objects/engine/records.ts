/**
 * D1 writes of the engine, through Drizzle. Every write is idempotent: file records upsert on
 * (backup_id, file_path), log rows are keyed by a deterministic event key, and backup rows are set
 * from the job's checkpoint. Multi-row inserts are chunked under D1's 100 bound parameters.
 */
import { and, eq, gt, isNull, lte, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import * as schema from "../../schema";
import {
  backupFiles,
  backupJobs,
  backupLogs,
  jobFindings,
  r2Backups,
  type FindingList,
  type NewBackupFileRow,
  type NewBackupLogRow,
  type NewBackupRow,
  type NewJobFindingRow,
} from "../../schema";

/** Drizzle over D1; `$client` is the D1 binding itself (the collection ledger batches raw statements). */
export type Database = DrizzleD1Database<typeof schema> & { $client: D1Database };
export type Statement = BatchItem<"sqlite">;

/**
 * One Drizzle instance per D1 binding: making one walks the whole schema for its relations
 * (extractTablesRelationalConfig), which a CPU profile of a fanned-out restore found at about 2%
 * of the worker's time when every status read and every step made its own. It holds the binding
 * and the schema, nothing of a request, so sharing it is safe.
 */
const databases = new WeakMap<D1Database, Database>();

export function openDatabase(d1: D1Database): Database {
  let database = databases.get(d1);
  if (!database) {
    database = drizzle(d1, { schema });
    databases.set(d1, database);
  }
  return database;
}

const D1_MAX_BOUND_PARAMETERS = 100;

export function chunkForParameters<T extends object>(rows: readonly T[], columnsPerRow: number): T[][] {
  const perStatement = Math.max(1, Math.floor(D1_MAX_BOUND_PARAMETERS / columnsPerRow));
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += perStatement) chunks.push(rows.slice(i, i + perStatement));
  return chunks;
}

export type FileRecord = Omit<NewBackupFileRow, "id">;

const FILE_RECORD_COLUMNS = 7;

export function upsertFileRecords(db: Database, records: readonly FileRecord[]): Statement[] {
  return chunkForParameters(records, FILE_RECORD_COLUMNS).map((chunk) =>
    db
      .insert(backupFiles)
      .values(chunk)
      .onConflictDoUpdate({
        target: [backupFiles.backupId, backupFiles.filePath],
        set: {
          backupPath: sqlExcluded("backup_path"),
          fileSize: sqlExcluded("file_size"),
          checksum: sqlExcluded("checksum"),
          status: sqlExcluded("status"),
          error: sqlExcluded("error"),
        },
      }),
  );
}

/**
 * Deletes a backup's file rows in the key window (after, upTo] (upTo null: to the end), so that
 * the rows written next for that window are exactly what the final attempt of a step decided.
 * SQLite compares text bytewise, which is R2's (UTF-8) key order.
 */
export function clearFileRecordWindow(
  db: Database,
  backupId: string,
  after: string | null,
  upTo: string | null,
): Statement {
  return db
    .delete(backupFiles)
    .where(
      and(
        eq(backupFiles.backupId, backupId),
        after === null ? undefined : gt(backupFiles.filePath, after),
        upTo === null ? undefined : lte(backupFiles.filePath, upTo),
      ),
    );
}

const FINDING_COLUMNS = 7;

/** Writes findings numbered from `stored` on (per list); a replayed step rewrites the same rows. */
export function upsertFindings(
  db: Database,
  jobId: string,
  findings: readonly {
    list: FindingList;
    path: string;
    detail: string | null;
    expected?: string | null;
    actual?: string | null;
  }[],
  stored: Partial<Record<FindingList, number>>,
): Statement[] {
  // Every list counted, also for a job begun before a list existed.
  const next: Record<FindingList, number> = { problem: 0, failure: 0, planned: 0, expired: 0, held: 0, ...stored };
  const rows: NewJobFindingRow[] = findings.map((f) => ({
    jobId,
    list: f.list,
    seq: next[f.list]++,
    path: f.path,
    detail: f.detail,
    expected: f.expected ?? null,
    actual: f.actual ?? null,
  }));
  return chunkForParameters(rows, FINDING_COLUMNS).map((chunk) =>
    db
      .insert(jobFindings)
      .values(chunk)
      .onConflictDoUpdate({
        target: [jobFindings.jobId, jobFindings.list, jobFindings.seq],
        set: {
          path: sqlExcluded("path"),
          detail: sqlExcluded("detail"),
          expected: sqlExcluded("expected"),
          actual: sqlExcluded("actual"),
        },
      }),
  );
}

/** The value the conflicting insert proposed, for upserts. */
function sqlExcluded(column: string) {
  return sql.raw(`excluded.${column}`);
}

export type LogRecord = Omit<NewBackupLogRow, "id">;

export function insertLog(db: Database, record: LogRecord): Statement {
  return db.insert(backupLogs).values(record).onConflictDoNothing({ target: backupLogs.eventKey });
}

export function insertBackup(db: Database, row: NewBackupRow): Statement {
  return db.insert(r2Backups).values(row).onConflictDoNothing({ target: r2Backups.id });
}

export function updateBackup(db: Database, backupId: string, values: Partial<NewBackupRow>): Statement {
  return db.update(r2Backups).set(values).where(eq(r2Backups.id, backupId));
}

/** The backup's replica is `pending`, unless its replication has set its status already. */
export function markReplicaPending(db: Database, backupId: string): Statement {
  return db
    .update(r2Backups)
    .set({ replicaStatus: "pending" })
    .where(and(eq(r2Backups.id, backupId), isNull(r2Backups.replicaStatus)));
}

/** Runs the statements as one D1 batch (one round trip, one transaction). */
export async function runBatch(db: Database, statements: readonly Statement[]): Promise<void> {
  const [first, ...rest] = statements;
  if (!first) return;
  await db.batch([first, ...rest]);
}

export type NewJobRow = typeof backupJobs.$inferInsert;

export function insertJob(db: Database, row: NewJobRow): Statement {
  return db.insert(backupJobs).values(row).onConflictDoNothing({ target: backupJobs.id });
}

export function updateJob(db: Database, jobId: string, values: Partial<NewJobRow>): Statement {
  return db.update(backupJobs).set(values).where(eq(backupJobs.id, jobId));
}
