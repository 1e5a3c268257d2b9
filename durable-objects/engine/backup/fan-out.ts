/**
 * A full backup fanned out across job objects: the parent splits the bucket's key space into
 * consecutive ranges, one shard (a BackupJob of its own, under the parent's backup id) backs up
 * each range in parallel with its own checkpoint, and the parent joins the shards' trees into the
 * one snapshot a single object would have built (tree-edit.ts, joinTrees). This module holds what
 * the parent and its shards share: the ranges, what a shard reports, and the parent's view of them.
 */
import type { BackupShardProgress } from "../../../schema";
import type { JobOutcome, JobStage } from "../lifecycle";
import type { ChunkRef } from "../format/manifest-tree";
import { compareKeys } from "../format/key-order";
import { ZERO_COUNTERS, type BackupCounters } from "./backup-counters";
import { sumSignals } from "./change-signal";

/** Keys after `after` (from the start when null) up to and including `through` (to the end when null). */
export interface KeyRange {
  after: string | null;
  through: string | null;
}

export const WHOLE_KEY_SPACE: KeyRange = { after: null, through: null };

export function inKeyRange(range: KeyRange, key: string): boolean {
  return (
    (range.after === null || compareKeys(key, range.after) > 0) &&
    (range.through === null || compareKeys(key, range.through) <= 0)
  );
}

/** Consecutive ranges over the whole key space, split after each boundary (boundaries in key order). */
export function rangesBetween(boundaries: readonly string[]): KeyRange[] {
  const ranges: KeyRange[] = [];
  let after: string | null = null;
  for (const boundary of boundaries) {
    ranges.push({ after, through: boundary });
    after = boundary;
  }
  ranges.push({ after, through: null });
  return ranges;
}

/** What a shard of a fanned-out backup is: its place among the shards and its range. */
export interface ShardAssignment {
  index: number;
  count: number;
  range: KeyRange;
}

/** The job object of shard `index` of backup `backupId`. */
export const shardJobName = (backupId: string, index: number) => `${backupId}/shard-${index}`;

/** What a shard tells its parent when asked: how far it is, and once done, its tree. */
export interface ShardReport {
  /** "unknown": not started (yet) in that object. */
  stage: JobStage | "unknown";
  outcome: JobOutcome | null;
  error: string | null;
  counters: BackupCounters;
  /** Its subtree, once it ended completed or partial (null: no key in its range). */
  root?: ChunkRef | null;
  chunksWritten: number;
  chunkBytesWritten: number;
  steps: number;
  retries: number;
}

/** The parent's record of one shard, kept in its checkpoint and shown in the backup's status. */
export type ShardProgress = BackupShardProgress;

/** The parent's side of a fan-out, in its checkpoint. */
export type FanOutState =
  /** Its first step decides the ranges (shard-plan.ts). */
  | { stage: "planning"; maxShards: number; minObjectsPerShard: number; pollMs: number }
  /** The ranges are saved; the next step starts one shard per range (idempotently). */
  | { stage: "starting"; shards: ShardProgress[]; pollMs: number; plan: string }
  /** Shards run; each step asks them how far they are. */
  | { stage: "running"; shards: ShardProgress[]; pollMs: number; plan: string }
  /** Every shard ended with a tree and the trees are joined: the root the snapshot's index names. */
  | { stage: "joined"; shards: ShardProgress[]; root: ChunkRef | null; plan: string };

export const pendingShards = (ranges: readonly KeyRange[]): ShardProgress[] =>
  ranges.map((range, index) => ({
    index,
    range,
    status: "pending",
    filesProcessed: 0,
    bytesProcessed: 0,
    failedCount: 0,
    steps: 0,
    retries: 0,
    error: null,
  }));

/** The whole backup's counters: the sum over its shards (the longest key: the longest of theirs). */
export function sumCounters(reports: readonly Pick<ShardReport, "counters">[]): BackupCounters {
  const total: Omit<BackupCounters, "change"> = { ...ZERO_COUNTERS };
  for (const { counters } of reports) {
    for (const name of Object.keys(total) as (keyof typeof total)[])
      if (name !== "maxKeyBytes") total[name] += counters[name];
    total.maxKeyBytes = Math.max(total.maxKeyBytes, counters.maxKeyBytes ?? 0);
  }
  return { ...total, change: sumSignals(reports.map((r) => r.counters.change)) };
}

/** A shard's progress from its report. */
export function progressOf(shard: ShardProgress, report: ShardReport): ShardProgress {
  return {
    ...shard,
    status: report.stage === "unknown" ? "pending" : (report.outcome ?? "running"),
    filesProcessed: report.counters.filesProcessed,
    bytesProcessed: report.counters.bytesProcessed,
    failedCount: report.counters.failedCount,
    steps: report.steps,
    retries: report.retries,
    error: report.error,
  };
}

/** How the parent reaches its shards (BackupJob implements it over the BACKUP_JOB namespace). */
export interface ShardControl {
  /** Starts shard `assignment.index` (idempotent: a started shard keeps its state). */
  start(assignment: ShardAssignment): Promise<void>;
  /** How far the shard is; also re-arms a shard whose alarm was lost. */
  report(index: number): Promise<ShardReport>;
  /** Asks the shard to stop at its next step boundary (harmless when it has ended). */
  cancel(index: number, requestedBy: string): Promise<void>;
}

/** What the parent needs beyond a step's usual dependencies. */
export interface FanOutDeps {
  shards: ShardControl;
  /** The bucket's latest snapshot with a chunk tree (completed or partial), to plan from; null if none. */
  latestSnapshot(): Promise<{ fileCount: number; root: ChunkRef | null } | null>;
}
