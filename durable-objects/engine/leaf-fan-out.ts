/**
 * A job that walks a snapshot's leaves (restore, verify, replication) fanned out across job
 * objects: the leaves split into consecutive runs of nearly equal length, and one shard (a job
 * object of the same kind, `<job id>/shard-<nn>`) walks each run in parallel with its own state,
 * retries and findings. The parent asks its shards how far they are, shows the sum, and once
 * every shard has completed takes the step after the last leaf itself, as one object does (a
 * restore's unreadable objects, a verification's checksum and counts, a replication's index).
 * A shard that fails for good fails the job, and the others are cancelled; a cancel reaches every
 * shard. Each kind says what its shards count and how the parent sums it (`ShardCounting`).
 */
import type { JobShardProgress } from "../../schema";
import { ended, type JobOutcome, type JobStage, type StepState } from "./lifecycle";

/**
 * Leaves `fromLeaf` up to, not including, `toLeaf`. A restore's run may also begin `fromOffset`
 * entries into its first leaf and end `toOffset` entries into leaf `toLeaf` (those entries are
 * its last): runs of exactly equal objects whatever the leaves hold (leaf-plan.ts).
 */
export interface LeafRange {
  fromLeaf: number;
  toLeaf: number;
  fromOffset?: number;
  toOffset?: number;
}

export interface LeafShard {
  index: number;
  count: number;
  range: LeafRange;
}

/** A shard's state as its parent reads it; `summary` is what its kind counts (ShardCounting). */
export interface ShardReport<C> {
  stage: JobStage | "unknown";
  outcome: JobOutcome | null;
  error: string | null;
  summary: C | null;
  steps: number;
  retries: number;
}

export type LeafFanOut = { stage: "starting" | "running"; shards: JobShardProgress[] };

/** What a job's state carries of a fan-out (engine/job-state.ts, ManifestJobState). */
export interface FanOutFields {
  /** A fanned-out job's parent while its shards run. */
  fanOut?: LeafFanOut;
  /** Its shards once they have all completed (what its progress keeps showing). */
  fannedOut?: JobShardProgress[];
  /** A shard: the leaves it walks (its `jobId` is its own, `<parent>/shard-<nn>`). */
  shard?: LeafShard;
}

/** What the parent's step reads and sets of its state. */
export interface FanOutParent extends StepState, FanOutFields {
  chunkCount: number;
  nextChunkSeq: number;
  nextOffset: number;
}

/**
 * What a kind of job counts on its shards and how the parent sums it. `summarize` reads a shard's
 * state; `join` sets the parent's counts from every shard's summary, in shard order; `fresh` is
 * a shard's state at its start, the parent's with its counts zeroed.
 */
export interface ShardCounting<S, C> {
  summarize(state: S): C;
  progress(summary: C): { filesProcessed: number; failedCount: number };
  join(state: S, summaries: C[]): S;
  fresh(parent: S): S;
}

/** How the parent reaches its shards (ManifestJob implements it over its kind's namespace). */
export interface ShardControl<C> {
  start(shard: LeafShard): Promise<void>;
  report(index: number): Promise<ShardReport<C>>;
  cancel(index: number, requestedBy: string): Promise<void>;
}

/** A run for a log line: "leaves 3–7", "leaves 3 (from entry 40) to 8 (before entry 12)". */
export function describeLeafRange({ fromLeaf, toLeaf, fromOffset, toOffset }: LeafRange): string {
  if (!fromOffset && !toOffset) return `leaves ${fromLeaf}–${toLeaf - 1}`;
  const from = fromOffset ? `${fromLeaf} (from entry ${fromOffset})` : `${fromLeaf}`;
  return `leaves ${from} to ${toOffset ? `${toLeaf} (before entry ${toOffset})` : `${toLeaf - 1}`}`;
}

/** The job object of shard `index`; two digits so that the shards' ids sort as their ranges do. */
export const leafShardName = (jobId: string, index: number) => `${jobId}/shard-${String(index).padStart(2, "0")}`;

/**
 * How many shards: the objects over `minObjectsPerShard` (rounded down), at least 1, at most
 * `maxShards` and `runs`, the most runs the snapshot can make (its leaves, for a kind that walks
 * whole leaves; its objects, for one whose runs may split a leaf).
 */
export function leafShardCount(filesTotal: number, runs: number, maxShards: number, minObjectsPerShard: number) {
  return Math.max(1, Math.min(maxShards, runs, Math.floor(filesTotal / minObjectsPerShard)));
}

