/**
 * Fan-out over a snapshot's leaves as plain step logic (engine/leaf-fan-out.ts), over a fake of
 * the shards: runs of leaves that cover the snapshot once, how many shards a snapshot gets, the
 * parent's counts as the sum of its shards' (a restore's, a verification's), and how one shard's
 * failure or cancel ends it.
 */
import { describe, expect, it } from "vitest";
import {
  entriesWalked,
  leafRanges,
  leafShardCount,
  shardFinished,
  type LeafRange,
  plannedFanOut,
  runLeafFanOutStep,
  type LeafShard,
  type ShardControl,
  type ShardReport,
} from "../../durable-objects/engine/leaf-fan-out";
import { summedCounts, type FanOutParent } from "../../durable-objects/engine/leaf-fan-out";
import { RUNNING } from "../../durable-objects/engine/lifecycle";

describe("fan-out over a snapshot's leaves", () => {
  it("splits the leaves into consecutive runs that cover each leaf once", () => {
    for (const [leaves, count] of [
      [7, 3],
      [100, 8],
      [5, 5],
      [64, 64],
    ] as const) {
      const ranges = leafRanges(leaves, count);
      expect(ranges).toHaveLength(count);
      expect(ranges[0]!.fromLeaf).toBe(0);
      expect(ranges.at(-1)!.toLeaf).toBe(leaves);
      for (let i = 1; i < count; i++) expect(ranges[i]!.fromLeaf).toBe(ranges[i - 1]!.toLeaf);
      for (const range of ranges)
        expect(range.toLeaf - range.fromLeaf).toBeGreaterThanOrEqual(Math.floor(leaves / count));
    }
  });

  it("ends a shard's run at its last entry, inside a leaf or at a leaf's end", () => {
    const shard = (range: LeafRange) => ({ index: 0, count: 2, range });
    const at = (range: LeafRange, nextChunkSeq: number, nextOffset: number) =>
      shardFinished({ shard: shard(range), nextChunkSeq, nextOffset });
    const inside = { fromLeaf: 2, fromOffset: 10, toLeaf: 4, toOffset: 30 };
    expect(at(inside, 2, 10)).toBe(false);
    expect(at(inside, 4, 0)).toBe(false); // leaf 4's first 30 entries are still its own
    expect(at(inside, 4, 29)).toBe(false);
    expect(at(inside, 4, 30)).toBe(true);
    expect(at(inside, 5, 0)).toBe(true); // its last step walked leaf 4 up to entry 30, so moved on
    expect(at({ fromLeaf: 2, toLeaf: 4 }, 3, 99)).toBe(false);
    expect(at({ fromLeaf: 2, toLeaf: 4 }, 4, 0)).toBe(true);
    expect(shardFinished({ nextChunkSeq: 9, nextOffset: 0 })).toBe(false); // not a shard

    const entries = ["a", "b", "c", "d", "e"];
    expect(entriesWalked({ shard: shard(inside) }, 4, entries)).toEqual(entries); // a leaf shorter than toOffset: all of it
    expect(entriesWalked({ shard: shard({ fromLeaf: 0, toLeaf: 4, toOffset: 2 }) }, 4, entries)).toEqual(["a", "b"]);
    expect(entriesWalked({ shard: shard({ fromLeaf: 0, toLeaf: 4, toOffset: 2 }) }, 3, entries)).toEqual(entries);
    expect(entriesWalked({}, 4, entries)).toEqual(entries);
  });

  it("gives a snapshot shards of at least the minimum, no more than the limit or its leaves", () => {
    expect(leafShardCount(700, 7, 4, 100)).toBe(4);
    expect(leafShardCount(150, 2, 4, 100)).toBe(1);
    expect(leafShardCount(10_000_000, 100_000, 64, 5_000)).toBe(64);
    expect(leafShardCount(10_000, 2, 8, 100)).toBe(2);
    expect(leafShardCount(0, 0, 8, 100)).toBe(1);
  });

  /** A job that counts what a restore does, in part. */
  type Parent = FanOutParent & {
    filesProcessed?: number;
    filesRestored?: number;
    filesFailed?: number;
    bytesRestored?: number;
  };
  type Counts = Record<"filesProcessed" | "filesRestored" | "filesFailed" | "bytesRestored", number>;
  const counting = summedCounts<Parent, keyof Counts>(
    ["filesProcessed", "filesRestored", "filesFailed", "bytesRestored"],
    "filesFailed",
  );

  /** A parent over `count` shards, and a fake of its shards whose reports the test sets. */
  function fanned(count: number) {
    const reports = new Map<number, ShardReport<Counts>>();
    const started: LeafShard[] = [];
    const cancelled: number[] = [];
    const control: ShardControl<Counts> = {
      start: async (shard) => {
        started.push(shard);
      },
      report: async (index) =>
        reports.get(index) ?? {
          stage: "unknown",
          outcome: null,
          error: null,
          summary: null,
          steps: 0,
          retries: 0,
        },
      cancel: async (index) => {
        cancelled.push(index);
      },
    };
    const state: Parent = {
      ...RUNNING,
      chunkCount: 10,
      nextChunkSeq: 0,
      nextOffset: 0,
      fanOut: plannedFanOut(leafRanges(10, count)),
    };
    const report = (outcome: ShardReport<Counts>["outcome"], restored: number, error: string | null = null) => ({
      stage: outcome ? ("done" as const) : ("running" as const),
      outcome,
      error,
      summary: { filesProcessed: restored, filesRestored: restored, filesFailed: 0, bytesRestored: restored * 10 },
      steps: 2,
      retries: 0,
    });
    return { control, state, reports, started, cancelled, report };
  }

  it("starts every shard, sums their counts while they run, and hands the end to the parent's own step", async () => {
    const { control, state, reports, started, report } = fanned(3);
    let next = await runLeafFanOutStep(control, counting, state, 500);
    expect(started.map((s) => s.range)).toEqual(leafRanges(10, 3));
    expect(next.fanOut?.stage).toBe("running");

    reports.set(0, report("completed", 40));
    reports.set(1, report(null, 15));
    reports.set(2, report(null, 5));
    next = await runLeafFanOutStep(control, counting, next, 500);
    expect(next).toMatchObject({ filesRestored: 60, bytesRestored: 600, waitMs: 500, stage: "running" });
    expect(next.fanOut!.shards.map((s) => s.status)).toEqual(["completed", "running", "running"]);

    reports.set(1, report("completed", 30));
    reports.set(2, report("completed", 30));
    next = await runLeafFanOutStep(control, counting, next, 500);
    // Every leaf is restored: the parent's next step is the end of a restore in one object.
    expect(next).toMatchObject({ filesRestored: 100, nextChunkSeq: 10, nextOffset: 0, fanOut: undefined });
    expect(next.fannedOut!.map((s) => s.status)).toEqual(["completed", "completed", "completed"]);
  });

  it("starts again a shard whose start never arrived", async () => {
    const { control, state, started } = fanned(2);
    const next = await runLeafFanOutStep(control, counting, state, 500);
    started.length = 0;
    await runLeafFanOutStep(control, counting, next, 500);
    expect(started.map((s) => s.index)).toEqual([0, 1]);
  });

  it("fails when a shard fails for good, naming it, and cancels the shards still running", async () => {
    const { control, state, reports, cancelled, report } = fanned(3);
    const next = await runLeafFanOutStep(control, counting, state, 500);
    reports.set(0, report("completed", 40));
    reports.set(1, report("failed", 3, "Failed after 6 attempts of one step: R2 down"));
    reports.set(2, report(null, 5));
    const failed = await runLeafFanOutStep(control, counting, next, 500);
    expect(failed).toMatchObject({
      stage: "finishing",
      outcome: "failed",
      error: "Shard 2 of 3 failed: Failed after 6 attempts of one step: R2 down",
    });
    expect(cancelled).toEqual([2]);
  });
});
