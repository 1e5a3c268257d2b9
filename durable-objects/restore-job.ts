/**
 * RestoreJob: one Durable Object per restore (`getByName(jobId)`).
 *
 * Owns: the restore's state (options, counts, position) and its D1 job row; its failures and a
 * dry run's planned keys are findings in D1. Alarm: one manifest chunk per step (StepJob's
 * lifecycle). A restore that writes holds the source bucket's lease (taken by the coordinator
 * before `start`) and releases it once its end is recorded, whatever the outcome.
 */
import { describeFilter } from "./engine/restore/restore-filter";
import { and, asc, eq, gt } from "drizzle-orm";
import { backupFiles } from "../schema";
import { DEFAULTS } from "./engine/settings/defaults";
import {
  initialRestoreState,
  restoreCounting,
  restoredManifest,
  restoreResult,
  runRestoreStep,
  type RestoreOptions,
  type RestoreState,
} from "./engine/restore/restore-step";
import type { LogRecord } from "./engine/records";
import { readKeyring } from "./engine/settings/engine-settings";
import { ManifestJob, type FanOutKind, type FanOutLimits } from "./manifest-job";
import { clock } from "./engine/clock";

export interface StartRestore extends FanOutLimits {
  jobId: string;
  backupId: string;
  bucketName: string;
  /** The source bucket's binding (a template's; absent: R2_BUCKET). */
  sourceBinding?: string;
  requestedBy: string;
  options: RestoreOptions;
  holdsLease: boolean;
}

export class RestoreJob extends ManifestJob<RestoreState> {
  async start(request: StartRestore): Promise<string> {
    // The replica's index stands in for a primary one that is gone (its objects follow, one by one).
    const index = await this.indexWithFallback(request.backupId);
    if (!index) throw new Error(`the manifest of backup ${request.backupId} is missing`);
    const { maxShards, minObjectsPerShard, ...job } = request;
    const state = initialRestoreState(job, index, clock.date().toISOString());
    const manifest = restoredManifest(await this.copies(), state);
    // A large snapshot is restored by shards over runs of its leaves (engine/leaf-fan-out.ts).
    return this.startJob(await this.withFanOut(state, { maxShards, minObjectsPerShard }, manifest));
  }

  /** Where a restore reads the backup: the backup bucket, the replica behind it, and the keys. */
  private async copies() {
    return {
      backup: this.bound("R2_BACKUP_BUCKET"),
      replica: this.bound("R2_REPLICA_BUCKET") ?? null,
      keyring: await readKeyring(this.env),
    };
  }

  protected override fanOutKind(): FanOutKind<RestoreState, object> {
    // Runs may split a leaf: each object is restored on its own. A verification or replication
    // takes whole leaves (each checks or copies the leaf itself, which two shards would do twice).
    return { counting: restoreCounting, stub: (name) => this.env.RESTORE_JOB.getByName(name), withinLeaves: true };
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
      (describeFilter(options.filter) ? `; objects ${describeFilter(options.filter)}` : "") +
      ")."
    );
  }

  protected async work(state: RestoreState): Promise<RestoreState> {
    const settings = this.settings();
    return runRestoreStep(
      {
        source: this.sourceBucket(state.sourceBinding),
        ...(await this.copies()),
        concurrency: DEFAULTS.concurrency,
        byteBudget: settings.BACKUP_STEP_BYTE_BUDGET,
        multipartThreshold: settings.BACKUP_MULTIPART_THRESHOLD_BYTES,
        partSize: settings.BACKUP_PART_SIZE_BYTES,
        hashStepBytes: settings.BACKUP_HASH_STEP_BYTES,
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

  /** The bucket's lease, held by a restore that writes (a dry run: none; a shard's parent holds it). */
  protected leaseOf(state: RestoreState) {
    return state.holdsLease ? { bucketName: state.bucketName, holderId: state.jobId } : null;
  }
}
