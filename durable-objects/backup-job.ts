/**
 * BackupJob: one Durable Object per backup (`getByName(backupId)`).
 *
 * Owns: the backup's checkpoint and, from it, the backup's D1 row. Alarm: armed by `start`, fires
 * once per step (StepJob's lifecycle: retries with capped backoff, then failed; the final
 * recording retried until it lands) until the backup is recorded, then releases the bucket's
 * lease. `heartbeat` (the coordinator's watchdog, stale status reads) re-arms a lost alarm.
 */
import type { BackupRow } from "../schema";
import {
  initialCheckpoint,
  ZERO_COUNTERS,
  type BackupCheckpoint,
  type NewBackup,
  type ParentManifest,
} from "./engine/backup/backup-checkpoint";
import { locatorOf, PageCache } from "./engine/format/manifest-reader";
import type { BackupEngineSettings, BackupStepDeps } from "./engine/backup/backup-deps";
import type { ParentTotals } from "./engine/backup/path-edit";
import { DEFAULT_TEMPLATE } from "./engine/settings/templates";
import { logRecord, progressColumns } from "./engine/backup/batch-recorder";
import { runBackupStep } from "./engine/backup/backup-step";
import { abortOpenUpload } from "./engine/backup/large-object";
import { readIndex, manifestIndexKey } from "./engine/format/manifest";
import {
  insertBackup,
  insertLog,
  markReplicaPending,
  openDatabase,
  runBatch,
  updateBackup,
  type LogRecord,
  type Statement,
} from "./engine/records";
import type { NewBackupRow } from "../schema";
import { findBackupRow, latestSnapshotRow } from "../schema/queries";
import { presentBackup } from "../schema/present";
import { deliveryId, queueDelivery } from "./engine/monitor/outbox";
import { webhooksEnabled } from "./oversight/monitor";
import { engineSettings, readKeyring } from "./engine/settings/engine-settings";
import { getConfig } from "./engine/settings/config";
import { PermanentError } from "./engine/errors";
import { endHolder, runLedger } from "./engine/collection/ledger";
import { StepJob, type AlertScope } from "./step-job";
import { replicateJobId } from "./replicate-job";
import { clock } from "./engine/clock";
import { shardJobName, type FanOutDeps, type ShardAssignment, type ShardReport } from "./engine/backup/fan-out";

export class BackupJob extends StepJob<BackupCheckpoint> {
  /** The parent manifest's index pages, kept while this object stays in memory (see PageCache). */
  private readonly parentPages = new PageCache();

  /** Test seam: adjusts a step's settings (for example an older key as the current one). */
  wrapDeps: ((deps: BackupStepDeps) => BackupStepDeps) | null = null;

  /**
   * Saves the backup's state, arms its first step and records it in D1. Idempotent: a repeated
   * call returns the existing backup. `notes` are logged with the start (for example why the type
   * was changed).
   */
  async start(requested: NewBackup, notes: string[] = []): Promise<BackupRow> {
    if (!(await this.loadState())) {
      const { backup, parent, parentTotals, fallbackNote } = await this.withParentManifest(requested);
      const startNotes = [...notes, ...(fallbackNote ? [fallbackNote] : [])];
      await this.begin(initialCheckpoint(backup, parent, clock.date().toISOString(), startNotes, parentTotals));
    }
    const row = await openDatabase(this.bound("DB")).query.r2Backups.findFirst({
      where: (t, { eq }) => eq(t.id, requested.backupId),
    });
    if (!row) throw new Error(`backup ${requested.backupId} has no D1 row after start`);
    return row;
  }

  /**
   * Asks the backup to stop at its next step boundary; false when it has already ended. A
   * fanned-out backup's shards are asked too (and again when its end is recorded).
   */
  async cancel(requestedBy: string): Promise<boolean> {
    const accepted = await this.requestCancel(requestedBy);
    if (accepted) await this.cancelShards(await this.loadState(), requestedBy);
    return accepted;
  }

  /**
   * Starts this object as shard `assignment` of the fanned-out backup `parent` (its parent's job
   * calls this; engine/backup/fan-out.ts). Idempotent: a started shard keeps its state.
   */
  async startShard(parent: NewBackup, assignment: ShardAssignment): Promise<void> {
    const checkpoint = initialCheckpoint(
      { ...parent, fanOut: null },
      { chunkCount: 0, root: null },
      clock.date().toISOString(),
    );
    await this.begin({ ...checkpoint, shard: assignment, cursorKey: assignment.range.after });
  }

