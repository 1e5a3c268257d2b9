/**
 * What the jobs that walk a snapshot (verify, restore, replication, cleanup) share on top of
 * StepJob: the job's D1 row (written by the start, progress and findings set from the state after
 * every step, the outcome and result written by the final recording), the audit log of the backup
 * it works on, and, for the kinds that name a FanOutKind, fan-out over runs of the snapshot's
 * leaves (engine/leaf-fan-out.ts): a shard is a job object of the same class that writes
 * findings and log lines under its own id and no job row; its parent is the one job the API shows.
 */
import { getConfig } from "./engine/settings/config";
import type { ManifestJobState } from "./engine/job-state";
import { readIndex } from "./engine/format/manifest";
import {
  insertJob,
  insertLog,
  openDatabase,
  runBatch,
  updateJob,
  upsertFindings,
  type LogRecord,
  type NewJobRow,
  type Statement,
} from "./engine/records";
import { deliveryId, queueDelivery } from "./engine/monitor/outbox";
import { webhooksEnabled } from "./oversight/monitor";
import { findBackupRow, findJobRow } from "../schema/queries";
import { presentJob } from "../schema/present";
import type { BackupJobRow } from "../schema";
import { readKeyring } from "./engine/settings/engine-settings";
import { StepJob } from "./step-job";
import { balancedLeafRanges, planPrecision } from "./engine/leaf-plan";
import type { ManifestReader } from "./engine/format/manifest-reader";
import type { ChunkRef } from "./engine/format/manifest-tree";
import { DEFAULTS } from "./engine/settings/defaults";
import { PermanentError } from "./engine/errors";
import { commitWithReferences, readFence, runLedger } from "./engine/collection/ledger";
import { clock } from "./engine/clock";
import { manifestOf, NO_FINDINGS, storedCounts } from "./engine/job-state";
import { ended, RUNNING } from "./engine/lifecycle";
import {
  describeLeafRange,
  leafRanges,
  leafShardCount,
  leafShardName,
  plannedFanOut,
  runLeafFanOutStep,
  shardFinished,
  type LeafShard,
  type ShardControl,
  type ShardCounting,
  type ShardReport,
} from "./engine/leaf-fan-out";

/** The methods of a shard's object its parent calls (a stub of the same class). */
export interface ShardStub<S, C> {
  startShard(parent: S, shard: LeafShard): Promise<void>;
  shardReport(): Promise<ShardReport<C>>;
  cancel(requestedBy: string): Promise<boolean>;
}

/** A kind of job that fans out: what its shards count, and how to reach a shard's object by name. */
export interface FanOutKind<S, C> {
  counting: ShardCounting<S, C>;
  stub(name: string): ShardStub<S, C>;
  /**
   * Whether a shard's run may begin and end inside a leaf (LeafRange's offsets), so that shards
   * hold exactly equal objects; else runs of whole leaves.
   */
  withinLeaves?: boolean;
}

/** Tests and benches: a job's fan-out limits instead of the environment's (BACKUP_MAX_SHARDS, BACKUP_SHARD_MIN_OBJECTS). */
export interface FanOutLimits {
  maxShards?: number;
  minObjectsPerShard?: number;
}

/** Where a backup is stored: the backup bucket, or the replica bucket's copy of it. */
export type BackupCopy = "primary" | "replica";

export abstract class ManifestJob<S extends ManifestJobState> extends StepJob<S> {
  /** The job's result as the API shows it (its lists are read from the findings table). */
  protected abstract result(state: S): Record<string, unknown>;
  /** The log line written when the job completes. */
  protected abstract completionLog(state: S): Pick<LogRecord, "level" | "message">;
  /** The log line that opens the job. */
  protected abstract startMessage(state: S): string;
  /** Runs one step of the job's own work. */
  protected abstract work(state: S): Promise<S>;
  /** How this kind fans out over shards; null (the default): its jobs run in one object. */
  protected fanOutKind(): FanOutKind<S, object> | null {
    return null;
  }

  protected db() {
    return openDatabase(this.bound("DB"));
  }

  protected settings() {
    return getConfig(this.env);
  }

  protected async manifestIndex(backupId: string, copy: BackupCopy = "primary") {
    return readIndex(this.copyBucket(copy), await readKeyring(this.env), backupId);
  }

