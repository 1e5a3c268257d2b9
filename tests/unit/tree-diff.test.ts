/**
 * The diff of two manifest trees (engine/format/tree-diff.ts): the same changes as a plain merge
 * of both key lists, in every page size and under any prefix (fast-check over random histories),
 * and reading only the chunks a change touches.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareKeys } from "../../durable-objects/engine/format/key-order";
import type { ManifestEntry } from "../../durable-objects/engine/format/manifest-entry";
import type { ChunkRef, TreeShape } from "../../durable-objects/engine/format/manifest-tree";
import { diffTrees, sameObject, type KeyChange } from "../../durable-objects/engine/format/tree-diff";
import { entryOf, TreeStore } from "../helpers/tree-store";

/** Small fanout: a few hundred keys make a tree of three or four levels. */
const SHAPE: TreeShape = { leafModulus: 8, pageModulus: 4 };

const buildRoot = async (store: TreeStore, entries: readonly ManifestEntry[]) => (await store.build(entries)).root;

/** The changes by a plain merge of both snapshots' entries: what the tree walk must equal. */
function naiveDiff(before: readonly ManifestEntry[], after: readonly ManifestEntry[], prefix = ""): KeyChange[] {
  const olds = new Map(before.map((e) => [e.key, e]));
  const news = new Map(after.map((e) => [e.key, e]));
  const keys = [...new Set([...olds.keys(), ...news.keys()])].filter((k) => k.startsWith(prefix)).sort(compareKeys);
  return keys.flatMap((key): KeyChange[] => {
    const [a, b] = [olds.get(key) ?? null, news.get(key) ?? null];
    if (a && b) return sameObject(a, b) ? [] : [{ key, change: "modified", before: a, after: b }];
    return [{ key, change: a ? "deleted" : "added", before: a, after: b }];
  });
}

async function allPages(store: TreeStore, from: ChunkRef | null, to: ChunkRef | null, prefix: string, limit: number) {
  const changes: KeyChange[] = [];
  let after: string | null = null;
  for (let pages = 0; ; pages++) {
    if (pages > 10_000) throw new Error("the diff does not end");
    const page = await diffTrees(store, from, to, { prefix, after, limit });
    changes.push(...page.changes);
    if (page.after === null) return changes;
    expect(page.changes.length).toBe(limit); // a page is cut short only at the end
    after = page.after;
  }
}

const FOLDERS = ["a/", "b/", "b/x/", "c/", "é/"];
const keyArb = fc
  .tuple(fc.constantFrom(...FOLDERS), fc.integer({ min: 0, max: 120 }))
  .map(([folder, n]) => `${folder}${String(n).padStart(3, "0")}`);

/** Edits of a history: puts of new content, metadata-only changes, rewrites of the same bytes, deletes of keys and of folders. */
const editArb = fc.oneof(
  fc.record({ kind: fc.constant("put" as const), key: keyArb, version: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ kind: fc.constant("retype" as const), key: keyArb }),
  fc.record({ kind: fc.constant("touch" as const), key: keyArb }),
  fc.record({ kind: fc.constant("delete" as const), key: keyArb }),
  fc.record({ kind: fc.constant("dropFolder" as const), folder: fc.constantFrom(...FOLDERS) }),
);

type Edit = typeof editArb extends fc.Arbitrary<infer T> ? T : never;

function applyEdits(base: Map<string, ManifestEntry>, edits: readonly Edit[]): Map<string, ManifestEntry> {
  const next = new Map(base);
  for (const edit of edits) {
    if (edit.kind === "put") next.set(edit.key, entryOf(edit.key, edit.version));
    else if (edit.kind === "retype" && next.has(edit.key))
      next.set(edit.key, { ...next.get(edit.key)!, httpMetadata: { contentType: "application/x-new" } });
    else if (edit.kind === "touch" && next.has(edit.key))
      next.set(edit.key, { ...next.get(edit.key)!, etag: "rewritten", lastModified: "2026-12-01T00:00:00.000Z" });
    else if (edit.kind === "delete") next.delete(edit.key);
    else if (edit.kind === "dropFolder")
      for (const key of [...next.keys()]) if (key.startsWith(edit.folder)) next.delete(key);
  }
  return next;
}