  /** This shard's state for its parent (a lost alarm re-armed). */
  async shardReport(): Promise<ShardReport> {
    const state = await this.stateForParent();
    if (!state) {
      return {
        stage: "unknown",
        outcome: null,
        error: null,
        counters: { ...ZERO_COUNTERS },
        chunksWritten: 0,
        chunkBytesWritten: 0,
        steps: 0,
        retries: 0,
      };
    }
    return {
      stage: state.stage,
      outcome: state.outcome,
      // Why it ended (null once completed), or while it runs the failure its next attempt retries.
      error: state.outcome ? state.error : state.lastError,
      counters: state.counters,
      ...(state.shardRoot === undefined ? {} : { root: state.shardRoot }),
      chunksWritten: state.chunksWritten,
      chunkBytesWritten: state.chunkBytesWritten,
      steps: state.steps ?? 0,
      retries: state.retries ?? 0,
    };
  }

  /** Asks a fanned-out backup's running shards to stop (one that has ended ignores it). */
  private async cancelShards(checkpoint: BackupCheckpoint | undefined, requestedBy: string): Promise<void> {
    const fanOut = checkpoint?.fanOut;
    if (!checkpoint || !fanOut || fanOut.stage === "planning") return;
    for (const shard of fanOut.shards) await this.shardControl(checkpoint).cancel(shard.index, requestedBy);
  }

  /** How this backup's job reaches its shards: objects of the same class, named after it. */
  private shardControl(checkpoint: BackupCheckpoint): FanOutDeps["shards"] {
    const stub = (index: number) => this.env.BACKUP_JOB.getByName(shardJobName(checkpoint.backupId, index));
    const parent: NewBackup = {
      backupId: checkpoint.backupId,
      bucketName: checkpoint.bucketName,
      type: "full",
      trigger: checkpoint.trigger,
      requestedBy: checkpoint.requestedBy,
      parentId: null,
      backupDate: checkpoint.backupDate,
      template: checkpoint.template ?? null,
    };
    return {
      start: (assignment) => stub(assignment.index).startShard(parent, assignment),
      report: (index) => stub(index).shardReport(),
      cancel: async (index, requestedBy) => {
        await stub(index).cancel(requestedBy);
      },
    };
  }

  protected async recordStart(checkpoint: BackupCheckpoint): Promise<void> {
    // A shard's backup row is its parent's: it only logs that it began.
    if (checkpoint.shard) return this.logShardStart(checkpoint, checkpoint.shard);
    const db = openDatabase(this.bound("DB"));
    const { startedAt } = checkpoint;
    const notes = checkpoint.startNotes;
    await runBatch(db, [
      insertBackup(db, {
        id: checkpoint.backupId,
        bucketName: checkpoint.bucketName,
        backupDate: checkpoint.backupDate,
        status: "in_progress",
        backupType: checkpoint.type,
        trigger: checkpoint.trigger,
        requestedBy: checkpoint.requestedBy,
        parentId: checkpoint.parentId,
        startedAt,
        template: checkpoint.template?.name ?? DEFAULT_TEMPLATE,
        sourceBinding: checkpoint.template?.sourceBinding ?? "R2_BUCKET",
        ...progressColumns(checkpoint),
        updatedAt: startedAt,
      }),
      insertLog(
        db,
        logRecord(
          checkpoint,
          "start",
          "start",
          "info",
          new Date(startedAt),
          `${checkpoint.type === "full" ? "Full" : "Incremental"} backup of ${checkpoint.bucketName} started (trigger: ${checkpoint.trigger}` +
            (checkpoint.template && checkpoint.template.name !== DEFAULT_TEMPLATE
              ? `, template ${checkpoint.template.name}`
              : "") +
            (checkpoint.parentId ? `, parent ${checkpoint.parentId}` : "") +
            ")." +
            (checkpoint.targetKeys
              ? ` Targeted: reads only the ${checkpoint.targetKeys.length} key(s) named by change events.`
              : "") +
            (notes.length ? ` ${notes.join(" ")}` : ""),
        ),
      ),
    ]);
  }

  private logShardStart(checkpoint: BackupCheckpoint, shard: ShardAssignment): Promise<void> {
    const { after, through } = shard.range;
    const range =
      `keys ${after === null ? "from the first" : `after ${JSON.stringify(after)}`}` +
      ` ${through === null ? "to the last" : `up to ${JSON.stringify(through)}`}`;
    return this.logLine(checkpoint, "start", "progress", "info", `started over ${range}.`);
  }

