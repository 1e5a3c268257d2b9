import { describe, expect, it } from "vitest";
import {
  mergeListing,
  minWindowEnd,
  withinWindow,
  type ListedObject,
} from "../../durable-objects/engine/backup/listing-merge";
import { plainEntry } from "../helpers/manifest";

const at = new Date("2026-11-01T00:00:00.000Z");
const entry = (key: string, etag = `e-${key}`, size = 10) => plainEntry(key, etag, size, at.toISOString());
const listed = (key: string, etag = `e-${key}`, size = 10, uploaded = at): ListedObject => ({
  key,
  etag,
  size,
  uploaded,
});

describe("mergeListing", () => {
  it("classifies unchanged, new, modified and deleted keys in key order", () => {
    const actions = mergeListing(
      [
        listed("a"),
        listed("b", "changed"),
        listed("c"),
        listed("e", "e-e", 11),
        listed("f", "e-f", 10, new Date("2026-11-02T00:00:00Z")),
      ],
      [entry("a"), entry("b"), entry("d"), entry("e"), entry("f"), entry("g")],
    );
    expect(actions.map((a) => `${a.kind}:${a.key}`)).toEqual([
      "unchanged:a",
      "modified:b",
      "new:c",
      "deleted:d",
      "modified:e",
      "modified:f",
      "deleted:g",
    ]);
  });

  it("treats everything as new without a parent and everything as deleted without a listing", () => {
    expect(mergeListing([listed("x"), listed("y")], []).map((a) => a.kind)).toEqual(["new", "new"]);
    expect(mergeListing([], [entry("x")]).map((a) => a.kind)).toEqual(["deleted"]);
  });
});

describe("window ends", () => {
  it("takes the smaller end, null meaning the end of the keyspace", () => {
    expect(minWindowEnd(null, null)).toBeNull();
    expect(minWindowEnd("m", null)).toBe("m");
    expect(minWindowEnd(null, "c")).toBe("c");
    expect(minWindowEnd("m", "c")).toBe("c");
    expect(withinWindow("m", "m")).toBe(true);
    expect(withinWindow("n", "m")).toBe(false);
    expect(withinWindow("zzz", null)).toBe(true);
  });
});
