/**
 * Edits by path (engine/format/tree-edit.ts): the tree a batch of named changes makes from its
 * parent's tree is exactly the tree a full build of the resulting entries makes (history
 * independence), for random trees, random batches applied one after another (as a backup's steps
 * apply them), and tree shapes where leaves and pages end at their hard maximum instead of at a
 * content-defined boundary. And it reads only the chunks on the paths to the changes.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareKeys } from "../../durable-objects/engine/format/key-order";
import type { ManifestEntry } from "../../durable-objects/engine/format/manifest-entry";
import { DEFAULT_TREE_SHAPE, type TreeShape } from "../../durable-objects/engine/format/manifest-tree";
import { editTree, type TreeEdit } from "../../durable-objects/engine/format/tree-edit";
import { entryOf, TreeStore } from "../helpers/tree-store";

/**
 * Shapes: small fanouts (several levels from a few hundred keys), and cut rules that almost never
 * fire, so leaves end at 400 entries and pages at 128 children: the hard maximums, whose cuts
 * depend on where a chunk began and so must be resynchronised after an edit.
 */
const SHAPES: TreeShape[] = [
  { leafModulus: 8, pageModulus: 4 },
  { leafModulus: 3, pageModulus: 2 },
  { leafModulus: 1_000_000_007, pageModulus: 4 },
  { leafModulus: 2, pageModulus: 1_000_000_007 },
];

const FOLDERS = ["a/", "b/", "b/x/", "c/", "é/"];
const keyArb = (width: number) =>
  fc
    .tuple(fc.constantFrom(...FOLDERS), fc.integer({ min: 0, max: width }))
    .map(([folder, n]) => `${folder}${String(n).padStart(4, "0")}`);

type Change =
  | { kind: "put"; key: string; version: number }
  | { kind: "delete"; key: string }
  | { kind: "dropRange"; from: string; count: number }
  /** Everything but the last `count` keys deleted: the right spine left alone over nothing. */
  | { kind: "keepTail"; count: number };

const changeArb = (width: number): fc.Arbitrary<Change> =>
  fc.oneof(
    fc.record({ kind: fc.constant("put" as const), key: keyArb(width), version: fc.integer({ min: 2, max: 6 }) }),
    fc.record({ kind: fc.constant("delete" as const), key: keyArb(width) }),
    fc.record({
      kind: fc.constant("dropRange" as const),
      from: keyArb(width),
      count: fc.integer({ min: 1, max: 500 }),
    }),
    fc.record({ kind: fc.constant("keepTail" as const), count: fc.integer({ min: 0, max: 40 }) }),
  );

/** A batch of changes as named edits over `state`: each key's final state, in key order. */
function editsOf(state: Map<string, ManifestEntry>, changes: readonly Change[]): TreeEdit[] {
  const next = new Map<string, ManifestEntry | null>();
  for (const change of changes) {
    if (change.kind === "put") next.set(change.key, entryOf(change.key, change.version));
    else if (change.kind === "delete") next.set(change.key, null);
    else if (change.kind === "keepTail") {
      const keys = [...state.keys()].sort(compareKeys);
      for (const key of keys.slice(0, Math.max(0, keys.length - change.count))) next.set(key, null);
    } else {
      const keys = [...state.keys()].filter((k) => compareKeys(k, change.from) >= 0).sort(compareKeys);
      for (const key of keys.slice(0, change.count)) next.set(key, null);
    }
  }
  return [...next].sort(([a], [b]) => compareKeys(a, b)).map(([key, entry]) => ({ key, entry }));
}

function applyTo(state: Map<string, ManifestEntry>, edits: readonly TreeEdit[]): void {
  for (const { key, entry } of edits) {
    if (entry) state.set(key, entry);
    else state.delete(key);
  }
}

