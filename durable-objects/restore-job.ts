/**
 * RestoreJob: one Durable Object per restore (`getByName(jobId)`).
 *
 * Owns: the restore's state (options, counts, position) and its D1 job row; its failures and a
 * dry run's planned keys are findings in D1. Alarm: one manifest chunk per step (StepJob's
 * lifecycle). A restore that writes holds the source bucket's lease (taken by the coordinator
 * before `start`) and releases it once its end is recorded, whatever the outcome.
 */
import { and, asc, eq, gt } from "drizzle-orm";
import { backupFiles } from "../schema";
import { DEFAULTS } from "./engine/settings/defaults";
import {
  initialRestoreState,
  restoreResult,
  runRestoreStep,
  type RestoreOptions,
  type RestoreState,
} from "./engine/restore/restore-step";
import { runBatch, type LogRecord, type NewJobRow } from "./engine/records";
import { readKeyring } from "./engine/settings/engine-settings";
import { ManifestJob } from "./manifest-job";
import { clock } from "./engine/clock";
import { getConfig } from "./engine/settings/config";
import { NO_FINDINGS } from "./engine/job-state";
import { RUNNING } from "./engine/lifecycle";
import {
  countsOf,
  leafRanges,
  restoreShardCount,
  restoreShardName,
  runRestoreFanOutStep,
  type RestoreShard,
  type RestoreShardControl,
  type RestoreShardReport,
} from "./engine/restore/restore-fan-out";

export interface StartRestore {
  jobId: string;
  backupId: string;
  bucketName: string;
  /** The source bucket's binding (a template's; absent: R2_BUCKET). */
  sourceBinding?: string;
  requestedBy: string;
  options: RestoreOptions;
  holdsLease: boolean;
  /** Tests and benches: this restore's fan-out limits instead of the environment's (BACKUP_MAX_SHARDS, BACKUP_SHARD_MIN_OBJECTS). */
  maxShards?: number;
  minObjectsPerShard?: number;
}

export class RestoreJob extends ManifestJob<RestoreState> {
  async start(request: StartRestore): Promise<string> {
    // The replica's index stands in for a primary one that is gone (its objects follow, one by one).
    const index = await this.indexWithFallback(request.backupId);
    if (!index) throw new Error(`the manifest of backup ${request.backupId} is missing`);
    const { maxShards: askedShards, minObjectsPerShard: askedMin, ...job } = request;
    const state = initialRestoreState(job, index, clock.date().toISOString());
    // A large snapshot is restored by shards over runs of its leaves (restore-fan-out.ts).
    const config = getConfig(this.env);
    const count = restoreShardCount(
      index.fileCount,
      index.chunkCount,
      askedShards ?? config.BACKUP_MAX_SHARDS,
      askedMin ?? config.BACKUP_SHARD_MIN_OBJECTS,
    );
    if (count === 1) return this.startJob(state);
    const shards = leafRanges(index.chunkCount, count).map((range, index) => ({
      index,
      range,
      status: "pending" as const,
      filesProcessed: 0,
      failedCount: 0,
      steps: 0,
      retries: 0,
      error: null,
    }));
    return this.startJob({ ...state, fanOut: { stage: "starting", shards } });
  }

  /** Starts this object as `shard` of the fanned-out restore `parent` (idempotent). */
  async startShard(parent: RestoreState, shard: RestoreShard): Promise<void> {
    await this.begin({
      ...parent,
      ...countsOf({}),
      jobId: restoreShardName(parent.jobId, shard.index),
      holdsLease: false,
      shard,
      fanOut: undefined,
      nextChunkSeq: shard.range.fromLeaf,
      nextOffset: 0,
      ...NO_FINDINGS,
      ...RUNNING,
      steps: 0,
      retries: 0,
    });
  }

  /** This shard's state for its parent (a lost alarm re-armed). */
  async shardReport(): Promise<RestoreShardReport> {
    const state = await this.stateForParent();
    if (!state) return { stage: "unknown", outcome: null, error: null, counts: countsOf({}), steps: 0, retries: 0 };
    return {
      stage: state.stage,
      outcome: state.outcome,
      // Why it ended (null once completed), or while it runs the failure its next attempt retries.
      error: state.outcome ? state.error : state.lastError,
      counts: countsOf(state),
      steps: state.steps ?? 0,
      retries: state.retries ?? 0,
    };
  }

  /** Asks the restore to stop; a fanned-out one's shards too (and again when its end is recorded). */
  override async cancel(requestedBy: string): Promise<boolean> {
    const accepted = await super.cancel(requestedBy);
    if (accepted) await this.cancelShards(await this.loadState(), requestedBy);
    return accepted;
  }

  private async cancelShards(state: RestoreState | undefined, requestedBy: string): Promise<void> {
    if (!state?.fanOut || state.fanOut.stage === "starting") return;
    for (const shard of state.fanOut.shards) await this.shardControl(state).cancel(shard.index, requestedBy);
  }

  private shardControl(state: RestoreState): RestoreShardControl {
    const stub = (index: number) => this.env.RESTORE_JOB.getByName(restoreShardName(state.jobId, index));
    return {
      start: (shard) => stub(shard.index).startShard(state, shard),
      report: (index) => stub(index).shardReport(),
      cancel: async (index, requestedBy) => {
        await stub(index).cancel(requestedBy);
      },
    };
  }

