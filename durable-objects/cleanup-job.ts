/**
 * CleanupJob: one Durable Object per cleanup (`getByName(jobId)`).
 *
 * Owns: the cleanup's state (policy, phase, positions, counts), its plan and its mark set in the
 * object's SQLite storage (tables `cleanup_backups`, `marked` and `marked_chunks`: as large as the history and the
 * blob store, so never one value), and its D1 job row; the expired backup ids are findings in D1.
 * Alarm: one step of plan, expire, mark or sweep (engine/cleanup/cleanup-step.ts) per alarm, on
 * StepJob's lifecycle. It holds the bucket's lease (taken by the coordinator before `start`), so no
 * backup or restore runs meanwhile, and releases it once its end is recorded.
 */
import { and, count, eq, inArray, lt, ne, not, sql } from "drizzle-orm";
import { backupFiles, backupJobs, backupLogs, jobFindings, r2Backups, webhookDeliveries } from "../schema";

const finishedDeliveryBefore = (createdBefore: string) => and(ne(webhookDeliveries.status, "pending"), lt(webhookDeliveries.createdAt, createdBefore));
import { getConfig } from "./config";
import { cleanupResult, runCleanupStep, type CleanupState, type CleanupStore, type SweepPage } from "./engine/cleanup/cleanup-step";
import type { RetentionPolicy } from "./engine/cleanup/keep-policy";
import { NO_FINDINGS } from "./engine/job-state";
import { RUNNING } from "./engine/lifecycle";
import { insertLog, runBatch, updateBackup, type LogRecord } from "./engine/records";
import { readKeyring } from "./engine-settings";
import { ManifestJob } from "./manifest-job";
import type { AlertScope } from "./step-job";
import { DEFAULT_TEMPLATE } from "./templates";

export interface StartCleanup {
  jobId: string;
  bucketName: string;
  requestedBy: string;
  dryRun: boolean;
  /** The template whose backups the policy applies to (absent: the default); every other snapshot is kept. */
  template?: string;
  policy: RetentionPolicy;
}