describe("tree edits by path", () => {
  it("build the same tree as a full listing of the same entries, batch after batch (history independence)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...SHAPES),
        fc
          .integer({ min: 50, max: 1_500 })
          .chain((width) =>
            fc.tuple(
              fc.uniqueArray(keyArb(width), { maxLength: 1_200 }),
              fc.array(fc.array(changeArb(width), { maxLength: 30 }), { minLength: 1, maxLength: 4 }),
            ),
          ),
        async (shape, [keys, batches]) => {
          const store = new TreeStore(shape);
          const state = new Map(keys.map((key) => [key, entryOf(key, 1)]));
          let root = (await store.build([...state.values()])).root;
          for (const batch of batches) {
            const edits = editsOf(state, batch);
            const edited = await editTree(store, root, edits, null, shape);
            store.store(edited.chunks);
            applyTo(state, edits);
            const expected = await new TreeStore(shape).build([...state.values()]);
            expect(edited.root).toEqual(expected.root);
            // Everything the edit wrote is part of the resulting tree: no chunk of a tree in between.
            const names = new Set(expected.chunks.map((c) => c.ref.name));
            for (const chunk of edited.chunks) expect(names.has(chunk.ref.name)).toBe(true);
            root = edited.root;
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("deleting everything before a last page of one child leaves the tree a full build makes (the root one level down)", async () => {
    const shape = SHAPES[0]!;
    let cases = 0;
    for (let n = 20; n <= 600 && cases < 5; n += 7) {
      const store = new TreeStore(shape);
      const entries = Array.from({ length: n }, (_, i) => entryOf(`k/${String(i).padStart(4, "0")}`, 1));
      const { root } = await store.build(entries);
      // Down the right spine to a page with a single child, with something before it.
      let page = root;
      while (page && page.level > 0) {
        const children = await store.children(page);
        const last = children.at(-1)!;
        if (last.level > 0 && (await store.children(last)).length === 1 && last.firstKey !== entries[0]!.key) {
          page = last;
          break;
        }
        page = last.level > 0 ? last : null;
      }
      if (!page || page.level === 0) continue;
      cases += 1;
      const before = entries.filter((e) => compareKeys(e.key, page!.firstKey) < 0);
      const edited = await editTree(
        store,
        root,
        before.map((e) => ({ key: e.key, entry: null })),
        null,
        shape,
      );
      const expected = await new TreeStore(shape).build(entries.filter((e) => compareKeys(e.key, page!.firstKey) >= 0));
      expect(edited.root).toEqual(expected.root);
    }
    expect(cases).toBeGreaterThan(0);
  });

  it("a no-op batch (an unchanged entry put again, a missing key deleted) keeps the same root", async () => {
    const store = new TreeStore(SHAPES[0]!);
    const entries = Array.from({ length: 300 }, (_, i) => entryOf(`k/${String(i).padStart(4, "0")}`, 1));
    const { root } = await store.build(entries);
    const edited = await editTree(
      store,
      root,
      [
        { key: "k/0100", entry: entries[100]! },
        { key: "k/0100x", entry: null },
      ],
      null,
      SHAPES[0],
    );
    expect(edited.root).toEqual(root);
  });

  it("turns an empty tree into a tree, and a tree into an empty one", async () => {
    const shape = SHAPES[0]!;
    const store = new TreeStore(shape);
    const entries = Array.from({ length: 120 }, (_, i) => entryOf(`k/${String(i).padStart(4, "0")}`, 1));
    const built = await editTree(
      store,
      null,
      entries.map((entry) => ({ key: entry.key, entry })),
      null,
      shape,
    );
    expect(built.root).toEqual((await new TreeStore(shape).build(entries)).root);
    store.store(built.chunks);
    const emptied = await editTree(
      store,
      built.root,
      entries.map((e) => ({ key: e.key, entry: null })),
      null,
      shape,
    );
    expect(emptied).toEqual({ root: null, chunks: [] });
  });

  it("refuses edits out of key order", async () => {
    await expect(
      editTree(
        new TreeStore(SHAPES[0]!),
        null,
        [
          { key: "b", entry: null },
          { key: "a", entry: null },
        ],
        null,
      ),
    ).rejects.toThrow(/key order/);
  });

  it("reads and writes O(log N) chunks for one changed key: 2,000 against 200,000 entries", async () => {
    const shape = DEFAULT_TREE_SHAPE;
    const figures: { n: number; read: number; written: number }[] = [];
    for (const n of [2_000, 20_000, 200_000]) {
      const store = new TreeStore(shape);
      const keys = Array.from({ length: n }, (_, i) => `data/${String(i).padStart(7, "0")}`);
      const { root } = await store.build(keys.map((key) => entryOf(key, 1)));
      let read = 0;
      let written = 0;
      // Three keys at different places, each edited alone: the worst of them counts.
      for (const at of [0.1, 0.5, 0.9]) {
        const key = keys[Math.floor(n * at)]!;
        store.reads = 0;
        const edited = await editTree(store, root, [{ key, entry: entryOf(key, 2) }], null, shape);
        read = Math.max(read, store.reads);
        written = Math.max(written, edited.chunks.length);
      }
      figures.push({ n, read, written });
    }
    console.log(
      `tree edit, one key: ${figures.map((f) => `${f.n} entries: ${f.read} read, ${f.written} written`).join("; ")}`,
    );
    const [small, , large] = figures;
    // Depth grows by one level from 2,000 to 200,000 entries (about 32 leaves a page): the work
    // per edit is a path plus the neighbours where boundaries resynchronise.
    expect(large!.read).toBeLessThanOrEqual(2 * small!.read);
    expect(large!.written).toBeLessThanOrEqual(2 * small!.written);
    expect(large!.read).toBeLessThan(20);
  });
});
