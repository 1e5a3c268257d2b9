/**
 * Multipart helpers (engine/multipart.ts): part sizes within R2's 10,000 parts, the parts a step
 * moves, and how they move: a few at once, the next as soon as one ends, saved from the first.
 */
import { describe, expect, it } from "vitest";
import {
  MAX_PARTS,
  moveParts,
  PARTS_AHEAD,
  PARTS_IN_FLIGHT,
  partSizeFor,
  partsWithin,
  type MovedPart,
  type PartOutcome,
  type PartSpan,
} from "../../durable-objects/engine/multipart";

const MiB = 1024 * 1024;

describe("partSizeFor", () => {
  it("keeps the configured part size while 10,000 parts suffice", () => {
    expect(partSizeFor(100 * 1024 * MiB, 16 * MiB)).toBe(16 * MiB);
  });

  it("grows parts (in whole MiB) so R2's largest object fits in 10,000 parts", () => {
    const fiveTiB = 5 * 1024 * 1024 * MiB;
    const size = partSizeFor(fiveTiB, 16 * MiB);
    expect(size % MiB).toBe(0);
    expect(Math.ceil(fiveTiB / size)).toBeLessThanOrEqual(MAX_PARTS);
    expect(size).toBe(525 * MiB);
  });
});

describe("partsWithin", () => {
  it("takes the parts after those done, the last one short", () => {
    expect(partsWithin(0, 4, 10, 35, 0, 1000)).toEqual([
      { partNumber: 1, start: 0, end: 10 },
      { partNumber: 2, start: 10, end: 20 },
      { partNumber: 3, start: 20, end: 30 },
      { partNumber: 4, start: 30, end: 35 },
    ]);
    expect(partsWithin(3, 4, 10, 35, 0, 1000)).toEqual([{ partNumber: 4, start: 30, end: 35 }]);
    expect(partsWithin(4, 4, 10, 35, 0, 1000)).toEqual([]);
  });

  it("stays within the step's budget, but a step that has moved nothing takes one part", () => {
    expect(partsWithin(0, 10, 10, 100, 0, 25)).toHaveLength(2);
    expect(partsWithin(2, 10, 10, 100, 20, 25)).toEqual([]);
    expect(partsWithin(0, 10, 10, 100, 0, 5)).toEqual([{ partNumber: 1, start: 0, end: 10 }]);
  });
});

/** Parts whose moves the test ends one by one, in whatever order it likes. */
function heldParts(count: number) {
  const spans = partsWithin(0, count, 10, count * 10, 0, Number.POSITIVE_INFINITY);
  const ends = new Map<number, (outcome: PartOutcome) => void>();
  const started: number[] = [];
  const kept: number[][] = [];
  const move = (span: PartSpan) =>
    new Promise<PartOutcome>((end) => {
      started.push(span.partNumber);
      ends.set(span.partNumber, end);
    });
  const settled = () => new Promise((resolve) => setTimeout(resolve, 0));
  return {
    spans,
    started,
    kept,
    move,
    keep: async (parts: MovedPart[]) => {
      kept.push(parts.map((part) => part.partNumber));
    },
    /** Ends part `n` (moved, or failed with `failure`) and lets the pool react. */
    async end(n: number, failure?: Error) {
      const uploaded = failure
        ? ({ status: "rejected", reason: failure } as const)
        : ({ status: "fulfilled", value: { partNumber: n, etag: `e${n}` } } as const);
      ends.get(n)!({ uploaded, fed: { status: "fulfilled", value: undefined } });
      await settled();
    },
    settled,
  };
}