export class CleanupJob extends ManifestJob<CleanupState> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Once per instance, before any request or alarm: the plan, the mark set, the sweep page.
    ctx.blockConcurrencyWhile(async () => this.createTables());
  }

  async start(request: StartCleanup): Promise<string> {
    return this.startJob({
      ...request,
      kind: "cleanup",
      // Its log lines are filed under the job's own id (a cleanup works on no one backup).
      backupId: request.jobId,
      startedAt: new Date().toISOString(),
      graceHours: getConfig(this.env).BACKUP_GC_GRACE_HOURS,
      logRetentionDays: getConfig(this.env).BACKUP_LOG_RETENTION_DAYS,
      logsDeleted: null,
      findingsDeleted: null,
      deliveriesDeleted: null,
      chunkCount: 0,
      nextChunkSeq: 0,
      nextOffset: 0,
      filesProcessed: 0,
      filesTotal: 0,
      phase: "plan",
      expireAfter: null,
      markBackup: null,
      markChunk: 0,
      sweepArea: 0,
      sweepCursor: null,
      backupsExpired: 0,
      blobsScanned: 0,
      blobsDeleted: 0,
      chunksDeleted: 0,
      chunkBytesFreed: 0,
      bytesFreed: 0,
      storeBytes: 0,
      storeObjects: 0,
      ...NO_FINDINGS,
      ...RUNNING,
    });
  }

  private createTables(): void {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS cleanup_backups (id TEXT PRIMARY KEY, role TEXT NOT NULL)");
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS marked (blob TEXT PRIMARY KEY)");
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS marked_chunks (key TEXT PRIMARY KEY, by TEXT NOT NULL)");
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS sweep_page (id INTEGER PRIMARY KEY CHECK (id = 1), page TEXT NOT NULL)");
  }

  private store(): CleanupStore {
    const db = this.ctx.storage.sql;
    const next = (role: string, after: string | null) =>
      db.exec<{ id: string }>("SELECT id FROM cleanup_backups WHERE role = ? AND id > ? ORDER BY id LIMIT 1", role, after ?? "").toArray()[0]?.id ?? null;
    return {
      savePlan: (expire, keep) => {
        db.exec("DELETE FROM cleanup_backups");
        for (const id of expire) db.exec("INSERT OR REPLACE INTO cleanup_backups (id, role) VALUES (?, 'expire')", id);
        for (const id of keep) db.exec("INSERT OR REPLACE INTO cleanup_backups (id, role) VALUES (?, 'keep')", id);
      },
      nextExpired: (after) => next("expire", after),
      nextKept: (after) => next("keep", after),
      mark: (blobs) => {
        for (const blob of blobs) db.exec("INSERT OR IGNORE INTO marked (blob) VALUES (?)", blob);
      },
      markChunk: (key, by) => void db.exec("INSERT OR IGNORE INTO marked_chunks (key, by) VALUES (?, ?)", key, by),
      chunkMarkedBy: (key) => db.exec<{ by: string }>("SELECT by FROM marked_chunks WHERE key = ?", key).toArray()[0]?.by ?? null,
      isMarked: (key) => db.exec("SELECT 1 FROM marked WHERE blob = ? UNION ALL SELECT 1 FROM marked_chunks WHERE key = ?", key, key).toArray().length > 0,
      // One page at a time (at most 1,000 keys): small enough for one row.
      pendingSweep: () => {
        const row = db.exec<{ page: string }>("SELECT page FROM sweep_page WHERE id = 1").toArray()[0];
        return row ? (JSON.parse(row.page) as SweepPage) : null;
      },
      savePendingSweep: (page) => void db.exec("INSERT OR REPLACE INTO sweep_page (id, page) VALUES (1, ?)", JSON.stringify(page)),
    };
  }

  protected startMessage(state: CleanupState): string {
    const { keep } = state.policy;
    return (
      `${state.dryRun ? "Dry run of a cleanup" : "Cleanup"} of ${state.bucketName}` +
      (state.template && state.template !== DEFAULT_TEMPLATE ? ` (template ${state.template})` : "") +
      ` started by ${state.requestedBy}: ` +
      `keep backups younger than ${state.policy.retentionDays} days, the last ${keep.last}, ${keep.daily} daily, ${keep.weekly} weekly, ${keep.monthly} monthly; ` +
      `unreferenced blobs older than ${state.graceHours} hours are deleted.`
    );
  }

  protected async work(state: CleanupState): Promise<CleanupState> {
    const db = this.db();
    const now = new Date();
    return runCleanupStep(
      {
        backup: this.bound("R2_BACKUP_BUCKET"),
        replica: this.bound("R2_REPLICA_BUCKET") ?? null,
        keyring: await readKeyring(this.env),
        store: this.store(),
        now: () => now,
        history: async () => {
          const ofThisTemplate = and(eq(r2Backups.bucketName, state.bucketName), eq(r2Backups.template, state.template ?? DEFAULT_TEMPLATE));
          const backups = await db
            .select({ id: r2Backups.id, backupDate: r2Backups.backupDate, status: r2Backups.status })
            .from(r2Backups)
            .where(and(ofThisTemplate, inArray(r2Backups.status, ["completed", "partial", "failed", "cancelled"])));
          // What a running verification, restore or replication reads, and a running backup's parent.
          const jobs = await db
            .select({ id: backupJobs.backupId })
            .from(backupJobs)
            .where(and(eq(backupJobs.status, "in_progress"), inArray(backupJobs.kind, ["verify", "restore", "replicate"])));
          const parents = await db
            .select({ id: r2Backups.parentId })
            .from(r2Backups)
            .where(inArray(r2Backups.status, ["pending", "in_progress"]));
          // Snapshots of other source buckets and of the bucket's other templates: kept, and marked.
          const otherBuckets = await db
            .select({ id: r2Backups.id })
            .from(r2Backups)
            .where(and(not(ofThisTemplate!), inArray(r2Backups.status, ["completed", "partial"])));
          return {
            backups,
            inUse: new Set([...jobs, ...parents].map((r) => r.id).filter((id): id is string => id !== null)),
            otherBuckets: otherBuckets.map((r) => r.id),
          };
        },
        expireRecord: async (backupId) => {
          await runBatch(db, [
            updateBackup(db, backupId, { status: "expired", updatedAt: now.toISOString() }),
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
        },
        prunable: {
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
              const [row] = await db.select({ n: count() }).from(webhookDeliveries).where(finishedDeliveryBefore(createdBefore));
              return row?.n ?? 0;
            },
            delete: async (createdBefore, limit) => {
              const result = await db.run(
                sql`DELETE FROM ${webhookDeliveries} WHERE ${webhookDeliveries.id} IN (SELECT ${webhookDeliveries.id} FROM ${webhookDeliveries} WHERE ${finishedDeliveryBefore(createdBefore)} LIMIT ${limit})`,
              );
              return result.meta.changes ?? 0;
            },
          },
        },
        deleteFileRows: async (backupId, limit) => {
          const result = await db.run(
            sql`DELETE FROM ${backupFiles} WHERE ${backupFiles.id} IN (SELECT ${backupFiles.id} FROM ${backupFiles} WHERE ${backupFiles.backupId} = ${backupId} LIMIT ${limit})`,
          );
          return result.meta.changes ?? 0;
        },
      },
      state,
    );
  }

  protected result(state: CleanupState): Record<string, unknown> {
    return cleanupResult(state);
  }

  protected completionLog(state: CleanupState): Pick<LogRecord, "level" | "message"> {
    const r = cleanupResult(state);
    const summary = `${r.backupsExpired} backup(s) expired, ${r.blobsDeleted} of ${r.blobsScanned} blobs deleted (${r.bytesFreed} bytes)`;
    return {
      level: "info",
      message: state.dryRun ? `Dry run of a cleanup complete, nothing deleted: would have ${summary}.` : `Cleanup complete: ${summary}.`,
    };
  }

  protected override backupOfJob(): string | null {
    return null;
  }

  /** Expiring a backup can resolve `verification_failed`; the cron's cleanup ends its run's check. */
  protected override async alertScope(state: CleanupState): Promise<AlertScope> {
    return { bucketName: state.bucketName, log: (message) => this.log(state, "alerts", "info", message) };
  }

  protected leaseOf(state: CleanupState) {
    return { bucketName: state.bucketName, holderId: state.jobId };
  }
}
