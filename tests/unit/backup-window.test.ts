import { describe, expect, it } from "vitest";
import { cutWindow } from "../../durable-objects/engine/backup/backup-window";
import type { MergeAction } from "../../durable-objects/engine/backup/listing-merge";
import type { ManifestEntry } from "../../durable-objects/engine/format/manifest";

const entry = (key: string): ManifestEntry => ({
  key,
  size: 1,
  etag: "e",
  lastModified: "x",
  sha256: "0",
  blob: "b",
  httpMetadata: {},
  customMetadata: {},
});
const settings = { stepByteBudget: 100, storage: { multipartThreshold: 50 } };

describe("cutWindow", () => {
  it("takes everything that fits the budget; unchanged and deleted entries cost nothing", () => {
    const actions: MergeAction[] = [
      { kind: "new", key: "a" },
      { kind: "unchanged", key: "b", entry: entry("b") },
      { kind: "deleted", key: "c", previous: entry("c") },
      { kind: "new", key: "d" },
    ];
    expect(
      cutWindow(
        actions,
        new Map([
          ["a", 40],
          ["b", 999],
          ["d", 40],
        ]),
        settings,
      ),
    ).toEqual({ at: 4, large: null });
  });

  it("stops when the next read would exceed the budget, but always takes one object", () => {
    const actions: MergeAction[] = [
      { kind: "new", key: "a" },
      { kind: "new", key: "b" },
      { kind: "new", key: "c" },
    ];
    expect(
      cutWindow(
        actions,
        new Map([
          ["a", 45],
          ["b", 45],
          ["c", 45],
        ]),
        settings,
      ),
    ).toEqual({ at: 2, large: null });
    expect(
      cutWindow(
        actions,
        new Map([
          ["a", 45],
          ["b", 45],
          ["c", 45],
        ]),
        { ...settings, stepByteBudget: 10 },
      ),
    ).toEqual({ at: 1, large: null });
  });

  it("stops before an object above the multipart threshold and hands it over", () => {
    const large: MergeAction = { kind: "modified", key: "b", previous: entry("b") };
    expect(
      cutWindow(
        [{ kind: "new", key: "a" }, large, { kind: "new", key: "c" }],
        new Map([
          ["a", 1],
          ["b", 51],
          ["c", 1],
        ]),
        settings,
      ),
    ).toEqual({ at: 1, large });
  });
});
