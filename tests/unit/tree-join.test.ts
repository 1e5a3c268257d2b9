/**
 * Joining trees (engine/format/tree-edit.ts, joinTrees): a fanned-out backup's shards each build
 * the tree of their own key range from its start; the tree joined from theirs must be exactly the
 * tree one build of all the entries makes (the same root chunk), whatever the split points, the
 * tree shape, or empty shards; and the join must read only around the seams.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareKeys } from "../../durable-objects/engine/format/key-order";
import type { TreeShape } from "../../durable-objects/engine/format/manifest-tree";
import type { ChunkRef } from "../../durable-objects/engine/format/manifest-tree";
import { joinTrees } from "../../durable-objects/engine/format/tree-edit";
import type { TreeNodes } from "../../durable-objects/engine/format/tree-diff";
import { HeldCalls } from "../helpers/held-calls";
import { entryOf, TreeStore } from "../helpers/tree-store";

/** A store whose reads wait until released: what a join has in flight before any read returns. */
class HeldReads implements TreeNodes {
  readonly calls = new HeldCalls();
  constructor(
    readonly store: TreeStore,
    readonly failing: string | null = null,
  ) {}
  private read<T>(ref: ChunkRef, read: () => Promise<T>): Promise<T> {
    return this.calls.hold().then(() => {
      if (ref.name === this.failing) throw new Error(`chunk ${ref.name} cannot be read`);
      return read();
    });
  }
  children(ref: ChunkRef) {
    return this.read(ref, () => this.store.children(ref));
  }
  entries(ref: ChunkRef) {
    return this.read(ref, () => this.store.entries(ref));
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Trees of `shards` runs of `perShard` consecutive keys, each built apart, in one store. */
async function shardTrees(shards: number, perShard: number) {
  const shape = { leafModulus: 100, pageModulus: 32 };
  const entries = Array.from({ length: shards * perShard }, (_, i) => entryOf(`k/${String(i).padStart(7, "0")}`, 1));
  const store = new TreeStore(shape);
  const roots: ChunkRef[] = [];
  const cuts = Array.from({ length: shards - 1 }, (_, i) => (i + 1) * perShard);
  for (const part of split(entries, cuts)) roots.push((await store.build(part)).root!);
  return { shape, entries, store, roots };
}

/** As in tree-edit.test.ts: small fanouts, and shapes whose chunks end at the hard maximums. */
const SHAPES: TreeShape[] = [
  { leafModulus: 8, pageModulus: 4 },
  { leafModulus: 3, pageModulus: 2 },
  { leafModulus: 1_000_000_007, pageModulus: 4 },
  { leafModulus: 2, pageModulus: 1_000_000_007 },
];

const keyArb = fc
  .tuple(fc.constantFrom("a/", "b/", "b/x/", "c/", "é/"), fc.integer({ min: 0, max: 3_000 }))
  .map(([folder, n]) => `${folder}${String(n).padStart(4, "0")}`);

/** The keys split at `cuts` (positions, any order, duplicates allowed: empty ranges). */
function split<T>(items: readonly T[], cuts: readonly number[]): T[][] {
  const at = [...new Set(cuts.map((c) => Math.min(c, items.length)))].sort((x, y) => x - y);
  const parts: T[][] = [];
  let from = 0;
  for (const cut of [...at, items.length]) {
    parts.push(items.slice(from, cut));
    from = cut;
  }
  return parts;
}

describe("joining the trees of consecutive key ranges", () => {
  it("makes the tree one build of all the entries makes, for any split (shards of any size, empty ones too)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...SHAPES),
        fc.uniqueArray(keyArb, { maxLength: 2_500 }),
        fc.array(fc.nat({ max: 2_600 }), { maxLength: 12 }),
        async (shape, keys, cuts) => {
          const entries = [...keys].sort(compareKeys).map((key) => entryOf(key, 1));
          const store = new TreeStore(shape);
          const roots = [];
          for (const part of split(entries, cuts)) roots.push((await store.build(part)).root);
          const joined = await joinTrees(store, roots, null, shape);
          const expected = await new TreeStore(shape).build(entries);
          expect(joined.root).toEqual(expected.root);
          // What the join writes belongs to the result: no chunk of some tree in between.
          const names = new Set(expected.chunks.map((c) => c.ref.name));
          for (const chunk of joined.chunks) expect(names.has(chunk.ref.name)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("reads around the seams only: 8 shards of 200,000 entries", async () => {
    const { shape, entries, store, roots } = await shardTrees(8, 25_000);
    store.reads = 0;
    store.readsOf.clear();
    const joined = await joinTrees(store, roots, null, shape);
    expect(joined.root).toEqual((await new TreeStore(shape).build(entries)).root);
    // About 2,000 leaves in all; the join reads a few chunks per level at each of the 7 seams,
    // each once (what it fetched ahead it takes, never reads again).
    expect(store.reads).toBeLessThan(7 * 12);
    expect(Math.max(...store.readsOf.values())).toBe(1);
    expect(joined.chunks.length).toBeLessThan(7 * 8 + 4);
  });

  it("fetches the next trees' edges while it walks one: 4 reads in flight at its start", async () => {
    const { shape, entries, store, roots } = await shardTrees(8, 2_000);
    const reads = new HeldReads(store);
    const join = joinTrees(reads, roots, null, shape);
    await tick();
    // The first tree's root page, and the next three trees' (their edges follow as they return);
    // read one after another, only the first tree's was.
    expect(reads.calls.waiting).toHaveLength(4);
    await reads.calls.releaseUntil(join);
    expect((await join).root).toEqual((await new TreeStore(shape).build(entries)).root);
    await tick();
    expect(reads.calls.waiting, "no read outlives the join").toHaveLength(0);
  });

  it("fails with the error of a chunk it needed and fetched ahead", async () => {
    const { shape, store, roots } = await shardTrees(4, 2_000);
    // The third tree's root: fetched ahead at the start, taken by the walk at the second seam.
    const reads = new HeldReads(store, roots[2]!.name);
    const join = joinTrees(reads, roots, null, shape);
    await reads.calls.releaseUntil(join);
    await expect(join).rejects.toThrow(`chunk ${roots[2]!.name} cannot be read`);
    await tick();
    expect(reads.calls.waiting, "no read outlives the join").toHaveLength(0);
  });

  it("refuses trees out of key order, and joins nothing into the empty tree", async () => {
    const shape = SHAPES[0]!;
    const store = new TreeStore(shape);
    const first = (await store.build([entryOf("a", 1)])).root;
    const second = (await store.build([entryOf("b", 1)])).root;
    await expect(joinTrees(store, [second, first], null, shape)).rejects.toThrow(/key order/);
    expect(await joinTrees(store, [null, null], null, shape)).toEqual({ root: null, chunks: [] });
  });
});
