/**
 * The walk that turns what each backup says of one key into versions (engine/key-history.ts):
 * runs of the same object, deletions between them, backups that cannot say passed over, and
 * pages that resume where the last one stopped, giving what one long walk gives.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ManifestEntry } from "../../durable-objects/engine/format/manifest";
import { KeyVersionWalk, type KeyObservation, type KeyVersion } from "../../durable-objects/engine/key-history";

const entry = (content: string): ManifestEntry => ({
  key: "docs/a.txt",
  size: content.length,
  etag: `etag-${content}`,
  lastModified: `2026-11-0${content.length % 9}T00:00:00.000Z`,
  sha256: `sha-${content}`,
  blob: `blobs/${content}`,
  httpMetadata: {},
  customMetadata: {},
});

type Seen = string | "absent" | "unknown";

/** Observations newest first: backup i is `b<i>`, taken at day 100 - i. */
function observations(seen: readonly Seen[]): KeyObservation[] {
  return seen.map((s, i) => ({
    backupId: `b${i}`,
    at: `day-${String(100 - i).padStart(3, "0")}`,
    seen: s === "absent" || s === "unknown" ? { kind: s } : { kind: "present", entry: entry(s) },
  }));
}

function walkAll(seen: readonly Seen[], limit = 1000) {
  const walk = new KeyVersionWalk(limit);
  for (const o of observations(seen)) walk.observe(o);
  return walk.finish();
}

/** Every page of `limit` versions, each resuming at the observation the previous one stopped on. */
function walkInPages(seen: readonly Seen[], limit: number) {
  const all = observations(seen);
  const versions: KeyVersion[] = [];
  let start = 0;
  let carried: string | null = null;
  for (;;) {
    const walk: KeyVersionWalk = new KeyVersionWalk(limit, carried);
    let i = start;
    while (i < all.length && walk.observe(all[i]!)) i++;
    const page: ReturnType<KeyVersionWalk["finish"]> = walk.finish();
    versions.push(...page.versions);
    if (!page.next) return versions;
    expect(page.next.backupId).toBe(all[i]!.backupId);
    [start, carried] = [i, page.next.absentSince];
  }
}

describe("the versions of one key", () => {
  it("groups runs of the same object, dates deletions, and passes over backups that cannot say", () => {
    const { versions, next } = walkAll(["absent", "absent", "new", "unknown", "new", "old", "absent", "old", "old"]);
    expect(next).toBeNull();
    expect(
      versions.map((v) => [v.entry.sha256, v.lastBackupId, v.firstBackupId, v.deletedAt, v.backupIds.join(",")]),
    ).toEqual([
      // Gone in the two newest backups: deleted at the older of them.
      ["sha-new", "b2", "b4", "day-099", "b2,b4"],
      ["sha-old", "b5", "b5", null, "b5"],
      // The same content again before a deletion is another version.
      ["sha-old", "b7", "b8", "day-094", "b7,b8"],
    ]);
  });

  it("stops a page at the start of the version past its limit, and the next page carries on", () => {
    const first = walkAll(["c", "absent", "b", "b", "a"], 1);
    expect(first.versions.map((v) => v.entry.sha256)).toEqual(["sha-c"]);
    expect(first.next).toEqual({ backupId: "b2", at: "day-098", absentSince: "day-099" });
    expect(walkInPages(["c", "absent", "b", "b", "a"], 1).map((v) => [v.entry.sha256, v.deletedAt])).toEqual([
      ["sha-c", null],
      ["sha-b", "day-099"],
      ["sha-a", null],
    ]);
  });

  it("gives the same versions in pages of any size as in one walk", () => {
    const seen = fc.array(fc.constantFrom<Seen>("a", "b", "c", "absent", "unknown"), { maxLength: 40 });
    fc.assert(
      fc.property(seen, fc.integer({ min: 1, max: 5 }), (states, limit) => {
        expect(walkInPages(states, limit)).toEqual(walkAll(states).versions);
      }),
    );
  });
});
