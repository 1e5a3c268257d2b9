/**
 * BackupJob: one Durable Object per backup (`idFromName(backupId)`).
 *
 * Owns: the backup's checkpoint and the progress of the backup's D1 row. Alarm: armed by `start`,
 * fires once per step (StepJob's lifecycle: retries with backoff, then failed) until the backup is
 * done, then releases the bucket's lease. `heartbeat` (the coordinator's watchdog, status reads)
 * re-arms a lost alarm.
 */
import { initialCheckpoint, type BackupCheckpoint, type NewBackup } from "./engine/backup-checkpoint";
import type { BackupStepDeps } from "./engine/backup-deps";
import { logRecord, progressColumns } from "./engine/batch-recorder";
import { runBackupStep } from "./engine/backup-step";
import { readIndex } from "./engine/manifest";
import { insertBackup, insertLog, openDatabase, runBatch, updateBackup } from "./engine/records";
import { StepJob } from "./step-job";
import { engineSettings, readKeyring } from "./engine-settings";
import type { BackupRow } from "../schema";

export class BackupJob extends StepJob<BackupCheckpoint> {
  /**
   * Fault-injection seam for tests: lets a test wrap the real bindings (for example an R2 bucket
   * that throws at its k-th call). Never set in production code.
   */
  wrapDeps: ((deps: BackupStepDeps) => BackupStepDeps) | null = null;

  /**
   * Records the backup in D1 and arms the first step. Idempotent: a repeated call returns the
   * existing backup. `notes` are logged with the start (for example why the type was changed).
   */
  async start(requested: NewBackup, notes: string[] = []): Promise<BackupRow> {
    if (!(await this.loadState())) {
      const now = new Date();
      const { backup, parentChunkCount, fallbackNote } = await this.withParentManifest(requested);
      const checkpoint = initialCheckpoint(backup, parentChunkCount, now.toISOString());
      const db = openDatabase(this.env.DB);
      const messages = [...notes, ...(fallbackNote ? [fallbackNote] : [])];
      await runBatch(db, [
        insertBackup(db, {
          id: backup.backupId,
          bucketName: backup.bucketName,
          backupDate: backup.backupDate,
          status: "in_progress",
          backupType: backup.type,
          trigger: backup.trigger,
          requestedBy: backup.requestedBy,
          parentId: backup.parentId,
          startedAt: checkpoint.startedAt,
          ...progressColumns(checkpoint),
          updatedAt: checkpoint.startedAt,
        }),
        insertLog(db, logRecord(checkpoint, "start", "start", "info", now,
          `${backup.type === "full" ? "Full" : "Incremental"} backup of ${backup.bucketName} started (trigger: ${backup.trigger}` +
            (backup.parentId ? `, parent ${backup.parentId}` : "") + ")." + (messages.length ? ` ${messages.join(" ")}` : ""))),
      ]);
      await this.begin(checkpoint);
    }
    const row = await openDatabase(this.env.DB).query.r2Backups.findFirst({ where: (t, { eq }) => eq(t.id, requested.backupId) });
    if (!row) throw new Error(`backup ${requested.backupId} has no D1 row after start`);
    return row;
  }

  /** An incremental backup merges with its parent's manifest; without a readable one it is full. */
  private async withParentManifest(backup: NewBackup): Promise<{ backup: NewBackup; parentChunkCount: number; fallbackNote: string | null }> {
    if (backup.parentId === null) return { backup, parentChunkCount: 0, fallbackNote: null };
    const index = await readIndex(this.env.R2_BACKUP_BUCKET, await readKeyring(this.env), backup.parentId);
    if (index) return { backup, parentChunkCount: index.chunkCount, fallbackNote: null };
    return {
      backup: { ...backup, type: "full", parentId: null },
      parentChunkCount: 0,
      fallbackNote: `The manifest of parent ${backup.parentId} is missing, so this backup is full.`,
    };
  }

  protected step(checkpoint: BackupCheckpoint): Promise<BackupCheckpoint> {
    return this.deps().then((deps) => runBackupStep(deps, checkpoint));
  }

  protected asFailed(checkpoint: BackupCheckpoint): BackupCheckpoint {
    return { ...checkpoint, phase: "done", outcome: "failed" };
  }

  protected async onStepFailure(checkpoint: BackupCheckpoint, failures: number, message: string, failed: BackupCheckpoint | null): Promise<void> {
    const db = openDatabase(this.env.DB);
    const now = new Date();
    await runBatch(db, [
      insertLog(db, logRecord(checkpoint, `step-error:${checkpoint.batchNumber}:${failures}`, "error", "error", now,
        failed
          ? `Backup failed after ${failures} attempts of step ${checkpoint.batchNumber + 1}: ${message}`
          : `Step ${checkpoint.batchNumber + 1} failed (attempt ${failures}), retrying: ${message}`)),
      ...(failed
        ? [updateBackup(db, checkpoint.backupId, { status: "failed", phase: "done", error: message, completedAt: now.toISOString(), updatedAt: now.toISOString() })]
        : []),
    ]);
  }

  protected async onFinished(checkpoint: BackupCheckpoint): Promise<void> {
    const coordinator = this.env.BUCKET_COORDINATOR.get(this.env.BUCKET_COORDINATOR.idFromName(checkpoint.bucketName));
    await coordinator.release(checkpoint.backupId);
  }

  private async deps(): Promise<BackupStepDeps> {
    const deps: BackupStepDeps = {
      source: this.env.R2_BUCKET,
      backup: this.env.R2_BACKUP_BUCKET,
      db: openDatabase(this.env.DB),
      settings: await engineSettings(this.env),
      now: () => new Date(),
      saveCheckpoint: (checkpoint) => this.saveState(checkpoint),
    };
    return this.wrapDeps ? this.wrapDeps(deps) : deps;
  }
}