  /** The snapshot `state` walks, read from the backup bucket or its replica. */
  protected async snapshotOf(state: S, copy: BackupCopy = "primary"): Promise<ManifestReader> {
    return manifestOf(this.copyBucket(copy), await readKeyring(this.env), state);
  }

  /** The backup bucket, or its replica (which the API checks is bound before naming it). */
  protected copyBucket(copy: BackupCopy): R2Bucket {
    const bucket = copy === "primary" ? this.bound("R2_BACKUP_BUCKET") : this.bound("R2_REPLICA_BUCKET");
    if (!bucket) throw new PermanentError("R2_REPLICA_BUCKET is not bound: there is no replica to read");
    return bucket;
  }

  /** Asks the job to stop at its next step boundary (a fanned-out one's shards too); false when it has already ended. */
  async cancel(requestedBy: string): Promise<boolean> {
    const accepted = await this.requestCancel(requestedBy);
    if (accepted) await this.cancelShards(await this.loadState(), requestedBy);
    return accepted;
  }

  /**
   * `state` fanned out over shards when its snapshot is large enough: its objects over
   * BACKUP_SHARD_MIN_OBJECTS, at most BACKUP_MAX_SHARDS and its leaves, each shard a run of leaves
   * holding nearly equal objects (engine/leaf-plan.ts: read from `manifest`'s index pages; a
   * version 1 manifest's leaves hold equal counts, so equal runs of them). Unchanged for a kind
   * that does not fan out.
   */
  protected async withFanOut(state: S, limits: FanOutLimits, manifest: ManifestReader): Promise<S> {
    const kind = this.fanOutKind();
    if (!kind) return state;
    const config = this.settings();
    const withinLeaves = (kind.withinLeaves ?? false) && Boolean(state.root);
    const count = leafShardCount(
      state.filesTotal,
      withinLeaves ? state.filesTotal : state.chunkCount,
      limits.maxShards ?? config.BACKUP_MAX_SHARDS,
      limits.minObjectsPerShard ?? config.BACKUP_SHARD_MIN_OBJECTS,
    );
    if (count === 1) return state;
    const ranges = state.root
      ? await balancedLeafRanges(state.root, count, (page) => this.pageForPlan(manifest, page), {
          precision: planPrecision(state.filesTotal, count),
          concurrency: DEFAULTS.concurrency,
          withinLeaves,
        })
      : leafRanges(state.chunkCount, count);
    return { ...state, fanOut: plannedFanOut(ranges) };
  }

  /**
   * An index page for the plan: one that cannot be read, or whose read fails, only makes the plan
   * estimate there (the shard that walks it reads it again, and reports or retries as it must),
   * so a failing read does not fail the job's start. Logged, not dropped.
   */
  private async pageForPlan(manifest: ManifestReader, page: ChunkRef): Promise<ChunkRef[] | null> {
    try {
      return await manifest.pageChildren(page);
    } catch (error) {
      console.warn(`planning shards: index page ${page.name} could not be read; estimating there`, error);
      return null;
    }
  }

  /** Starts this object as `shard` of the fanned-out job `parent` (idempotent). */
  async startShard(parent: S, shard: LeafShard): Promise<void> {
    await this.begin({
      ...this.requireFanOutKind().counting.fresh(parent),
      jobId: leafShardName(parent.jobId, shard.index),
      shard,
      fanOut: undefined,
      fannedOut: undefined,
      nextChunkSeq: shard.range.fromLeaf,
      nextOffset: shard.range.fromOffset ?? 0,
      ...NO_FINDINGS,
      ...RUNNING,
      steps: 0,
      retries: 0,
    });
  }

  /** This shard's state for its parent (a lost alarm re-armed). */
  async shardReport(): Promise<ShardReport<object>> {
    const state = await this.stateForParent();
    if (!state) return { stage: "unknown", outcome: null, error: null, summary: null, steps: 0, retries: 0 };
    return {
      stage: state.stage,
      outcome: state.outcome,
      // Why it ended (null once completed), or while it runs the failure its next attempt retries.
      error: state.outcome ? state.error : state.lastError,
      summary: this.requireFanOutKind().counting.summarize(state),
      steps: state.steps ?? 0,
      retries: state.retries ?? 0,
    };
  }

  protected override isShard(state: S): boolean {
    return state.shard !== undefined;
  }

