/**
 * Property-based tests (fast-check) of the pure decisions: the listing merge against a simple
 * model of a bucket's history, and restore filters (from the API body to the decision) against
 * a model written independently of the code.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareKeys } from "../../durable-objects/engine/format/key-order";
import { mergeListing, withinWindow, type ListedObject } from "../../durable-objects/engine/backup/listing-merge";
import type { ManifestEntry } from "../../durable-objects/engine/format/manifest";
import { entryMatches } from "../../durable-objects/engine/restore/restore-filter";
import { restoreBody } from "../../workers/schemas";

const AT = Date.parse("2026-11-01T00:00:00.000Z");
const keyArb = fc.string({ unit: fc.constantFrom("a", "b", "/", "é", "0", "Z", "日"), minLength: 1, maxLength: 6 });

/** A bucket as the model sees it: key → version number. */
const bucketArb = fc.dictionary(keyArb, fc.nat({ max: 3 }), { maxKeys: 25 });

const sorted = <T extends { key: string }>(items: T[]) => [...items].sort((a, b) => compareKeys(a.key, b.key));
const asEntry = (key: string, version: number): ManifestEntry => ({
  key,
  size: version,
  etag: `${key}#${version}`,
  lastModified: new Date(AT).toISOString(),
  sha256: `${version}`,
  blob: `b${version}`,
  httpMetadata: {},
  customMetadata: {},
});
const asListed = (key: string, version: number): ListedObject => ({
  key,
  etag: `${key}#${version}`,
  size: version,
  uploaded: new Date(AT),
});

describe("listing merge against a model of the bucket", () => {
  it("whatever the parent and the bucket, the merged snapshot is exactly the bucket, and only changed keys are read", () => {
    fc.assert(
      fc.property(bucketArb, bucketArb, (before, after) => {
        const parent = sorted(Object.entries(before).map(([k, v]) => asEntry(k, v)));
        const listed = sorted(Object.entries(after).map(([k, v]) => asListed(k, v)));
        const actions = mergeListing(listed, parent);
        const snapshot = actions.filter((a) => a.kind !== "deleted").map((a) => a.key);
        expect(snapshot).toEqual(listed.map((l) => l.key));
        for (const action of actions) {
          const inBefore = action.key in before;
          const inAfter = action.key in after;
          const expected = !inAfter
            ? "deleted"
            : !inBefore
              ? "new"
              : before[action.key] === after[action.key]
                ? "unchanged"
                : "modified";
          expect(action.kind).toBe(expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("merging window by window gives the same actions as merging everything at once", () => {
    fc.assert(
      fc.property(bucketArb, bucketArb, fc.array(keyArb, { maxLength: 4 }), (before, after, cuts) => {
        const parent = sorted(Object.entries(before).map(([k, v]) => asEntry(k, v)));
        const listed = sorted(Object.entries(after).map(([k, v]) => asListed(k, v)));
        const whole = mergeListing(listed, parent);
        const ends: (string | null)[] = [...new Set(cuts)].sort(compareKeys);
        ends.push(null);
        const pieces = [];
        let from: string | null = null;
        for (const end of ends) {
          const inside = (key: string) => (from === null || compareKeys(key, from) > 0) && withinWindow(key, end);
          pieces.push(
            ...mergeListing(
              listed.filter((l) => inside(l.key)),
              parent.filter((p) => inside(p.key)),
            ),
          );
          from = end;
        }
        expect(pieces).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });
});

describe("restore filters against a model", () => {
  const day = fc.integer({ min: 0, max: 60 }).map((d) => new Date(AT + d * 86_400_000).toISOString().slice(0, 10));
  const extension = fc.constantFrom("csv", "CSV", ".csv", "txt", ".TxT", "json", "gz");
  const objectKey = fc
    .tuple(
      fc.constantFrom("", "users/", "users/42/", "reports/"),
      fc.constantFrom("a", "b.c", "data", ".hidden", "x."),
      fc.constantFrom("", ".csv", ".CSV", ".txt", ".json", ".tar.gz"),
    )
    .map(([p, n, e]) => `${p}${n}${e}`);
  const modified = fc.integer({ min: -2, max: 62 * 24 }).map((h) => new Date(AT + h * 3_600_000).toISOString());

  /** The model: written from the contract's words, not from the code. */
  function model(
    filters: { pathPrefix?: string; fileExtensions?: string[]; dateRange?: { start?: string; end?: string } },
    key: string,
    lastModified: string,
  ): boolean {
    if (filters.pathPrefix && !key.startsWith(filters.pathPrefix)) return false;
    if (filters.fileExtensions) {
      const name = key.split("/").pop()!;
      const dot = name.lastIndexOf(".");
      if (dot <= 0 || dot === name.length - 1) return false;
      const wanted = filters.fileExtensions.map((e) => e.replace(/^\./, "").toLowerCase());
      if (!wanted.includes(name.slice(dot + 1).toLowerCase())) return false;
    }
    const dayOf = lastModified.slice(0, 10);
    if (filters.dateRange?.start && dayOf < filters.dateRange.start) return false;
    if (filters.dateRange?.end && dayOf > filters.dateRange.end) return false;
    return true;
  }

  it("selects exactly what the contract says, for any filter the API accepts", () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            pathPrefix: fc.constantFrom("users/", "users/4", "reports/", "nothing/"),
            fileExtensions: fc.uniqueArray(extension, { minLength: 1, maxLength: 3 }),
            dateRange: fc.tuple(day, day).map(([a, b]) => (a <= b ? { start: a, end: b } : { start: b, end: a })),
          },
          { requiredKeys: [] },
        ),
        objectKey,
        modified,
        (filters, key, lastModified) => {
          const body = restoreBody.parse({ filters });
          const filter = {
            pathPrefix: body.filters.pathPrefix,
            extensions: body.filters.fileExtensions ?? [],
            modifiedFrom: body.filters.dateRange?.start ?? null,
            modifiedTo: body.filters.dateRange?.end ?? null,
          };
          expect(entryMatches(filter, { key, lastModified })).toBe(model(filters, key, lastModified));
        },
      ),
      { numRuns: 500 },
    );
  });
});
