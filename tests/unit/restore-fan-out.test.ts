/**
 * A restore's fan-out as plain step logic (engine/restore/restore-fan-out.ts), over a fake of its
 * shards: runs of leaves that cover the snapshot once, how many shards a snapshot gets, the
 * parent's counts as the sum of its shards', and how one shard's failure or cancel ends it.
 */
import { describe, expect, it } from "vitest";
import {
  countsOf,
  leafRanges,
  restoreShardCount,
  runRestoreFanOutStep,
  type FanOutParent,
  type RestoreShard,
  type RestoreShardControl,
  type RestoreShardReport,
} from "../../durable-objects/engine/restore/restore-fan-out";
import { RUNNING } from "../../durable-objects/engine/lifecycle";

describe("a restore's fan-out", () => {
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

  it("gives a snapshot shards of at least the minimum, no more than the limit or its leaves", () => {
    expect(restoreShardCount(700, 7, 4, 100)).toBe(4);
    expect(restoreShardCount(150, 2, 4, 100)).toBe(1);
    expect(restoreShardCount(10_000_000, 100_000, 64, 5_000)).toBe(64);
    expect(restoreShardCount(10_000, 2, 8, 100)).toBe(2);
    expect(restoreShardCount(0, 0, 8, 100)).toBe(1);
  });

  /** A parent over `count` shards, and a fake of its shards whose reports the test sets. */
  function fanned(count: number) {
    const reports = new Map<number, RestoreShardReport>();
    const started: RestoreShard[] = [];
    const cancelled: number[] = [];
    const control: RestoreShardControl = {
      start: async (shard) => {
        started.push(shard);
      },
      report: async (index) =>
        reports.get(index) ?? {
          stage: "unknown",
          outcome: null,
          error: null,
          counts: countsOf({}),
          steps: 0,
          retries: 0,
        },
      cancel: async (index) => {
        cancelled.push(index);
      },
    };
    const state: FanOutParent = {
      ...RUNNING,
      chunkCount: 10,
      nextChunkSeq: 0,
      nextOffset: 0,
      fanOut: {
        stage: "starting",
        shards: leafRanges(10, count).map((range, index) => ({
          index,
          range,
          status: "pending",
          filesProcessed: 0,
          failedCount: 0,
          steps: 0,
          retries: 0,
          error: null,
        })),
      },
    };
    const report = (outcome: RestoreShardReport["outcome"], restored: number, error: string | null = null) => ({
      stage: outcome ? ("done" as const) : ("running" as const),
      outcome,
      error,
      counts: countsOf({ filesProcessed: restored, filesRestored: restored, bytesRestored: restored * 10 }),
      steps: 2,
      retries: 0,
    });
    return { control, state, reports, started, cancelled, report };
  }

  it("starts every shard, sums their counts while they run, and hands the end to the parent's own step", async () => {
    const { control, state, reports, started, report } = fanned(3);
    let next = await runRestoreFanOutStep(control, state, 500);
    expect(started.map((s) => s.range)).toEqual(leafRanges(10, 3));
    expect(next.fanOut?.stage).toBe("running");

    reports.set(0, report("completed", 40));
    reports.set(1, report(null, 15));
    reports.set(2, report(null, 5));
    next = await runRestoreFanOutStep(control, next, 500);
    expect(next).toMatchObject({ filesRestored: 60, bytesRestored: 600, waitMs: 500, stage: "running" });
    expect(next.fanOut!.shards.map((s) => s.status)).toEqual(["completed", "running", "running"]);

    reports.set(1, report("completed", 30));
    reports.set(2, report("completed", 30));
    next = await runRestoreFanOutStep(control, next, 500);
    // Every leaf is restored: the parent's next step is the end of a restore in one object.
    expect(next).toMatchObject({ filesRestored: 100, nextChunkSeq: 10, nextOffset: 0, fanOut: undefined });
    expect(next.fannedOut!.map((s) => s.status)).toEqual(["completed", "completed", "completed"]);
  });

  it("starts again a shard whose start never arrived", async () => {
    const { control, state, started } = fanned(2);
    const next = await runRestoreFanOutStep(control, state, 500);
    started.length = 0;
    await runRestoreFanOutStep(control, next, 500);
    expect(started.map((s) => s.index)).toEqual([0, 1]);
  });

  it("fails when a shard fails for good, naming it, and cancels the shards still running", async () => {
    const { control, state, reports, cancelled, report } = fanned(3);
    const next = await runRestoreFanOutStep(control, state, 500);
    reports.set(0, report("completed", 40));
    reports.set(1, report("failed", 3, "Failed after 6 attempts of one step: R2 down"));
    reports.set(2, report(null, 5));
    const failed = await runRestoreFanOutStep(control, next, 500);
    expect(failed).toMatchObject({
      stage: "finishing",
      outcome: "failed",
      error: "Shard 2 of 3 failed: Failed after 6 attempts of one step: R2 down",
    });
    expect(cancelled).toEqual([2]);
  });
});