  protected override async recordStart(state: RestoreState): Promise<void> {
    if (!state.shard) return super.recordStart(state);
    const { index, count, range } = state.shard;
    await runBatch(this.db(), [
      this.log(
        state,
        "start",
        "info",
        `Shard ${index + 1} of ${count} of restore ${state.jobId.split("/")[0]} started over leaves ${range.fromLeaf}–${range.toLeaf - 1}.`,
      ),
    ]);
  }

  protected override async recordEnd(state: RestoreState): Promise<void> {
    if (!state.shard) {
      // A fanned-out restore that did not complete stops whatever shard still runs.
      if (state.outcome !== "completed") await this.cancelShards(state, state.requestedBy);
      return super.recordEnd(state);
    }
    const r = restoreResult(state);
    await runBatch(this.db(), [
      this.log(
        state,
        "complete",
        state.outcome === "completed" ? "info" : "error",
        `Shard ${state.shard.index + 1} of ${state.shard.count} ${state.outcome}: ${r.filesRestored} restored, ${r.filesSkipped} skipped, ${r.filesFailed} failed` +
          (state.error ? ` (${state.error})` : "") +
          ".",
      ),
    ]);
  }

  protected override progressColumns(next: RestoreState): Partial<NewJobRow> {
    const shards = next.fanOut?.shards ?? next.fannedOut;
    return shards ? { shards } : {};
  }

  /** The backup bucket's index, or the replica's when that one is missing or unreadable (and a replica is bound). */
  private async indexWithFallback(backupId: string) {
    const primary = await this.manifestIndex(backupId).catch((error: unknown) => {
      if (!this.env.R2_REPLICA_BUCKET) throw error;
      console.warn(
        `the manifest index of ${backupId} in the backup bucket is unreadable; reading the replica's`,
        error,
      );
      return null;
    });
    return primary ?? (this.env.R2_REPLICA_BUCKET ? await this.manifestIndex(backupId, "replica") : null);
  }

  protected startMessage({ options, backupId }: RestoreState): string {
    return (
      `${options.dryRun ? "Dry run of a restore" : "Restore"} of ${backupId} started ` +
      `(overwriteExisting: ${options.overwriteExisting}, verifyAfterRestore: ${options.verifyAfterRestore}` +
      (options.targetPrefix ? `, targetPrefix: ${options.targetPrefix}` : "") +
      ")."
    );
  }

  protected async work(state: RestoreState): Promise<RestoreState> {
    const settings = this.settings();
    if (state.fanOut) return runRestoreFanOutStep(this.shardControl(state), state, settings.BACKUP_SHARD_POLL_MS);
    return runRestoreStep(
      {
        source: this.sourceBucket(state.sourceBinding),
        backup: this.bound("R2_BACKUP_BUCKET"),
        replica: this.bound("R2_REPLICA_BUCKET") ?? null,
        keyring: await readKeyring(this.env),
        concurrency: DEFAULTS.concurrency,
        byteBudget: settings.BACKUP_STEP_BYTE_BUDGET,
        multipartThreshold: settings.BACKUP_MULTIPART_THRESHOLD_BYTES,
        partSize: settings.BACKUP_PART_SIZE_BYTES,
        save: (next) => this.saveState(next),
        unreadableFiles: async (after, limit) =>
          (
            await this.db()
              .select({ path: backupFiles.filePath })
              .from(backupFiles)
              .where(
                and(
                  eq(backupFiles.backupId, state.backupId),
                  eq(backupFiles.status, "failed"),
                  after === null ? undefined : gt(backupFiles.filePath, after),
                ),
              )
              .orderBy(asc(backupFiles.filePath))
              .limit(limit)
          ).map((r) => r.path),
      },
      state,
    );
  }

  protected result(state: RestoreState): Record<string, unknown> {
    return restoreResult(state);
  }

  protected completionLog(state: RestoreState): Pick<LogRecord, "level" | "message"> {
    const r = restoreResult(state);
    const summary =
      `${r.filesRestored} restored (${r.bytesRestored} bytes), ${r.filesSkipped} skipped, ${r.filesFailed} failed` +
      (state.options.verifyAfterRestore ? `, ${r.verified} verified, ${r.verifyFailures} verify failures` : "") +
      (r.filesFromReplica > 0
        ? `; ${r.filesFromReplica} read from the replica because the backup bucket's copy was missing or damaged (first: ${state.firstFromReplica})`
        : "") +
      (r.chunksFromReplica > 0
        ? `; ${r.chunksFromReplica} manifest leaves read from the replica (the backup bucket's copy was missing or damaged)`
        : "");
    return {
      level:
        r.filesFailed > 0 || r.verifyFailures > 0 || r.filesFromReplica > 0 || r.chunksFromReplica > 0
          ? "warn"
          : "info",
      message: state.options.dryRun
        ? `Dry run complete, nothing written: would have ${summary}.`
        : `Restore complete: ${summary}.`,
    };
  }

  /** A shard holds no lease: its parent holds the bucket's (a dry run: none). */
  protected leaseOf(state: RestoreState) {
    return state.holdsLease ? { bucketName: state.bucketName, holderId: state.jobId } : null;
  }
}
