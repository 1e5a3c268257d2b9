/**
 * CleanupJob: one Durable Object per cleanup (`getByName(jobId)`).
 *
 * Owns: the cleanup's state (policy, phase, positions, counts), its plan and its mark set in the
 * object's SQLite storage (cleanup-store.ts: as large as the history and the blob store, so never
 * one value), and its D1 job row; the expired backup ids are findings in D1.
 * Alarm: one step of plan, expire, collect, mark or sweep (engine/cleanup/cleanup-step.ts) per
 * alarm, on StepJob's lifecycle. It holds the bucket's lease (taken by the coordinator before
 * `start`) while it changes the bucket's history, and releases it before it marks and sweeps as
 * the store's one collector (engine/collection/ledger.ts), so backups wait at most for the
 * expiries; its end releases the collection, whatever the outcome.
 */
import { getConfig } from "./engine/settings/config";
import { cleanupResult } from "./engine/cleanup/cleanup-report";
import { runCleanupStep, type CleanupState } from "./engine/cleanup/cleanup-step";
import type { RetentionPolicy } from "./engine/cleanup/keep-policy";
import {
  condemnPage,
  finishPage,
  pageDeleting,
  pruneLedger,
  registerCollector,
  releaseCollector,
} from "./engine/collection/ledger";
import { NO_FINDINGS } from "./engine/job-state";
import { RUNNING } from "./engine/lifecycle";
import type { LogRecord } from "./engine/records";
import { readKeyring } from "./engine/settings/engine-settings";
import { ManifestJob } from "./manifest-job";
import type { AlertScope } from "./step-job";
import { DEFAULT_TEMPLATE } from "./engine/settings/templates";
import {
  backupStatus,
  cleanupHistory,
  deleteFileRows,
  expireRecord,
  expiryFinished,
  prunableRows,
  storeSnapshots,
} from "./engine/cleanup/cleanup-records";
import { cleanupStore, createCleanupTables } from "./engine/cleanup/cleanup-store";
import { clock } from "./engine/clock";
import { cleanupFloors } from "./engine/settings/bucket-lock";

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
    ctx.blockConcurrencyWhile(async () => createCleanupTables(ctx.storage.sql));
  }

  async start(request: StartCleanup): Promise<string> {
    return this.startJob({
      ...request,
      kind: "cleanup",
      // Its log lines are filed under the job's own id (a cleanup works on no one backup).
      backupId: request.jobId,
      startedAt: clock.date().toISOString(),
      // Stretched to the bucket lock's retention: the sweep never asks R2 to delete what it keeps.
      graceHours: cleanupFloors(getConfig(this.env)).graceHours,
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

  protected startMessage(state: CleanupState): string {
    const { keep } = state.policy;
    return (
      `${state.dryRun ? "Dry run of a cleanup" : "Cleanup"} of ${state.bucketName}` +
      (state.template && state.template !== DEFAULT_TEMPLATE ? ` (template ${state.template})` : "") +
      ` started by ${state.requestedBy}: ` +
      `keep backups younger than ${state.policy.retentionDays} days, the last ${keep.last}, ${keep.daily} daily, ${keep.weekly} weekly, ${keep.monthly} monthly; ` +
      `unreferenced blobs older than ${state.graceHours} hours are deleted` +
      (cleanupFloors(this.settings()).minRetentionDays
        ? `; the retention lock keeps every backup younger than ${cleanupFloors(this.settings()).minRetentionDays} days`
        : "") +
      "."
    );
  }

  protected async work(state: CleanupState): Promise<CleanupState> {
    const db = this.db();
    const now = clock.date();
    return runCleanupStep(
      {
        backup: this.bound("R2_BACKUP_BUCKET"),
        replica: this.bound("R2_REPLICA_BUCKET") ?? null,
        keyring: await readKeyring(this.env),
        store: cleanupStore(this.ctx.storage.sql),
        now: () => now,
        history: cleanupHistory(db, state, now),
        lock: { minRetentionDays: cleanupFloors(this.settings()).minRetentionDays },
        expireRecord: expireRecord(db, state, now),
        expiryFinished: expiryFinished(db, now),
        prunable: prunableRows(db),
        deleteFileRows: deleteFileRows(db),
        collection: {
          releaseLease: () => this.bound("BUCKET_COORDINATOR").getByName(state.bucketName).release(state.jobId),
          register: () => registerCollector(db, state.jobId),
          prune: (since) => pruneLedger(db, since),
          snapshots: () => storeSnapshots(db),
          statusOf: (backupId) => backupStatus(db, backupId),
          condemn: (page) => condemnPage(db, { ...page, collector: state.jobId }),
          pageDeleting: (pageId) => pageDeleting(db, pageId),
          finishPage: (pageId) => finishPage(db, pageId),
        },
      },
      state,
    );
  }

  /** Whatever way it ends, the store is free for the next collection, and its pages count as done. */
  protected override endLedger(state: CleanupState): D1PreparedStatement[] {
    return releaseCollector(this.db(), state.jobId);
  }

  protected result(state: CleanupState): Record<string, unknown> {
    return cleanupResult(state);
  }

  protected completionLog(state: CleanupState): Pick<LogRecord, "level" | "message"> {
    const r = cleanupResult(state);
    const summary =
      `${r.backupsExpired} backup(s) expired` +
      (r.keptInUse > 0 ? ` (${r.keptInUse} more kept: a job began to read them)` : "") +
      (r.expiriesFinished > 0 ? `, ${r.expiriesFinished} earlier expiries finished` : "") +
      `, ${r.blobsDeleted} of ${r.blobsScanned} blobs and ${r.chunksDeleted} manifest chunks deleted (${r.bytesFreed} bytes)` +
      (r.waitingForGrace.objects > 0
        ? `; ${r.waitingForGrace.objects} unneeded blobs and chunks (${r.waitingForGrace.bytes} bytes) are younger than the ${r.graceHours} h grace period, reclaimable from ${r.waitingForGrace.reclaimableFrom}`
        : "");
    return {
      level: "info",
      message: state.dryRun
        ? `Dry run of a cleanup complete, nothing deleted: would have ${summary}.`
        : `Cleanup complete: ${summary}.`,
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
