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
import {
  entryMatches,
  restoreFilterOf,
  type RequestedFilters,
} from "../../durable-objects/engine/restore/restore-filter";
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

  const glob = fc
    .array(fc.constantFrom("users/", "*", "**", "**/", "?", "a", ".csv", "reports/", "/", "4"), {
      minLength: 1,
      maxLength: 4,
    })
    .map((pieces) => pieces.join(""));
  const contentType = fc.constantFrom(undefined, "text/csv", "text/plain; charset=utf-8", "image/png", "IMAGE/PNG");

  /** A glob, read from the contract's words by recursion over the pattern (no regular expression). */
  function globModel(pattern: string, key: string): boolean {
    if (pattern === "") return key === "";
    if (pattern.startsWith("**/")) {
      const rest = pattern.slice(3);
      return globModel(rest, key) || [...key].some((c, i) => c === "/" && globModel(rest, key.slice(i + 1)));
    }
    if (pattern.startsWith("**"))
      return Array.from({ length: key.length + 1 }, (_, i) => i).some((i) => globModel(pattern.slice(2), key.slice(i)));
    if (pattern[0] === "*") {
      for (let i = 0; i <= key.length; i++) {
        if (globModel(pattern.slice(1), key.slice(i))) return true;
        if (key[i] === "/") return false;
      }
      return false;
    }
    if (pattern[0] === "?") return key.length > 0 && key[0] !== "/" && globModel(pattern.slice(1), key.slice(1));
    return key[0] === pattern[0] && globModel(pattern.slice(1), key.slice(1));
  }

  /** What a request may name, every filter optional. */
  type Filters = Partial<RequestedFilters>;

  /** The model: written from the contract's words, not from the code. */
  function model(filters: Filters, key: string, lastModified: string, size: number, type: string | undefined): boolean {
    if (filters.pathPrefix && !key.startsWith(filters.pathPrefix)) return false;
    if (filters.exclude?.some((g) => globModel(g, key))) return false;
    if (filters.include && !filters.include.some((g) => globModel(g, key))) return false;
    if (filters.sizeRange?.min !== undefined && size < filters.sizeRange.min) return false;
    if (filters.sizeRange?.max !== undefined && size > filters.sizeRange.max) return false;
    if (filters.contentTypes) {
      const bare = type?.split(";")[0]!.trim().toLowerCase();
      const wanted = (t: string) => (t.endsWith("/*") ? bare?.startsWith(t.slice(0, -1)) : bare === t);
      if (!bare || !filters.contentTypes.some(wanted)) return false;
    }
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
            include: fc.array(glob, { minLength: 1, maxLength: 3 }),
            exclude: fc.array(glob, { minLength: 1, maxLength: 2 }),
            sizeRange: fc
              .tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }))
              .map(([a, b]) => ({ min: Math.min(a, b), max: Math.max(a, b) })),
            contentTypes: fc.uniqueArray(fc.constantFrom("text/csv", "text/*", "image/png", "application/json"), {
              minLength: 1,
              maxLength: 2,
            }),
          },
          { requiredKeys: [] },
        ),
        objectKey,
        modified,
        fc.integer({ min: 0, max: 300 }),
        contentType,
        (filters, key, lastModified, size, type) => {
          const filter = restoreFilterOf(restoreBody.parse({ filters }).filters);
          const entry = { key, lastModified, size, httpMetadata: type ? { contentType: type } : {} };
          expect(entryMatches(filter, entry)).toBe(model(filters, key, lastModified, size, type));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
