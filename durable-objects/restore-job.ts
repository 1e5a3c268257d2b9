/**
 * RestoreJob: one Durable Object per restore (`idFromName(jobId)`).
 *
 * Owns: the restore's state (options, counts, the first 1,000 failures and planned keys) and its
 * D1 job row. Alarm: one manifest chunk per step (StepJob's lifecycle). A restore that writes
 * holds the source bucket's lease (taken by the coordinator before `start`) and releases it when
 * it finishes, whatever the outcome.
 */
import { and, eq } from "drizzle-orm";
import { backupFiles } from "../schema";
import { restoreResult, runRestoreStep, type RestoreOptions, type RestoreState } from "./engine/restore-step";
import type { LogRecord } from "./engine/records";
import { readKeyring } from "./engine-settings";
import { ManifestJob } from "./manifest-job";

export interface StartRestore {
  jobId: string;
  backupId: string;
  bucketName: string;
  requestedBy: string;
  options: RestoreOptions;
  holdsLease: boolean;
}

const RESTORE_CONCURRENCY = 6;

export class RestoreJob extends ManifestJob<RestoreState> {
  async start(request: StartRestore): Promise<string> {
    const index = await this.manifestIndex(request.backupId);
    if (!index) throw new Error(`the manifest of backup ${request.backupId} is missing`);
    const state: RestoreState = {
      ...request,
      kind: "restore",
      startedAt: new Date().toISOString(),
      chunkCount: index.chunkCount,
      nextChunkSeq: 0,
      nextOffset: 0,
      filesProcessed: 0,
      filesTotal: index.fileCount,
      status: "in_progress",
      filesRestored: 0,
      filesSkipped: 0,
      filesFailed: 0,
      bytesRestored: 0,
      verified: 0,
      verifyFailures: 0,
      planned: [],
      failures: [],
      large: null,
      positionAfterLarge: null,
      finished: false,
      stepFailures: 0,
      lastError: null,
    };
    const { options } = request;
    return this.startJob(state, `${options.dryRun ? "Dry run of a restore" : "Restore"} of ${request.backupId} started ` +
      `(overwriteExisting: ${options.overwriteExisting}, verifyAfterRestore: ${options.verifyAfterRestore}` +
      (options.targetPrefix ? `, targetPrefix: ${options.targetPrefix}` : "") + ").");
  }

  protected async work(state: RestoreState): Promise<RestoreState> {
    return runRestoreStep(
      {
        source: this.env.R2_BUCKET,
        backup: this.env.R2_BACKUP_BUCKET,
        keyring: await readKeyring(this.env),
        concurrency: RESTORE_CONCURRENCY,
        byteBudget: this.settings().BACKUP_STEP_BYTE_BUDGET,
        multipartThreshold: this.settings().BACKUP_MULTIPART_THRESHOLD_BYTES,
        partSize: this.settings().BACKUP_PART_SIZE_BYTES,
        save: (next) => this.saveState(next),
        unreadableFiles: async () =>
          (await this.db().select({ path: backupFiles.filePath }).from(backupFiles).where(and(eq(backupFiles.backupId, state.backupId), eq(backupFiles.status, "failed")))).map((r) => r.path),
      },
      state,
    );
  }

  protected result(state: RestoreState): Record<string, unknown> {
    return restoreResult(state);
  }

  protected completionLog(state: RestoreState): Pick<LogRecord, "level" | "message"> {
    const r = restoreResult(state);
    const summary = `${r.filesRestored} restored (${r.bytesRestored} bytes), ${r.filesSkipped} skipped, ${r.filesFailed} failed` +
      (state.options.verifyAfterRestore ? `, ${r.verified} verified, ${r.verifyFailures} verify failures` : "");
    return {
      level: r.filesFailed > 0 || r.verifyFailures > 0 ? "warn" : "info",
      message: state.options.dryRun ? `Dry run complete, nothing written: would have ${summary}.` : `Restore complete: ${summary}.`,
    };
  }

  protected override async onFinished(state: RestoreState): Promise<void> {
    try {
      await super.onFinished(state);
    } finally {
      if (state.holdsLease) {
        const coordinator = this.env.BUCKET_COORDINATOR.get(this.env.BUCKET_COORDINATOR.idFromName(state.bucketName));
        await coordinator.release(state.jobId);
      }
    }
  }
}
