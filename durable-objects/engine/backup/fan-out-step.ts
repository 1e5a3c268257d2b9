/**
 * The parent's steps of a fanned-out full backup (fan-out.ts), in phase "shards":
 *
 *   planning  decides the ranges (shard-plan.ts) and saves them before a shard exists, so a
 *             replayed step can never start shards over other ranges; one range: the backup
 *             runs here alone, as a backup of a small bucket does (phase "copying").
 *   starting  starts one shard per range. Starting is idempotent, so a crash midway is harmless.
 *   running   asks every shard how far it is (which also re-arms a shard whose alarm was lost),
 *             records the sum and each shard's progress in D1, and waits `pollMs`. A shard retries
 *             its own failed steps; one that fails for good (or is cancelled) ends the backup, and
 *             the others are cancelled. When all have their tree, the trees are joined into one
 *             (joinTrees: the same root a single object builds) and the backup finalizes.
 *
 * Shards write their file records and log lines under the backup's id and reference what they
 * store in the collection ledger under it too, so a cleanup treats the fanned-out backup as one.
 */
import type { BackupCheckpoint } from "./backup-checkpoint";
import { codecOf, policyOf, type BackupStepDeps } from "./backup-deps";
import { logRecord, progressColumns, storeManifestChunks } from "./batch-recorder";
import {
  pendingShards,
  progressOf,
  sumCounters,
  type FanOutDeps,
  type ShardProgress,
  type ShardReport,
} from "./fan-out";
import { planShards } from "./shard-plan";
import { listingPrefix } from "./key-scope";
import { chunkNodes } from "../format/chunk-store";
import { chunkKey } from "../format/manifest-tree";
import { joinTrees } from "../format/tree-edit";
import type { TreeNodes } from "../format/tree-diff";
import { commitWithReferences } from "../collection/ledger";
import { ended } from "../lifecycle";
import { insertLog, runBatch, updateBackup, type Statement } from "../records";
import { withRetry } from "../retry";

export async function runFanOutStep(
  deps: BackupStepDeps,
  fanOutDeps: FanOutDeps,
  checkpoint: BackupCheckpoint,
  fence: number,
): Promise<BackupCheckpoint> {
  const fanOut = checkpoint.fanOut!;
  switch (fanOut.stage) {
    case "planning":
      return plan(deps, fanOutDeps, checkpoint);
    case "starting": {
      for (const shard of fanOut.shards) await fanOutDeps.shards.start(assignmentOf(shard, fanOut.shards.length));
      const shards = fanOut.shards.map((s): ShardProgress => ({ ...s, status: "running" }));
      return { ...checkpoint, fanOut: { ...fanOut, stage: "running", shards } };
    }
    case "running":
      return poll(deps, fanOutDeps, checkpoint, fence);
    case "joined":
      throw new Error("a joined fan-out finalizes; it has no shard step left");
  }
}

const assignmentOf = (shard: ShardProgress, count: number) => ({ index: shard.index, count, range: shard.range });

/** Planned before anything starts: the ranges are part of the checkpoint the next step reads. */
async function plan(deps: BackupStepDeps, fanOutDeps: FanOutDeps, checkpoint: BackupCheckpoint) {
  const fanOut = checkpoint.fanOut;
  if (fanOut?.stage !== "planning") throw new Error("not planning");
  const latest = await fanOutDeps.latestSnapshot();
  const nodes: TreeNodes = chunkNodes(deps.backup, deps.settings.readKeyring, "the last snapshot");
  const { ranges, basis } = await withRetry(policyOf(deps.settings), () =>
    planShards({
      maxShards: fanOut.maxShards,
      minObjectsPerShard: fanOut.minObjectsPerShard,
      snapshot: latest ? { ...latest, nodes } : null,
      list: (options) => deps.source.list(options),
      prefix: listingPrefix(checkpoint.template),
    }),
  );
  const now = deps.now();
  const message =
    ranges.length === 1
      ? `Runs in one object (planned from ${basis}).`
      : `Fans out over ${ranges.length} shards, one job object each (planned from ${basis}).`;
  const next: BackupCheckpoint =
    ranges.length === 1
      ? { ...checkpoint, fanOut: undefined, phase: "copying" }
      : {
          ...checkpoint,
          fanOut: { stage: "starting", shards: pendingShards(ranges), pollMs: fanOut.pollMs, plan: basis },
        };
  await runBatch(deps.db, [
    insertLog(deps.db, logRecord(checkpoint, "fan-out", "progress", "info", now, message)),
    progressUpdate(deps, next, now),
  ]);
  return next;
}