  /** An incremental backup merges with its parent's manifest; without a readable one it is full. */
  private async withParentManifest(backup: NewBackup): Promise<{
    backup: NewBackup;
    parent: ParentManifest;
    parentTotals: ParentTotals | null;
    fallbackNote: string | null;
  }> {
    const none: ParentManifest = { chunkCount: 0, root: null };
    if (backup.parentId === null) return { backup, parent: none, parentTotals: null, fallbackNote: null };
    const index = await readIndex(this.bound("R2_BACKUP_BUCKET"), await readKeyring(this.env), backup.parentId);
    if (index) {
      // A path edit carries the parent's totals over; the longest key is D1's (the index has none).
      const pathEdits = backup.targetKeys && getConfig(this.env).BACKUP_PATH_EDITS;
      const row = pathEdits ? await findBackupRow(openDatabase(this.bound("DB")), backup.parentId) : undefined;
      // A parent recorded before the longest key was (0 over a non-empty snapshot) is walked: only
      // a walk sees every key.
      const knowsLongestKey = row !== undefined && (row.maxKeyBytes > 0 || index.fileCount === 0);
      const parentTotals = knowsLongestKey
        ? { fileCount: index.fileCount, totalSize: index.totalSize, maxKeyBytes: row.maxKeyBytes }
        : null;
      return { backup, parent: locatorOf(index), parentTotals, fallbackNote: null };
    }
    return {
      // A full backup reads every key: a targeted key list has nothing to lay itself over.
      backup: { ...backup, type: "full", parentId: null, targetKeys: null },
      parent: none,
      parentTotals: null,
      fallbackNote: `The manifest of parent ${backup.parentId} is missing, so this backup is full.`,
    };
  }

  protected step(checkpoint: BackupCheckpoint): Promise<BackupCheckpoint> {
    // A backup begun before manifests were chunk trees has written version 1 chunks it cannot mix
    // with version 2 ones: it ends failed, clearly, and the next backup starts afresh.
    if (checkpoint.version !== 2) {
      return Promise.reject(
        new PermanentError(
          "this backup was begun by an older engine (manifest version 1) and cannot be finished by this one; start a new backup",
        ),
      );
    }
    return this.deps(checkpoint).then((deps) => runBackupStep(deps, checkpoint));
  }

  protected recordRetry(checkpoint: BackupCheckpoint, failures: number, message: string): Promise<void> {
    const step = checkpoint.batchNumber + 1;
    return this.logLine(
      checkpoint,
      `step-error:${checkpoint.batchNumber}:${failures}`,
      "error",
      "error",
      `Step ${step} failed (attempt ${failures}), retrying: ${message}`,
    );
  }

  protected override recordCollectionWait(checkpoint: BackupCheckpoint, message: string): Promise<void> {
    const event = `collection-wait:${checkpoint.batchNumber}:${checkpoint.collectionWaits ?? 0}`;
    return this.logLine(
      checkpoint,
      event,
      "progress",
      "warn",
      `Step ${checkpoint.batchNumber + 1} waits for a cleanup: ${message}.`,
    );
  }

  /** One log line of the backup, on its own. */
  private async logLine(
    checkpoint: BackupCheckpoint,
    event: string,
    type: LogRecord["eventType"],
    level: LogRecord["level"],
    message: string,
  ): Promise<void> {
    const db = openDatabase(this.bound("DB"));
    await runBatch(db, [insertLog(db, logRecord(checkpoint, event, type, level, clock.date(), message))]);
  }

