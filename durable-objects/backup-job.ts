/**
 * BackupJob: one Durable Object per backup (`idFromName(backupId)`).
 *
 * Owns: the backup's checkpoint (key "checkpoint" in its storage) and the progress of the backup's
 * D1 row. Alarm: armed by `start`, fires once per step and re-arms itself until the backup is done;
 * a failed step is retried with backoff up to BACKUP_MAX_STEP_ATTEMPTS times, then the backup is
 * marked failed. `heartbeat` (from the coordinator's watchdog and status reads) re-arms a lost alarm.
 */
import { DurableObject } from "cloudflare:workers";
import { getConfig } from "../workers/config";
import { initialCheckpoint, type BackupCheckpoint, type NewBackup } from "./engine/backup-checkpoint";
import { logRecord, progressColumns, runBackupStep, type BackupStepDeps } from "./engine/backup-step";
import { readIndex } from "./engine/manifest";
import { insertBackup, insertLog, openDatabase, runBatch, updateBackup } from "./engine/records";
import { backoffDelay } from "./engine/retry";
import { engineSettings, readKeyring } from "./engine-settings";
import type { BackupRow } from "../schema";

const CHECKPOINT_KEY = "checkpoint";
const STEP_RETRY_BASE_MS = 2_000;

export class BackupJob extends DurableObject<Env> {
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
    if (!(await this.checkpoint())) {
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
      await this.ctx.storage.put(CHECKPOINT_KEY, checkpoint);
      await this.armNextStep();
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

  /** True while the backup is unfinished; re-arms its alarm if it was lost (invariant 4). */
  async heartbeat(): Promise<boolean> {
    const checkpoint = await this.checkpoint();
    if (!checkpoint || checkpoint.phase === "done") return false;
    if ((await this.ctx.storage.getAlarm()) === null) await this.armNextStep();
    return true;
  }

  override async alarm(): Promise<void> {
    const checkpoint = await this.checkpoint();
    if (!checkpoint || checkpoint.phase === "done") return;
    let next: BackupCheckpoint;
    try {
      next = await runBackupStep(await this.deps(), checkpoint);
    } catch (error) {
      // The step may have saved progress midway (a large object's finished parts): keep it.
      await this.recordStepFailure((await this.checkpoint()) ?? checkpoint, error);
      return;
    }
    await this.ctx.storage.put(CHECKPOINT_KEY, next);
    if (next.phase === "done") await this.releaseLease(next.backupId);
    else await this.armNextStep();
  }

  private armNextStep(extraDelayMs = 0): Promise<void> {
    return this.ctx.storage.setAlarm(Date.now() + getConfig(this.env).BACKUP_STEP_DELAY_MS + extraDelayMs);
  }

  private async recordStepFailure(checkpoint: BackupCheckpoint, error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`backup ${checkpoint.backupId} step ${checkpoint.batchNumber} failed`, error);
    const failures = checkpoint.stepFailures + 1;
    const giveUp = failures >= getConfig(this.env).BACKUP_MAX_STEP_ATTEMPTS;
    const next: BackupCheckpoint = giveUp
      ? { ...checkpoint, phase: "done", outcome: "failed", stepFailures: failures, lastError: message }
      : { ...checkpoint, stepFailures: failures, lastError: message };
    // The checkpoint first: the failure count must survive even if D1 is what is failing.
    await this.ctx.storage.put(CHECKPOINT_KEY, next);
    if (!giveUp) await this.armNextStep(backoffDelay(STEP_RETRY_BASE_MS, failures));

    const db = openDatabase(this.env.DB);
    const now = new Date();
    await runBatch(db, [
      insertLog(db, logRecord(checkpoint, `step-error:${checkpoint.batchNumber}:${failures}`, "error", "error", now,
        giveUp
          ? `Backup failed after ${failures} attempts of step ${checkpoint.batchNumber + 1}: ${message}`
          : `Step ${checkpoint.batchNumber + 1} failed (attempt ${failures}), retrying: ${message}`)),
      ...(giveUp
        ? [updateBackup(db, checkpoint.backupId, { status: "failed", phase: "done", error: message, completedAt: now.toISOString(), updatedAt: now.toISOString() })]
        : []),
    ]);
    if (giveUp) await this.releaseLease(checkpoint.backupId);
  }

  private async releaseLease(backupId: string): Promise<void> {
    const checkpoint = await this.checkpoint();
    const coordinator = this.env.BUCKET_COORDINATOR.get(this.env.BUCKET_COORDINATOR.idFromName(checkpoint?.bucketName ?? ""));
    await coordinator.release(backupId);
  }

  private async deps(): Promise<BackupStepDeps> {
    const deps: BackupStepDeps = {
      source: this.env.R2_BUCKET,
      backup: this.env.R2_BACKUP_BUCKET,
      db: openDatabase(this.env.DB),
      settings: await engineSettings(this.env),
      now: () => new Date(),
      saveCheckpoint: (checkpoint) => this.ctx.storage.put(CHECKPOINT_KEY, checkpoint),
    };
    return this.wrapDeps ? this.wrapDeps(deps) : deps;
  }

  private checkpoint(): Promise<BackupCheckpoint | undefined> {
    return this.ctx.storage.get<BackupCheckpoint>(CHECKPOINT_KEY);
  }
}