/** `count` consecutive runs of nearly equal length over `leaves` leaves. */
export function leafRanges(leaves: number, count: number): LeafRange[] {
  return Array.from({ length: count }, (_, i) => ({
    fromLeaf: Math.floor((i * leaves) / count),
    toLeaf: Math.floor(((i + 1) * leaves) / count),
  }));
}

/** The fan-out a job starts with: a shard over each run of leaves, none started yet. */
export function plannedFanOut(ranges: LeafRange[]): LeafFanOut {
  return {
    stage: "starting",
    shards: ranges.map((range, index) => ({
      index,
      range,
      status: "pending",
      filesProcessed: 0,
      failedCount: 0,
      steps: 0,
      retries: 0,
      error: null,
    })),
  };
}

/** Whether a shard has walked its last entry (its end; the parent takes the step after the last leaf). */
export function shardFinished(state: Pick<FanOutParent, "shard" | "nextChunkSeq" | "nextOffset">): boolean {
  if (!state.shard) return false;
  const { toLeaf, toOffset = 0 } = state.shard.range;
  return state.nextChunkSeq > toLeaf || (state.nextChunkSeq === toLeaf && state.nextOffset >= toOffset);
}

/** The entries of leaf `seq` a job walks: all of them, but for a shard whose run ends inside it. */
export function entriesWalked<E>(state: Pick<FanOutParent, "shard">, seq: number, entries: readonly E[]): readonly E[] {
  const range = state.shard?.range;
  return range?.toOffset && seq === range.toLeaf ? entries.slice(0, range.toOffset) : entries;
}

/** A parent's step while its shards run: start them, then ask them how far they are. */
export async function runLeafFanOutStep<S extends FanOutParent, C>(
  control: ShardControl<C>,
  counting: ShardCounting<S, C>,
  state: S,
  pollMs: number,
): Promise<S> {
  const fanOut = state.fanOut!;
  const shardOf = (p: JobShardProgress): LeafShard => ({ index: p.index, count: fanOut.shards.length, range: p.range });
  if (fanOut.stage === "starting") {
    for (const shard of fanOut.shards) await control.start(shardOf(shard));
    return {
      ...state,
      fanOut: { stage: "running", shards: fanOut.shards.map((s) => ({ ...s, status: "running" })) },
    };
  }
  const reports: ShardReport<C>[] = [];
  for (const shard of fanOut.shards) {
    let report = await control.report(shard.index);
    if (report.stage === "unknown") {
      await control.start(shardOf(shard));
      report = await control.report(shard.index);
    }
    reports.push(report);
  }
  const shards = fanOut.shards.map((shard, i): JobShardProgress => {
    const report = reports[i]!;
    return {
      ...shard,
      status: report.stage === "unknown" ? "pending" : (report.outcome ?? "running"),
      ...(report.summary ? counting.progress(report.summary) : { filesProcessed: 0, failedCount: 0 }),
      steps: report.steps,
      retries: report.retries,
      error: report.error,
    };
  });
  const summaries = reports.flatMap((r) => (r.summary ? [r.summary] : []));
  const next: S = { ...counting.join(state, summaries), fanOut: { stage: "running", shards } };
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
  // Every leaf is walked: what is left is the step after the last leaf, as in one object.
  return { ...next, fanOut: undefined, fannedOut: shards, nextChunkSeq: state.chunkCount, nextOffset: 0 };
}

/**
 * Counting for a kind whose counts are numbers summed over the shards (`names`), the first of
 * them the objects walked; `failed` names the count shown as a shard's failures.
 */
export function summedCounts<S extends Partial<Record<N, number>>, N extends string>(
  names: readonly N[],
  failed: N,
): ShardCounting<S, Record<N, number>> {
  const zero = () => Object.fromEntries(names.map((name) => [name, 0])) as Record<N, number>;
  return {
    summarize: (state) => Object.fromEntries(names.map((name) => [name, state[name] ?? 0])) as Record<N, number>,
    progress: (summary) => ({ filesProcessed: summary[names[0]!], failedCount: summary[failed] }),
    join(state, summaries) {
      const sum = zero();
      for (const summary of summaries) for (const name of names) sum[name] += summary[name];
      return { ...state, ...sum };
    },
    fresh: (parent) => ({ ...parent, ...zero() }),
  };
}
