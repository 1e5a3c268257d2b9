/**
 * What VerifyJob and RestoreJob share on top of StepJob: the job's D1 row (created by `start`,
 * progress set from the state after every step, the result written when the job finishes) and
 * the audit log of the backup it works on.
 */
import { getConfig } from "../workers/config";
import type { ManifestJobState } from "./engine/job-state";
import { readIndex } from "./engine/manifest";
import { insertJob, insertLog, openDatabase, runBatch, updateJob, type LogRecord, type Statement } from "./engine/records";
import { readKeyring } from "./engine-settings";
import { StepJob } from "./step-job";

export abstract class ManifestJob<S extends ManifestJobState> extends StepJob<S> {
  /** The job's result as the API shows it. */
  protected abstract result(state: S): Record<string, unknown>;
  /** The log line written when the job finishes. */
  protected abstract completionLog(state: S): Pick<LogRecord, "level" | "message">;
  /** Runs one step of the job's own work. */
  protected abstract work(state: S): Promise<S>;

  protected db() {
    return openDatabase(this.env.DB);
  }

  protected settings() {
    return getConfig(this.env);
  }

  protected async manifestIndex(backupId: string) {
    return readIndex(this.env.R2_BACKUP_BUCKET, await readKeyring(this.env), backupId);
  }

  /** Records the job in D1 and arms its first step; idempotent. Returns the job's id. */
  protected async startJob(state: S, startMessage: string): Promise<string> {
    if (!(await this.loadState())) {
      const db = this.db();
      await runBatch(db, [
        insertJob(db, {
          id: state.jobId,
          kind: state.kind,
          backupId: state.backupId,
          status: "in_progress",
          requestedBy: state.requestedBy,
          createdAt: state.startedAt,
          startedAt: state.startedAt,
          filesProcessed: 0,
          filesTotal: state.filesTotal,
        }),
        this.log(state, "start", "info", startMessage),
      ]);
      await this.begin(state);
    }
    return state.jobId;
  }

  protected async step(state: S): Promise<S> {
    const next = await this.work(state);
    if (!next.finished) await runBatch(this.db(), [updateJob(this.db(), state.jobId, { filesProcessed: next.filesProcessed })]);
    return next;
  }

  protected asFailed(state: S): S {
    return { ...state, status: "failed" };
  }

  protected async onStepFailure(state: S, failures: number, message: string, failed: S | null): Promise<void> {
    await runBatch(this.db(), [
      this.log(state, `step-error:${state.nextChunkSeq}:${failures}`, "error",
        failed ? `${state.kind} job ${state.jobId} failed after ${failures} attempts: ${message}` : `${state.kind} job ${state.jobId}: step failed (attempt ${failures}), retrying: ${message}`),
      ...(failed ? [updateJob(this.db(), state.jobId, { status: "failed", error: message, completedAt: new Date().toISOString(), result: this.result(failed) })] : []),
    ]);
  }

  protected async onFinished(state: S): Promise<void> {
    if (state.status === "failed") return;
    const completion = this.completionLog(state);
    await runBatch(this.db(), [
      updateJob(this.db(), state.jobId, { status: "completed", completedAt: new Date().toISOString(), filesProcessed: state.filesProcessed, result: this.result(state) }),
      this.log(state, "complete", completion.level, completion.message),
      ...this.finishStatements(state),
    ]);
  }

  /** Extra writes made together with the job's completion (for example on the backup row). */
  protected finishStatements(_state: S): Statement[] {
    return [];
  }

  protected log(state: S, event: string, level: LogRecord["level"], message: string): Statement {
    return insertLog(this.db(), {
      eventKey: `${state.jobId}:${event}`,
      backupId: state.backupId,
      timestamp: new Date().toISOString(),
      eventType: state.kind,
      level,
      message,
      requestedBy: state.requestedBy,
    });
  }
}
