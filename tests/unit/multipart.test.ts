/**
 * Multipart helpers (engine/multipart.ts): part sizes within R2's 10,000 parts, and the windows
 * of parts a step moves together.
 */
import { describe, expect, it } from "vitest";
import {
  finishedPrefix,
  MAX_PARTS,
  nextParts,
  PARTS_IN_FLIGHT,
  partSizeFor,
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

describe("nextParts", () => {
  it("moves up to PARTS_IN_FLIGHT parts after those done, the last one short", () => {
    expect(PARTS_IN_FLIGHT).toBe(3);
    expect(nextParts(0, 4, 10, 35, 0, 1000)).toEqual([
      { partNumber: 1, start: 0, end: 10 },
      { partNumber: 2, start: 10, end: 20 },
      { partNumber: 3, start: 20, end: 30 },
    ]);
    expect(nextParts(3, 4, 10, 35, 30, 1000)).toEqual([{ partNumber: 4, start: 30, end: 35 }]);
    expect(nextParts(4, 4, 10, 35, 35, 1000)).toEqual([]);
  });

  it("stays within the step's budget, but a step that has moved nothing takes one part", () => {
    expect(nextParts(0, 10, 10, 100, 0, 25)).toHaveLength(2);
    expect(nextParts(2, 10, 10, 100, 20, 25)).toEqual([]);
    expect(nextParts(0, 10, 10, 100, 0, 5)).toEqual([{ partNumber: 1, start: 0, end: 10 }]);
  });

  it("keeps the parts of a window up to the first that failed", () => {
    const ok = (partNumber: number) => ({
      uploaded: { status: "fulfilled" as const, value: { partNumber, etag: `e${partNumber}` } },
      fed: { status: "fulfilled" as const, value: undefined },
    });
    const failed = { status: "rejected" as const, reason: new Error("down") };
    expect(finishedPrefix([ok(4), { ...ok(5), fed: failed }, ok(6)])).toEqual([{ partNumber: 4, etag: "e4" }]);
    expect(finishedPrefix([{ uploaded: failed, fed: failed }, ok(2)])).toEqual([]);
  });
});
