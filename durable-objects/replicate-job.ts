/**
 * ReplicateJob: one Durable Object per replication of a backup (`getByName(jobId)`), started by
 * the backup once its end is recorded, when R2_REPLICA_BUCKET is bound.
 *
 * Owns: the replication's state (position, counts) and its D1 job row; what could not be copied
 * is a finding (problem list). Alarm: one manifest leaf per step (StepJob's lifecycle). It holds
 * no lease: it only adds content-addressed objects that a snapshot names to the replica, so it can
 * neither block nor be broken by a backup, a restore or a cleanup of the bucket (docs/replica.md).
 * Its end sets the backup's `replica_status`: complete, incomplete (problems) or failed.
 */
import { DEFAULTS } from "./engine/settings/defaults";
import {
  initialReplicateState,
  replicateCounting,
  replicateResult,
  runReplicateStep,
  type ReplicaDelta,
  type ReplicateState,
} from "./engine/replica/replicate-step";
import { updateBackup, type LogRecord, type Statement } from "./engine/records";
import { readKeyring } from "./engine/settings/engine-settings";
import { REPLICA_TOMBSTONE_PREFIX } from "./engine/collection/ledger";
import { ManifestJob, type FanOutKind, type FanOutLimits } from "./manifest-job";
import { manifestIndexKey } from "./engine/format/manifest";
import { findBackupRow } from "../schema/queries";
import type { AlertScope } from "./step-job";
import { clock } from "./engine/clock";

export interface StartReplicate extends FanOutLimits {
  jobId: string;
  backupId: string;
  bucketName: string;
  requestedBy: string;
}

/** The replication job of a backup: one per backup, so a retried start finds the same job. */
export const replicateJobId = (backupId: string) => `job-replicate-${backupId}`;

export class ReplicateJob extends ManifestJob<ReplicateState> {
  /** Chunk names known to be in the replica while this object stays in memory. */
  private readonly replicatedChunks = new Set<string>();

  async start(request: StartReplicate): Promise<string> {
    const { maxShards, minObjectsPerShard, ...job } = request;
    const index = await this.manifestIndex(request.backupId);
    if (!index) throw new Error(`the manifest of backup ${request.backupId} is missing`);
    const state = initialReplicateState({
      ...job,
      startedAt: clock.date().toISOString(),
      chunkCount: index.chunkCount,
      root: index.root, // absent for a version 1 manifest
      filesTotal: index.fileCount,
      since: index.root === undefined ? null : await this.replicatedParent(request.backupId),
    });
    // A walk of a large snapshot is shared by shards over runs of its leaves (engine/leaf-fan-out.ts);
    // a copy of the changes since the parent costs what changed and runs in one object.
    if (state.since) return this.startJob(state);
    return this.startJob(await this.withFanOut(state, { maxShards, minObjectsPerShard }, await this.snapshotOf(state)));
  }

  protected override fanOutKind(): FanOutKind<ReplicateState, object> {
    return { counting: replicateCounting, stub: (name) => this.env.REPLICATE_JOB.getByName(name) };
  }

  /**
   * The backup's parent, when its replica is complete and it still has a snapshot with a chunk
   * tree: then only the changes since it are copied. (A replica is trusted as its replication
   * left it, as the walk trusts a blob it finds there; verify with `copy: "replica"` checks it.)
   */
  private async replicatedParent(backupId: string): Promise<ReplicaDelta | null> {
    const parentId = (await findBackupRow(this.db(), backupId))?.parentId;
    if (!parentId) return null;
    const parent = await findBackupRow(this.db(), parentId);
    if (parent?.replicaStatus !== "complete" || (parent.status !== "completed" && parent.status !== "partial"))
      return null;
    // Its index in the replica too: the binding may now name another bucket than the one it went to.
    if (!(await this.env.R2_REPLICA_BUCKET?.head(manifestIndexKey(parentId)))) return null;
    const index = await this.manifestIndex(parentId);
    return index && index.version !== 1 ? { parentId, parentRoot: index.root ?? null, after: null } : null;
  }

  /** The backup's replica is `pending` from the job's start (a repeated replication's too). */
  protected override startStatements(state: ReplicateState): Statement[] {
    return [updateBackup(this.db(), state.backupId, { replicaStatus: "pending", replicaCompletedAt: null })];
  }

  protected startMessage(state: ReplicateState): string {
    return (
      `Replication of ${state.backupId} to the replica bucket started (${state.filesTotal} files in the snapshot` +
      (state.since ? `; only its changes since ${state.since.parentId}, whose replica is complete, are copied).` : ").")
    );
  }

  protected async work(state: ReplicateState): Promise<ReplicateState> {
    const replica = this.copyBucket("replica"); // a PermanentError once the binding is gone
    const settings = this.settings();
    return runReplicateStep(
      {
        primary: this.bound("R2_BACKUP_BUCKET"),
        replica,
        keyring: await readKeyring(this.env),
        concurrency: DEFAULTS.concurrency,
        byteBudget: settings.BACKUP_STEP_BYTE_BUDGET,
        multipartThreshold: settings.BACKUP_MULTIPART_THRESHOLD_BYTES,
        partSize: settings.BACKUP_PART_SIZE_BYTES,
        replicatedChunks: this.replicatedChunks,
        backupKept: async () => {
          const row = await findBackupRow(this.db(), state.backupId);
          return row?.status === "completed" || row?.status === "partial";
        },
      },
      state,
    );
  }

  /** What the step found already in the replica, named as the cleanup's replica sweep condemns them. */
  protected override presenceChecked(state: ReplicateState): string[] {
    return (state.presentInReplica ?? []).map((key) => `${REPLICA_TOMBSTONE_PREFIX}${key}`);
  }

  protected result(state: ReplicateState): Record<string, unknown> {
    return replicateResult(state);
  }

  protected leaseOf() {
    return null;
  }

  /** A replication's end opens or resolves `replica_incomplete` on its backup's bucket. */
  protected override async alertScope(state: ReplicateState): Promise<AlertScope> {
    return { bucketName: state.bucketName, log: (message) => this.log(state, "alerts", "info", message) };
  }

  protected completionLog(state: ReplicateState): Pick<LogRecord, "level" | "message"> {
    const r = replicateResult(state);
    const copied = `${r.objectsCopied} objects copied (${r.bytesCopied} bytes), ${r.objectsPresent} already there`;
    return r.problemCount === 0
      ? { level: "info", message: `Replica complete: ${copied}.` }
      : {
          level: "error",
          message: `Replica INCOMPLETE: ${r.problemCount} object(s) could not be copied; ${copied}. See the job's problems.`,
        };
  }

  protected override endStatements(state: ReplicateState): Statement[] {
    const status = state.outcome !== "completed" ? "failed" : state.problemCount === 0 ? "complete" : "incomplete";
    return [updateBackup(this.db(), state.backupId, { replicaStatus: status, replicaCompletedAt: state.endedAt })];
  }
}