describe("tree diff", () => {
  it("equals a plain merge of both snapshots, for any history, page size and prefix", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(keyArb, { maxLength: 400 }),
        fc.array(editArb, { maxLength: 40 }),
        fc.integer({ min: 1, max: 50 }),
        fc.constantFrom("", "b/", "b/x/", "c/0", "é/", "z/"),
        async (keys, edits, limit, prefix) => {
          const base = new Map(keys.map((key) => [key, entryOf(key, 1)]));
          const changed = applyEdits(base, edits);
          const store = new TreeStore(SHAPE);
          const from = await buildRoot(store, [...base.values()]);
          const to = await buildRoot(store, [...changed.values()]);
          const expected = naiveDiff([...base.values()], [...changed.values()], prefix);
          expect(await allPages(store, from, to, prefix, limit)).toEqual(expected);
          // And the other way round: added and deleted swap.
          const backwards = await allPages(store, to, from, prefix, 1000);
          expect(backwards.map((c) => [c.key, c.change])).toEqual(
            expected.map((c) => [
              c.key,
              c.change === "added" ? "deleted" : c.change === "deleted" ? "added" : "modified",
            ]),
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it("a rewrite of the same bytes (a new etag or upload time) is no change; new metadata is", async () => {
    const store = new TreeStore(SHAPE);
    const before = [entryOf("a", 1), entryOf("b", 1)];
    const from = await buildRoot(store, before);
    const to = await buildRoot(store, [
      { ...before[0]!, etag: "again", lastModified: "2026-12-02T00:00:00.000Z" },
      { ...before[1]!, httpMetadata: { contentType: "image/png" } },
    ]);
    expect((await diffTrees(store, from, to, { limit: 10 })).changes.map((c) => [c.key, c.change])).toEqual([
      ["b", "modified"],
    ]);
  });

  it("compares an empty snapshot with a full one, both ways", async () => {
    const store = new TreeStore(SHAPE);
    const entries = Array.from({ length: 50 }, (_, i) => entryOf(`k${String(i).padStart(2, "0")}`, 1));
    const full = await buildRoot(store, entries);
    expect((await allPages(store, null, full, "", 7)).map((c) => c.change)).toEqual(entries.map(() => "added"));
    expect((await allPages(store, full, null, "", 7)).map((c) => c.change)).toEqual(entries.map(() => "deleted"));
    expect(await diffTrees(store, full, full, { limit: 10 })).toEqual({ changes: [], after: null });
  });

  it("reads only the chunks on the paths to a change: a few keys changed among 20,000", async () => {
    const store = new TreeStore(SHAPE);
    const keys = Array.from({ length: 20_000 }, (_, i) => `data/${String(i).padStart(6, "0")}`);
    const base = keys.map((key) => entryOf(key, 1));
    const from = await buildRoot(store, base);
    const changed = [...base];
    changed[7_000] = entryOf(keys[7_000]!, 2);
    changed.splice(15_000, 1);
    const to = await buildRoot(store, changed);
    const total = store.texts.size;
    store.reads = 0;
    const changes = await allPages(store, from, to, "", 100);
    expect(changes.map((c) => [c.key, c.change])).toEqual([
      [keys[7_000], "modified"],
      [keys[15_000], "deleted"],
    ]);
    // Two changes, each on one path from the root in both trees, plus neighbours where a
    // boundary moved: a small number, far below the thousands of chunks of both trees.
    console.log(`tree diff: 2 changes among 20,000 keys read ${store.reads} of ${total} chunks`);
    expect(store.reads).toBeLessThan(80);
    expect(total).toBeGreaterThan(3_000);
  });
});
