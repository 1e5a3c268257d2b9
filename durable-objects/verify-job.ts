/**
 * VerifyJob: one Durable Object per verification (`getByName(jobId)`).
 *
 * Owns: the verification's state (progress, the chain over the manifest's chunks, counts) and its
 * D1 job row; the first 1,000 problems are findings in D1. Alarm: one manifest chunk per step until the manifest is
 * done (StepJob's lifecycle). On completion it records the outcome on the backup's row
 * (`last_verified_at`, `last_verification_valid`) and logs a failed verification at error level.
 */
import {
  checkedByRoot,
  initialVerifyState,
  runVerifyStep,
  verifyCounting,
  verifyResult,
  type VerifyMode,
  type VerifyState,
} from "./engine/verify/verify-step";
import { readKeyring } from "./engine/settings/engine-settings";
import { updateBackup, type LogRecord, type Statement } from "./engine/records";
import { ManifestJob, type BackupCopy, type FanOutKind, type FanOutLimits } from "./manifest-job";
import type { AlertScope } from "./step-job";
import { findBackupRow } from "../schema/queries";
import { DEFAULTS } from "./engine/settings/defaults";
import { clock } from "./engine/clock";

export interface StartVerify extends FanOutLimits {
  jobId: string;
  backupId: string;
  requestedBy: string;
  mode: VerifyMode;
  /** Absent: the primary. */
  copy?: BackupCopy;
  sample: { percent: number; offset: number } | null;
  recordedChecksum: string | null;
}

export class VerifyJob extends ManifestJob<VerifyState> {
  async start(request: StartVerify): Promise<string> {
    const { maxShards, minObjectsPerShard, ...job } = request;
    const index = await this.manifestIndex(request.backupId, request.copy ?? "primary");
    const state = initialVerifyState({
      ...job,
      kind: "verify",
      startedAt: clock.date().toISOString(),
      index: index && {
        chunkCount: index.chunkCount,
        fileCount: index.fileCount,
        totalSize: index.totalSize,
        checksum: index.checksum,
        version: index.version,
      },
      chunkCount: index?.chunkCount ?? 0,
      root: index?.root, // absent for a version 1 manifest
      filesTotal: index?.fileCount ?? 0,
    });
    // A large version 3 snapshot is verified by shards over runs of its leaves (engine/leaf-fan-out.ts).
    if (!state.index || !checkedByRoot(state.index)) return this.startJob(state);
    return this.startJob(
      await this.withFanOut(state, { maxShards, minObjectsPerShard }, await this.snapshotOf(state, state.copy)),
    );
  }

  protected override fanOutKind(): FanOutKind<VerifyState, object> {
    return { counting: verifyCounting, stub: (name) => this.env.VERIFY_JOB.getByName(name) };
  }

  protected startMessage(state: VerifyState): string {
    const scope = state.sample
      ? `${state.sample.percent}% sample (window from ${state.sample.offset})`
      : "every object";
    const copy = state.copy === "replica" ? " in the replica" : "";
    return `${state.mode === "full" ? "Full" : "Quick"} verification of ${state.backupId}${copy} started (${scope}).`;
  }

  protected async work(state: VerifyState): Promise<VerifyState> {
    return runVerifyStep(
      {
        backup: this.copyBucket(state.copy ?? "primary"),
        keyring: await readKeyring(this.env),
        concurrency: DEFAULTS.concurrency,
        byteBudget: this.settings().BACKUP_STEP_BYTE_BUDGET,
        wholeHashBytes: this.settings().BACKUP_HASH_STEP_BYTES,
      },
      state,
    );
  }

  protected result(state: VerifyState): Record<string, unknown> {
    return verifyResult(state);
  }

  protected leaseOf() {
    return null;
  }

  /** A verification's outcome opens or resolves `verification_failed` on its backup's bucket. */
  protected override async alertScope(state: VerifyState): Promise<AlertScope | null> {
    const backup = await findBackupRow(this.db(), state.backupId);
    return backup
      ? { bucketName: backup.bucketName, log: (message) => this.log(state, "alerts", "info", message) }
      : null;
  }

  protected completionLog(state: VerifyState): Pick<LogRecord, "level" | "message"> {
    const result = verifyResult(state);
    return result.valid
      ? {
          level: "info",
          message: `Verification passed: ${result.filesChecked} files checked (${state.mode}, ${result.copy} copy).`,
        }
      : {
          level: "error",
          message: `Verification FAILED${result.copy === "replica" ? " (replica copy)" : ""}: ${result.problemCount} problem(s) in ${result.filesChecked} files checked; ${result.filesMissing} missing, ${result.checksumMismatches} mismatched. First: ${state.firstProblem?.problem} at ${state.firstProblem?.path}.`,
        };
  }

  protected override completionStatements(state: VerifyState): Statement[] {
    return [
      updateBackup(this.db(), state.backupId, {
        lastVerifiedAt: clock.date().toISOString(),
        lastVerificationValid: state.problemCount === 0,
        lastVerificationMode: state.mode,
        lastVerificationSamplePercent: state.sample?.percent ?? 100,
      }),
    ];
  }
}