  private requireFanOutKind(): FanOutKind<S, object> {
    const kind = this.fanOutKind();
    if (!kind) throw new PermanentError(`${this.constructor.name} jobs do not fan out`);
    return kind;
  }

  private async cancelShards(state: S | undefined, requestedBy: string): Promise<void> {
    if (!state?.fanOut || state.fanOut.stage === "starting") return;
    const control = this.shardControl(state);
    for (const shard of state.fanOut.shards) await control.cancel(shard.index, requestedBy);
  }

  private shardControl(state: S): ShardControl<object> {
    const kind = this.requireFanOutKind();
    const stub = (index: number) => kind.stub(leafShardName(state.jobId, index));
    return {
      start: (shard) => stub(shard.index).startShard(state, shard),
      report: (index) => stub(index).shardReport(),
      cancel: async (index, requestedBy) => {
        await stub(index).cancel(requestedBy);
      },
    };
  }

  /** Saves the job, arms its first step and records it in D1; idempotent. Returns the job's id. */
  protected async startJob(state: S): Promise<string> {
    await this.begin(state);
    return state.jobId;
  }

  protected async recordStart(state: S): Promise<void> {
    if (state.shard) {
      const { index, count, range } = state.shard;
      const message = `Shard ${index + 1} of ${count} of ${state.kind} ${state.jobId.split("/")[0]} started over ${describeLeafRange(range)}.`;
      return runBatch(this.db(), [this.log(state, "start", "info", message)]);
    }
    const db = this.db();
    await runBatch(db, [
      insertJob(db, {
        id: state.jobId,
        kind: state.kind,
        backupId: this.backupOfJob(state),
        status: "in_progress",
        requestedBy: state.requestedBy,
        createdAt: state.startedAt,
        startedAt: state.startedAt,
        updatedAt: state.startedAt,
        filesProcessed: 0,
        filesTotal: state.filesTotal,
      }),
      this.log(state, "start", "info", this.startMessage(state)),
      ...this.startStatements(state),
    ]);
  }

  /** More of the job row than its count, set with every step's progress: a fanned-out job's shards. */
  private progressColumns(next: S): Partial<NewJobRow> {
    const shards = next.fanOut?.shards ?? next.fannedOut;
    return shards ? { shards } : {};
  }

  /** Extra writes made together with the job's start (for example on the backup row). */
  protected startStatements(_state: S): Statement[] {
    return [];
  }

  /**
   * Objects of the replica this step relied on finding present, for the collection ledger's check
   * (engine/collection/ledger.ts); null for jobs that rely on no presence check (the default).
   */
  protected presenceChecked(_next: S): string[] | null {
    return null;
  }

  /**
   * A job that reads a backup's snapshot begins only on a kept one: a cleanup that expired it
   * after the request was accepted (its expiry skips a backup a job already reads) leaves a
   * manifest being deleted, and reading it would report damage that is not there.
   */
  private async requireKeptSnapshot(state: S): Promise<void> {
    const backupId = this.backupOfJob(state);
    if (backupId === null || (state.steps ?? 0) > 0) return;
    const status = (await findBackupRow(this.db(), backupId))?.status;
    if (status === "completed" || status === "partial") return;
    throw new PermanentError(
      `backup ${backupId} is ${status ?? "unknown"}: a cleanup expired it before this ${state.kind} could read it; nothing was read`,
    );
  }

  /** One step, then its findings and progress in one D1 batch (idempotent: same rows on replay). */
  protected async step(state: S): Promise<S> {
    await this.requireKeptSnapshot(state);
    const db = this.db();
    const fence = this.presenceChecked(state) === null ? null : await readFence(db);
    // A shard ends with its run of leaves; the parent takes the step after the last leaf.
    const next = shardFinished(state)
      ? ended(state, "completed", null)
      : state.fanOut
        ? await runLeafFanOutStep(
            this.shardControl(state),
            this.requireFanOutKind().counting,
            state,
            this.settings().BACKUP_SHARD_POLL_MS,
          )
        : await this.work({ ...state, newFindings: [] });
    const statements = [
      ...upsertFindings(db, state.jobId, next.newFindings, state.findingsStored),
      // A shard has no job row (its parent's shows its progress): its step writes only findings.
      ...(state.shard
        ? []
        : [
            updateJob(db, state.jobId, {
              filesProcessed: next.filesProcessed,
              ...this.progressColumns(next),
              updatedAt: clock.date().toISOString(),
            }),
          ]),
    ];
    const present = this.presenceChecked(next);
    // A sweep page of the replica that condemned an object after the fence: the step runs again.
    if (fence !== null && present !== null)
      await commitWithReferences(db, statements, { holder: state.jobId, keys: present, fence, record: false });
    else await runBatch(db, statements);
    const stored = storedCounts(state.findingsStored);
    for (const finding of next.newFindings) stored[finding.list] += 1;
    return { ...next, newFindings: [], findingsStored: stored };
  }

