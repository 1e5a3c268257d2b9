import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mergeListing, type ListedObject } from "../../durable-objects/engine/backup/listing-merge";
import {
  nextTargetKeys,
  normalizeTargetKeys,
  targetedListing,
} from "../../durable-objects/engine/backup/targeted-listing";
import { compareKeys } from "../../durable-objects/engine/format/key-order";
import { eventBackupDue } from "../../durable-objects/engine/coordinator/pending-changes";
import { plainEntry } from "../helpers/manifest";

const at = new Date("2026-11-01T00:00:00.000Z");
const entry = (key: string, etag: string) => plainEntry(key, etag, etag.length, at.toISOString());
const listed = (key: string, etag: string): ListedObject => ({ key, etag, size: etag.length, uploaded: at });

describe("targeted listing", () => {
  it("lays the named keys' current state over the parent's entries", () => {
    const parent = [entry("a", "1"), entry("b", "1"), entry("c", "1")];
    const heads = new Map<string, ListedObject | null>([
      ["b", listed("b", "2")], // modified
      ["c", null], // deleted
      ["d", listed("d", "1")], // new
      ["e", null], // named, but neither in the parent nor there now
    ]);
    const actions = mergeListing(targetedListing(parent, heads, null), parent);
    expect(actions.map((a) => `${a.kind}:${a.key}`)).toEqual(["unchanged:a", "modified:b", "deleted:c", "new:d"]);
  });

  it("pages the named keys after the cursor, in key order, without duplicates", () => {
    const keys = normalizeTargetKeys(["b", "a", "d", "c", "b"]);
    expect(keys).toEqual(["a", "b", "c", "d"]);
    expect(nextTargetKeys(keys, null, 2)).toEqual({ keys: ["a", "b"], listingEnd: "b" });
    expect(nextTargetKeys(keys, "b", 2)).toEqual({ keys: ["c", "d"], listingEnd: null });
    expect(nextTargetKeys(keys, "d", 2)).toEqual({ keys: [], listingEnd: null });
  });

  it("gives the same merge as a full listing whenever every changed key is named (property)", () => {
    const key = fc.constantFrom("a", "b", "c", "d", "e", "f", "g", "h", "a/x", "a b", "é");
    const state = fc.dictionary(key, fc.constantFrom("1", "2", "3"));
    fc.assert(
      fc.property(state, state, fc.array(key), (before, after, extraNamed) => {
        const parent = Object.keys(before)
          .sort(compareKeys)
          .map((k) => entry(k, before[k]!));
        const current = Object.keys(after)
          .sort(compareKeys)
          .map((k) => listed(k, after[k]!));
        const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
          (k) => before[k] !== after[k],
        );
        // Duplicates and keys that did not change are harmless: they are read and found as they were.
        const named = normalizeTargetKeys([...changed, ...extraNamed, ...changed]);
        const heads = new Map(named.map((k) => [k, after[k] === undefined ? null : listed(k, after[k]!)]));
        expect(mergeListing(targetedListing(parent, heads, null), parent)).toEqual(mergeListing(current, parent));
      }),
    );
  });
});

describe("when an event backup is due", () => {
  const limits = { threshold: 5, maxDelayMs: 60_000 };
  it("at the threshold, on overflow, or once the oldest change has waited long enough; never with nothing pending", () => {
    expect(eventBackupDue({ count: 0, firstReceivedAt: null, overflowSince: null }, limits, 1e12)).toBe(false);
    expect(eventBackupDue({ count: 4, firstReceivedAt: 1000, overflowSince: null }, limits, 60_999)).toBe(false);
    expect(eventBackupDue({ count: 4, firstReceivedAt: 1000, overflowSince: null }, limits, 61_000)).toBe(true);
    expect(eventBackupDue({ count: 5, firstReceivedAt: 1000, overflowSince: null }, limits, 1000)).toBe(true);
    expect(eventBackupDue({ count: 1, firstReceivedAt: 1000, overflowSince: 1000 }, limits, 1000)).toBe(true);
  });
});
