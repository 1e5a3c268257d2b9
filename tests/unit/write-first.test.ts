/**
 * When a backup writes small content before asking the store (engine/backup/write-first.ts): not
 * before it has seen anything, once about 60 objects in a row were new (a step of 100 is enough),
 * and no longer after 8 in a row the store already held.
 */
import { describe, expect, it } from "vitest";
import {
  shareAfter,
  UNKNOWN_SHARE,
  WRITE_FIRST_ABOVE,
  writesFirst,
} from "../../durable-objects/engine/backup/write-first";

const repeat = (isNew: boolean, times: number) => Array.from({ length: times }, () => isNew);

describe("writing first", () => {
  it("asks first while nothing has been captured", () => {
    expect(UNKNOWN_SHARE).toBeLessThan(WRITE_FIRST_ABOVE);
    expect(writesFirst(undefined)).toBe(false);
    expect(shareAfter(undefined, [])).toBe(UNKNOWN_SHARE);
  });

  it("writes first once 59 objects in a row were new, not after 58", () => {
    expect(writesFirst(shareAfter(undefined, repeat(true, 58)))).toBe(false);
    expect(writesFirst(shareAfter(undefined, repeat(true, 59)))).toBe(true);
    // A step of 100 new objects: the next step writes first.
    expect(writesFirst(shareAfter(undefined, repeat(true, 100)))).toBe(true);
  });

  it("asks again once 8 objects in a row after a step of new ones were already stored, not 7", () => {
    const allNew = shareAfter(undefined, repeat(true, 100));
    expect(writesFirst(shareAfter(allNew, repeat(false, 7)))).toBe(true);
    expect(writesFirst(shareAfter(allNew, repeat(false, 8)))).toBe(false);
  });

  it("asks first when the store held more than one object in five lately", () => {
    // Alternating 3 new, 1 stored (75% new) settles below the line; 9 new, 1 stored (90%) above it.
    const pattern = (fresh: number, stored: number) => [...repeat(true, fresh), ...repeat(false, stored)];
    const settle = (fresh: number, stored: number) =>
      Array.from({ length: 40 }, () => pattern(fresh, stored)).reduce((share, p) => shareAfter(share, p), 0.5);
    expect(writesFirst(settle(3, 1))).toBe(false);
    expect(writesFirst(settle(9, 1))).toBe(true);
  });
});
