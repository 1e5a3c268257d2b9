/**
 * A restore fanned out across job objects: the snapshot's leaves split into consecutive runs of
 * nearly equal length, and one shard (a RestoreJob of its own, `<job id>/shard-<nn>`) restores
 * each run in parallel with its own state, retries and findings. The parent holds the bucket's
 * lease (a dry run: none), asks its shards how far they are, records the sum, and once every
 * shard has completed finishes as a restore in one object does (a partial backup's unreadable
 * objects, the result, the webhook). A shard that fails for good fails the restore, and the others
 * are cancelled; a cancel reaches every shard.
 */
import type { JobShardProgress } from "../../../schema";
import { ended, type JobOutcome, type JobStage, type StepState } from "../lifecycle";

/** Leaves `fromLeaf` up to, not including, `toLeaf`. */
export interface LeafRange {
  fromLeaf: number;
  toLeaf: number;
}

export interface RestoreShard {
  index: number;
  count: number;
  range: LeafRange;
}

/** What a restore counts, summed over its shards. */
export const RESTORE_COUNTS = [
  "filesProcessed",
  "filesRestored",
  "filesSkipped",
  "filesFailed",
  "bytesRestored",
  "verified",
  "verifyFailures",
  "filesFromReplica",
  "chunksFromReplica",
] as const;
export type RestoreCounts = Record<(typeof RESTORE_COUNTS)[number], number>;

export interface RestoreShardReport {
  stage: JobStage | "unknown";
  outcome: JobOutcome | null;
  error: string | null;
  counts: RestoreCounts;
  steps: number;
  retries: number;
}

export type RestoreFanOut = { stage: "starting" | "running"; shards: JobShardProgress[] };

/** The job object of shard `index`; two digits so that the shards' ids sort as their ranges do. */
export const restoreShardName = (jobId: string, index: number) => `${jobId}/shard-${String(index).padStart(2, "0")}`;

export function countsOf(state: Partial<RestoreCounts>): RestoreCounts {
  return Object.fromEntries(RESTORE_COUNTS.map((name) => [name, state[name] ?? 0])) as RestoreCounts;
}

/**
 * How many shards: the objects over `minObjectsPerShard` (rounded down), at least 1, at most
 * `maxShards` and the leaves (a shard restores whole leaves).
 */
export function restoreShardCount(filesTotal: number, leaves: number, maxShards: number, minObjectsPerShard: number) {
  return Math.max(1, Math.min(maxShards, leaves, Math.floor(filesTotal / minObjectsPerShard)));
}

/** `count` consecutive runs of nearly equal length over `leaves` leaves. */
export function leafRanges(leaves: number, count: number): LeafRange[] {
  return Array.from({ length: count }, (_, i) => ({
    fromLeaf: Math.floor((i * leaves) / count),
    toLeaf: Math.floor(((i + 1) * leaves) / count),
  }));
}

/** How the parent reaches its shards (RestoreJob implements it over the RESTORE_JOB namespace). */
export interface RestoreShardControl {
  start(shard: RestoreShard): Promise<void>;
  report(index: number): Promise<RestoreShardReport>;
  cancel(index: number, requestedBy: string): Promise<void>;
}

/** What the parent's step reads and sets of a restore's state (restore-step.ts, RestoreState). */
export interface FanOutParent extends StepState, Partial<RestoreCounts> {
  chunkCount: number;
  nextChunkSeq: number;
  nextOffset: number;
  fanOut?: RestoreFanOut;
  fannedOut?: JobShardProgress[];
}

/** The parent's step while its shards run: start them, then ask them how far they are. */
export async function runRestoreFanOutStep<S extends FanOutParent>(
  control: RestoreShardControl,
  state: S,
  pollMs: number,
): Promise<S> {
  const fanOut = state.fanOut!;
  const shardOf = (p: JobShardProgress): RestoreShard => ({
    index: p.index,
    count: fanOut.shards.length,
    range: p.range,
  });
  if (fanOut.stage === "starting") {
    for (const shard of fanOut.shards) await control.start(shardOf(shard));
    return {
      ...state,
      fanOut: { stage: "running", shards: fanOut.shards.map((s) => ({ ...s, status: "running" })) },
    };
  }
  const reports: RestoreShardReport[] = [];
  for (const shard of fanOut.shards) {
    let report = await control.report(shard.index);
    if (report.stage === "unknown") {
      await control.start(shardOf(shard));
      report = await control.report(shard.index);
    }
    reports.push(report);
  }
  const shards = fanOut.shards.map((shard, i): JobShardProgress => ({
    ...shard,
    status: reports[i]!.stage === "unknown" ? "pending" : (reports[i]!.outcome ?? "running"),
    filesProcessed: reports[i]!.counts.filesProcessed,
    failedCount: reports[i]!.counts.filesFailed,
    steps: reports[i]!.steps,
    retries: reports[i]!.retries,
    error: reports[i]!.error,
  }));
  const sum = countsOf({});
  for (const report of reports) for (const name of RESTORE_COUNTS) sum[name] += report.counts[name];
  const next: S = { ...state, ...sum, fanOut: { stage: "running", shards } };
  const stopped = shards.find((s) => s.status === "failed" || s.status === "cancelled");
  if (stopped) {
    for (const shard of shards) if (shard.status === "running") await control.cancel(shard.index, "fan-out");
    return ended(
      next,
      stopped.status === "cancelled" ? "cancelled" : "failed",
      `Shard ${stopped.index + 1} of ${shards.length} ${stopped.status}: ${stopped.error}`,
    );
  }
  if (reports.some((r) => r.outcome === null)) return { ...next, waitMs: pollMs };
  // Every leaf is restored: what is left is the parent's own end (finishRestore), as in one object.
  return { ...next, fanOut: undefined, fannedOut: shards, nextChunkSeq: state.chunkCount, nextOffset: 0 };
}