async function poll(
  deps: BackupStepDeps,
  fanOutDeps: FanOutDeps,
  checkpoint: BackupCheckpoint,
  fence: number,
): Promise<BackupCheckpoint> {
  const fanOut = checkpoint.fanOut;
  if (fanOut?.stage !== "running") throw new Error("not running shards");
  const { shards: control } = fanOutDeps;
  const reports: ShardReport[] = [];
  for (const shard of fanOut.shards) {
    let report = await control.report(shard.index);
    // A start that never arrived (its object has no state): start it again.
    if (report.stage === "unknown") {
      await control.start(assignmentOf(shard, fanOut.shards.length));
      report = await control.report(shard.index);
    }
    reports.push(report);
  }
  const shards = fanOut.shards.map((shard, i) => progressOf(shard, reports[i]!));
  const counters = sumCounters(reports);
  const now = deps.now();
  const ends = reports.map((r) => r.outcome);
  const stopped = shards.find((s) => s.status === "failed" || s.status === "cancelled");
  if (stopped) {
    // The others stop too; the backup ends as that shard did (its blobs are the cleanup's).
    for (const shard of shards) if (shard.status === "running") await control.cancel(shard.index, "fan-out");
    const outcome = stopped.status === "cancelled" ? "cancelled" : "failed";
    const next = { ...checkpoint, counters, fanOut: { ...fanOut, shards } };
    return ended(
      next,
      outcome,
      `Shard ${stopped.index + 1} of ${shards.length} ${stopped.status}: ${stopped.error}`,
      now,
    );
  }
  if (ends.some((outcome) => outcome === null)) {
    const next: BackupCheckpoint = { ...checkpoint, counters, fanOut: { ...fanOut, shards }, waitMs: fanOut.pollMs };
    await runBatch(deps.db, [progressUpdate(deps, next, now)]);
    return next;
  }
  return join(deps, { ...checkpoint, counters }, shards, reports, fence);
}

/** Every shard has its tree: one tree over them, stored and referenced, then the index (finalize). */
async function join(
  deps: BackupStepDeps,
  checkpoint: BackupCheckpoint,
  shards: ShardProgress[],
  reports: readonly ShardReport[],
  fence: number,
): Promise<BackupCheckpoint> {
  const nodes = chunkNodes(deps.backup, deps.settings.readKeyring, `backup ${checkpoint.backupId}`);
  const roots = reports.map((r) => r.root ?? null);
  const joined = await withRetry(policyOf(deps.settings), () =>
    joinTrees(nodes, roots, codecOf(deps.settings).keyring, deps.settings.treeShape),
  );
  const stored = await storeManifestChunks(
    deps,
    {
      ...checkpoint,
      chunksWritten: checkpoint.chunksWritten + reports.reduce((sum, r) => sum + r.chunksWritten, 0),
      chunkBytesWritten: checkpoint.chunkBytesWritten + reports.reduce((sum, r) => sum + r.chunkBytesWritten, 0),
    },
    joined.chunks,
  );
  const plan = checkpoint.fanOut!.stage === "running" ? checkpoint.fanOut!.plan : "";
  const next: BackupCheckpoint = {
    ...stored,
    phase: "finalizing",
    fanOut: { stage: "joined", shards, root: joined.root, plan },
  };
  const now = deps.now();
  const statements: Statement[] = [
    insertLog(
      deps.db,
      logRecord(
        checkpoint,
        "fan-out-joined",
        "progress",
        "info",
        now,
        `All ${shards.length} shards done: their trees joined into one of ${joined.root?.leaves ?? 0} leaves ` +
          `(${joined.chunks.length} chunks written at the seams).`,
      ),
    ),
    progressUpdate(deps, next, now),
  ];
  // The chunks at the seams are referenced before the index names them (docs/invariants.md, 16).
  await commitWithReferences(deps.db, statements, {
    holder: checkpoint.backupId,
    keys: joined.chunks.map((c) => chunkKey(c.ref.name)),
    fence,
  });
  return next;
}

/** The backup's D1 progress: the shards' sum, and each shard's line. */
function progressUpdate(deps: BackupStepDeps, checkpoint: BackupCheckpoint, now: Date): Statement {
  const fanOut = checkpoint.fanOut;
  const shards = fanOut && fanOut.stage !== "planning" ? fanOut.shards : null;
  return updateBackup(deps.db, checkpoint.backupId, {
    ...progressColumns(checkpoint),
    shards,
    updatedAt: now.toISOString(),
  });
}