describe("moveParts", () => {
  it("keeps PARTS_IN_FLIGHT parts moving: the next starts as soon as one ends, not when its window does", async () => {
    expect(PARTS_IN_FLIGHT).toBe(3);
    const parts = heldParts(6);
    const moving = moveParts(parts.spans, parts.move, parts.keep);
    await parts.settled();
    expect(parts.started).toEqual([1, 2, 3]);
    await parts.end(2); // 1 and 3 still moving
    expect(parts.started).toEqual([1, 2, 3, 4]);
    expect(parts.kept).toEqual([]); // part 1 is not done: nothing after it is saved yet
    await parts.end(1);
    expect(parts.started).toEqual([1, 2, 3, 4, 5]);
    expect(parts.kept).toEqual([[1, 2]]);
    for (const n of [3, 5, 4]) await parts.end(n);
    await parts.end(6);
    const outcomes = await moving;
    expect(outcomes.map(({ uploaded }) => uploaded.status === "fulfilled" && uploaded.value.partNumber)).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);
    expect(parts.kept).toEqual([[1, 2], [3], [4, 5], [6]]);
  });

  it("starts no part more than PARTS_AHEAD past the parts done from the first", async () => {
    const parts = heldParts(10);
    const moving = moveParts(parts.spans, parts.move, parts.keep);
    await parts.settled();
    for (const n of [2, 3, 4, 5, 6]) await parts.end(n); // part 1 holds the rest up
    expect(parts.started).toEqual([1, 2, 3, 4, 5, 6]);
    expect(parts.started.length).toBe(PARTS_AHEAD);
    await parts.end(1);
    expect(parts.kept).toEqual([[1, 2, 3, 4, 5, 6]]);
    expect(parts.started).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const n of [7, 8, 9, 10]) await parts.end(n);
    expect(await moving).toHaveLength(10);
  });

  it("starts nothing after a part fails, keeps the parts before it and returns once the others settle", async () => {
    const parts = heldParts(6);
    const moving = moveParts(parts.spans, parts.move, parts.keep);
    await parts.settled();
    await parts.end(2, new Error("down"));
    await parts.end(1);
    expect(parts.started).toEqual([1, 2, 3]);
    let returned = false;
    void moving.then(() => (returned = true));
    await parts.settled();
    expect(returned).toBe(false); // part 3 is still moving
    await parts.end(3);
    const outcomes = await moving;
    expect(outcomes.map(({ uploaded }) => uploaded.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(parts.kept).toEqual([[1]]);
  });

  it("a part whose move rejects or throws counts as failed; a failed save stops the parts and is raised once the others settle", async () => {
    const rejecting = moveParts(
      partsWithin(0, 2, 10, 20, 0, 100),
      (span) => {
        if (span.partNumber === 1) throw new Error("no body");
        return Promise.resolve({
          uploaded: { status: "fulfilled", value: { partNumber: 2, etag: "e2" } },
          fed: { status: "fulfilled", value: undefined },
        });
      },
      async () => undefined,
    );
    expect((await rejecting).map(({ fed }) => fed.status)).toEqual(["rejected", "fulfilled"]);

    const parts = heldParts(6);
    const moving = moveParts(parts.spans, parts.move, async () => {
      throw new Error("storage full");
    });
    let ended = false;
    const raised = expect(moving.finally(() => (ended = true))).rejects.toThrow("storage full");
    await parts.settled();
    await parts.end(1); // part 4 starts at once; the save of part 1 fails after
    for (const n of [2, 3]) await parts.end(n);
    expect(ended).toBe(false); // part 4 is still moving
    await parts.end(4);
    await raised;
    expect(parts.started).toEqual([1, 2, 3, 4]);
  });

  it("counts the lead from the parts saved, not handed to the save, and returns only after the last save", async () => {
    const parts = heldParts(9);
    const saves: (() => void)[] = [];
    const saving: number[][] = [];
    const moving = moveParts(parts.spans, parts.move, (moved) => {
      saving.push(moved.map((part) => part.partNumber));
      return new Promise<void>((saved) => saves.push(saved));
    });
    let returned = false;
    void moving.then(() => (returned = true));
    await parts.settled();
    for (const n of [1, 2, 3, 4, 5, 6]) await parts.end(n);
    // Part 1's save is under way, the others wait their turn: nothing starts past the six.
    expect(saving).toEqual([[1]]);
    expect(parts.started).toEqual([1, 2, 3, 4, 5, 6]);
    saves.shift()!();
    await parts.settled();
    expect(saving).toEqual([[1], [2]]);
    expect(parts.started).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (let turn = 0; turn < 5; turn++) {
      saves.shift()!();
      await parts.settled();
    }
    expect(parts.started).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const n of [7, 8, 9]) await parts.end(n);
    expect(returned).toBe(false); // the last saves are still under way
    while (saves.length > 0 || !returned) {
      saves.shift()?.();
      await parts.settled();
    }
    expect(saving.flat()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