  protected async recordEnd(checkpoint: BackupCheckpoint): Promise<void> {
    const db = openDatabase(this.bound("DB"));
    const outcome = checkpoint.outcome!;
    const completedAt = checkpoint.endedAt!;
    const { counters } = checkpoint;
    const hasSnapshot = outcome === "completed" || outcome === "partial";
    // An upload left open by a cancelled or failed capture would be billed until R2 expires it.
    if (!hasSnapshot && checkpoint.largeObject)
      await abortOpenUpload(this.bound("R2_BACKUP_BUCKET"), checkpoint.largeObject);
    if (checkpoint.shard) {
      const summary = hasSnapshot
        ? `${outcome}: ${counters.snapshotFileCount} objects (${counters.snapshotSize} bytes), ${counters.failedCount} failed.`
        : `${outcome}: ${checkpoint.error}`;
      return this.logLine(checkpoint, "complete", "progress", outcome === "failed" ? "error" : "info", summary);
    }
    // A fanned-out backup that did not complete stops whatever shard still runs.
    if (!hasSnapshot) await this.cancelShards(checkpoint, checkpoint.requestedBy);
    const fanOut = checkpoint.fanOut && checkpoint.fanOut.stage !== "planning" ? checkpoint.fanOut : null;
    const shardSteps = fanOut ? fanOut.shards.reduce((sum, s) => sum + s.steps, 0) : 0;
    const shardRetries = fanOut ? fanOut.shards.reduce((sum, s) => sum + s.retries, 0) : 0;
    const summary = hasSnapshot
      ? `Backup ${outcome}: ${counters.fileCount} files (${counters.totalSize} bytes) recorded, ` +
        `snapshot of ${counters.snapshotFileCount} files (${counters.snapshotSize} bytes), ` +
        `${counters.bytesUploaded} bytes uploaded, ${counters.deletedCount} deleted, ${counters.failedCount} failed; ` +
        `manifest: ${checkpoint.tree.leaves} chunks of entries, ${checkpoint.chunksWritten} chunks stored (${checkpoint.chunkBytesWritten} bytes)` +
        (checkpoint.chunksRead === undefined ? "" : `, ${checkpoint.chunksRead} read`) +
        `, the rest shared with earlier snapshots.`
      : `Backup ${outcome}: ${checkpoint.error}`;
    const values = {
      ...progressColumns(checkpoint),
      status: outcome,
      completedAt,
      ...(hasSnapshot
        ? { checksum: checkpoint.checksum ?? checkpoint.tree.chain, manifestKey: manifestIndexKey(checkpoint.backupId) }
        : {}),
      error: checkpoint.error,
      updatedAt: completedAt,
      // What it added to the backup bucket, whatever its outcome: the blobs and chunks of a
      // failed backup stay until cleanup collects them.
      // (A checkpoint begun by the version 1 engine has no chunk count.)
      storedBytes: counters.bytesUploaded + (checkpoint.chunkBytesWritten ?? 0),
      // A fanned-out backup's work is its own steps and its shards'.
      steps: (checkpoint.steps ?? 0) + shardSteps,
      retries: (checkpoint.retries ?? 0) + shardRetries,
      ...(fanOut ? { shards: fanOut.shards } : {}),
    } satisfies Partial<NewBackupRow>;
    // Its copy in the replica is made after this recording, by a job of its own (afterEnd): pending
    // until then, but never again once that job has set it (this recording may be retried later).
    const replicaPending = hasSnapshot && this.env.R2_REPLICA_BUCKET !== undefined;
    // Its references in the collection ledger stop protecting once the next cleanup registers: by
    // then a snapshot is in the history that cleanup marks, and anything else is garbage.
    await runLedger(db, endHolder(db, checkpoint.backupId), [
      updateBackup(db, checkpoint.backupId, values),
      ...(replicaPending ? [markReplicaPending(db, checkpoint.backupId)] : []),
      ...(await this.outcomeDelivery(checkpoint, values, replicaPending)),
      insertLog(
        db,
        logRecord(
          checkpoint,
          "complete",
          outcome === "failed" ? "error" : "complete",
          outcome === "completed" || outcome === "cancelled" ? "info" : outcome === "partial" ? "warn" : "error",
          new Date(completedAt),
          summary,
        ),
      ),
    ]);
  }

  /** `backup.completed` (a partial one too: its status says so) or `backup.failed`, for the webhook. */
  private async outcomeDelivery(
    checkpoint: BackupCheckpoint,
    values: Partial<NewBackupRow>,
    replicaPending: boolean,
  ): Promise<Statement[]> {
    const event =
      checkpoint.outcome === "failed"
        ? "backup.failed"
        : checkpoint.outcome === "cancelled"
          ? null
          : "backup.completed";
    if (event === null || !webhooksEnabled(getConfig(this.env))) return [];
    const db = openDatabase(this.bound("DB"));
    const row = await findBackupRow(db, checkpoint.backupId);
    if (!row) throw new Error(`backup ${checkpoint.backupId} has no D1 row to report`);
    return [
      queueDelivery(db, {
        id: deliveryId(checkpoint.backupId, event),
        event,
        createdAt: checkpoint.endedAt!,
        data: {
          backup: presentBackup({
            ...row,
            ...values,
            replicaStatus: row.replicaStatus ?? (replicaPending ? "pending" : null),
          } as BackupRow),
        },
      }),
    ];
  }