  protected async recordRetry(state: S, failures: number, message: string): Promise<void> {
    await runBatch(this.db(), [
      this.log(
        state,
        `step-error:${state.nextChunkSeq}:${state.nextOffset}:${failures}`,
        "error",
        `${state.kind} job ${state.jobId}: step failed (attempt ${failures}), retrying: ${message}`,
      ),
    ]);
  }

  protected async recordEnd(state: S): Promise<void> {
    const outcome = state.outcome!;
    const completion: Pick<LogRecord, "level" | "message"> =
      outcome === "completed"
        ? this.completionLog(state)
        : {
            level: outcome === "cancelled" ? "warn" : "error",
            message: `${state.kind} job ${state.jobId} ${outcome}: ${state.error}`,
          };
    const db = this.db();
    // A shard's end is a log line; its parent's end is the job's.
    if (state.shard) {
      const { index, count } = state.shard;
      const message = `Shard ${index + 1} of ${count}: ${completion.message}`;
      return runBatch(db, [this.log(state, "complete", completion.level, message)]);
    }
    // A fanned-out job that did not complete stops whatever shard still runs.
    if (outcome !== "completed") await this.cancelShards(state, state.requestedBy);
    const values = {
      // A job has no partial outcome: what it could not do is in its result.
      status: outcome === "partial" ? "completed" : outcome,
      completedAt: state.endedAt,
      filesProcessed: state.filesProcessed,
      result: this.result(state),
      error: state.error,
      updatedAt: state.endedAt,
      steps: state.steps ?? 0,
      retries: state.retries ?? 0,
    } satisfies Partial<NewJobRow>;
    await runLedger(db, this.endLedger(state), [
      updateJob(db, state.jobId, values),
      this.log(state, "complete", completion.level, completion.message),
      ...(outcome === "completed" ? this.completionStatements(state) : []),
      ...this.endStatements(state),
      ...(outcome === "completed" ? await this.completionDelivery(state, values) : []),
    ]);
  }

  /** Collection ledger statements made together with the job's end (a cleanup's release). */
  protected endLedger(_state: S): D1PreparedStatement[] {
    return [];
  }

  /** `<kind>.completed` for the webhook, with the job as this recording leaves it. */
  private async completionDelivery(state: S, values: Partial<NewJobRow>): Promise<Statement[]> {
    if (!webhooksEnabled(this.settings())) return [];
    const row = await findJobRow(this.db(), state.jobId);
    if (!row) throw new Error(`job ${state.jobId} has no D1 row to report`);
    const event = `${state.kind}.completed` as const;
    return [
      queueDelivery(this.db(), {
        id: deliveryId(state.jobId, event),
        event,
        createdAt: state.endedAt!,
        data: { job: presentJob({ ...row, ...values } as BackupJobRow, null) },
      }),
    ];
  }

  /** The backup the job works on, as its D1 row names it (a cleanup works on none). */
  protected backupOfJob(state: S): string | null {
    return state.backupId;
  }

  /** Extra writes made together with the job's end, whatever its outcome. */
  protected endStatements(_state: S): Statement[] {
    return [];
  }

  /** Extra writes made together with the job's completion (for example on the backup row). */
  protected completionStatements(_state: S): Statement[] {
    return [];
  }

  protected log(state: S, event: string, level: LogRecord["level"], message: string): Statement {
    return insertLog(this.db(), {
      eventKey: `${state.jobId}:${event}`,
      backupId: state.backupId,
      timestamp: clock.date().toISOString(),
      eventType: state.kind,
      level,
      message,
      requestedBy: state.requestedBy,
    });
  }
}