  protected override async alertScope(checkpoint: BackupCheckpoint): Promise<AlertScope | null> {
    const db = openDatabase(this.bound("DB"));
    return {
      bucketName: checkpoint.bucketName,
      log: (message) => insertLog(db, logRecord(checkpoint, "alerts", "progress", "info", clock.date(), message)),
    };
  }

  /**
   * What follows a backup, once its lease is free: its replication (when a replica is bound and
   * it has a snapshot), and for the daily cron's backup, a cleanup. Both jobs' ids are derived from
   * the backup's, so a retried recording starts each only once.
   */
  protected override async afterEnd(checkpoint: BackupCheckpoint): Promise<void> {
    const hasSnapshot = checkpoint.outcome === "completed" || checkpoint.outcome === "partial";
    if (hasSnapshot && this.env.R2_REPLICA_BUCKET) await this.startReplication(checkpoint);
    if (checkpoint.trigger === "cron") await this.startCleanup(checkpoint);
  }

  private async startReplication(checkpoint: BackupCheckpoint): Promise<void> {
    const jobId = replicateJobId(checkpoint.backupId);
    await this.env.REPLICATE_JOB.getByName(jobId).start({
      jobId,
      backupId: checkpoint.backupId,
      bucketName: checkpoint.bucketName,
      requestedBy: checkpoint.requestedBy,
    });
  }

  private async startCleanup(checkpoint: BackupCheckpoint): Promise<void> {
    const config = getConfig(this.env);
    const result = await this.bound("BUCKET_COORDINATOR")
      .getByName(checkpoint.bucketName)
      .startCleanup({
        jobId: `job-cleanup-after-${checkpoint.backupId}`,
        bucketName: checkpoint.bucketName,
        requestedBy: "cron",
        dryRun: false,
        // A template's backups are kept by its own rules (the default's: the environment's).
        template: checkpoint.template?.name ?? DEFAULT_TEMPLATE,
        policy: checkpoint.template?.retention ?? {
          retentionDays: config.BACKUP_RETENTION_DAYS,
          keep: config.BACKUP_KEEP,
        },
      });
    if (!result.ok && result.holderId !== `job-cleanup-after-${checkpoint.backupId}`) {
      console.warn(`cron cleanup after ${checkpoint.backupId} skipped: ${result.kind} ${result.holderId} is running`);
    }
  }

  /** The engine's settings, with the template's compression and encryption (the default's: the environment's). */
  private async settingsOf(checkpoint: BackupCheckpoint): Promise<BackupEngineSettings> {
    const settings = await engineSettings(this.env);
    const template = checkpoint.template;
    if (!template) return settings;
    const keyring = template.encryption ? settings.readKeyring : null;
    if (template.encryption && !keyring)
      throw new PermanentError(`template ${template.name} encrypts, but BACKUP_ENCRYPTION_KEY is not configured`);
    return { ...settings, storage: { ...settings.storage, compress: template.compression, keyring } };
  }

  /** The bucket's lease is the backup's (a fanned-out one's parent holds it while its shards run). */
  protected leaseOf(checkpoint: BackupCheckpoint) {
    return { bucketName: checkpoint.bucketName, holderId: checkpoint.backupId };
  }

  protected override isShard(checkpoint: BackupCheckpoint): boolean {
    return checkpoint.shard !== undefined;
  }

  private async deps(checkpoint: BackupCheckpoint): Promise<BackupStepDeps> {
    const deps: BackupStepDeps = {
      source: this.sourceBucket(checkpoint.template?.sourceBinding),
      backup: this.bound("R2_BACKUP_BUCKET"),
      db: openDatabase(this.bound("DB")),
      settings: await this.settingsOf(checkpoint),
      now: () => clock.date(),
      saveCheckpoint: (checkpoint) => this.saveState(checkpoint),
      parentPages: this.parentPages,
      ...(checkpoint.fanOut ? { fanOut: this.fanOutDeps(checkpoint) } : {}),
    };
    return this.wrapDeps ? this.wrapDeps(deps) : deps;
  }

  private fanOutDeps(checkpoint: BackupCheckpoint): FanOutDeps {
    return {
      shards: this.shardControl(checkpoint),
      latestSnapshot: async () => {
        const row = await latestSnapshotRow(openDatabase(this.bound("DB")), checkpoint.bucketName);
        const index = row && (await readIndex(this.bound("R2_BACKUP_BUCKET"), await readKeyring(this.env), row.id));
        return index && index.root !== undefined ? { fileCount: index.fileCount, root: index.root } : null;
      },
    };
  }
}
