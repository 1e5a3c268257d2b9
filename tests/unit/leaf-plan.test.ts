/**
 * Runs of a snapshot's leaves of nearly equal objects (engine/leaf-plan.ts), over real trees
 * built in memory: content-defined leaves hold unequal counts, so equal runs of leaves do not
 * balance, and the plan must; it reads a page once, a few a cut at most, estimates where a page
 * cannot be read, and always gives each shard at least one leaf.
 */
import { describe, expect, it } from "vitest";
import { balancedLeafRanges, type PageChildren } from "../../durable-objects/engine/leaf-plan";
import { leafRanges, type LeafRange } from "../../durable-objects/engine/leaf-fan-out";
import type { ChunkRef } from "../../durable-objects/engine/format/manifest-tree";
import { entryOf, TreeStore } from "../helpers/tree-store";

/** A tree over `n` keys with leaves of about `leafModulus` entries (and pages of about 32 children). */
async function treeOf(n: number, leafModulus = 100) {
  const store = new TreeStore({ leafModulus, pageModulus: 32 });
  const keys = Array.from({ length: n }, (_, i) => `k/${String(i).padStart(8, "0")}`);
  const { root } = await store.build(keys.map((key) => entryOf(key, 1)));
  store.reads = 0;
  return { store, root: root! };
}

/** Each leaf's entries, in order (read from the store without counting). */
async function leafEntries(store: TreeStore, root: ChunkRef): Promise<number[]> {
  const reads = store.reads;
  const walk = async (ref: ChunkRef): Promise<number[]> =>
    ref.level === 0 ? [ref.entries] : (await Promise.all((await store.children(ref)).map(walk))).flat();
  const counts = await walk(root);
  store.reads = reads;
  return counts;
}

const objectsIn = (perLeaf: number[], ranges: LeafRange[]) =>
  ranges.map((r) => perLeaf.slice(r.fromLeaf, r.toLeaf).reduce((sum, n) => sum + n, 0));

const OPTIONS = { precision: 1, concurrency: 6 };

describe("planning runs of leaves of nearly equal objects", () => {
  it("balances objects where equal runs of leaves do not", async () => {
    const { store, root } = await treeOf(20_000);
    const perLeaf = await leafEntries(store, root);
    const share = 20_000 / 8;
    const largestLeaf = Math.max(...perLeaf);

    const byLeaves = objectsIn(perLeaf, leafRanges(root.leaves, 8));
    // The old plan: equal leaves, unequal objects (this tree's runs differ by far more than a leaf).
    expect(Math.max(...byLeaves) - Math.min(...byLeaves)).toBeGreaterThan(2 * largestLeaf);

    const ranges = await balancedLeafRanges(root, 8, (page) => store.children(page), OPTIONS);
    expect(ranges[0]!.fromLeaf).toBe(0);
    expect(ranges.at(-1)!.toLeaf).toBe(root.leaves);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.fromLeaf).toBe(ranges[i - 1]!.toLeaf);
    // Each cut lands within half a leaf of its share's end, so each run within one leaf of the share.
    for (const held of objectsIn(perLeaf, ranges)) expect(Math.abs(held - share)).toBeLessThanOrEqual(largestLeaf);
  });

  it("reads each page once, only those on the way to a cut", async () => {
    const { store, root } = await treeOf(60_000);
    expect(root.level).toBeGreaterThanOrEqual(2);
    const read: string[] = [];
    await balancedLeafRanges(
      root,
      8,
      (page) => {
        read.push(page.name);
        return store.children(page);
      },
      OPTIONS,
    );
    expect(new Set(read).size).toBe(read.length);
    // The root, then at most one page a level for each of the 7 cuts.
    expect(read.length).toBeLessThanOrEqual(1 + 7 * (root.level - 1));
  });

  it("stops at a subtree within the precision asked, and estimates within it", async () => {
    const { store, root } = await treeOf(60_000);
    let reads = 0;
    const ranges = await balancedLeafRanges(
      root,
      4,
      (page) => {
        reads += 1;
        return store.children(page);
      },
      { precision: 60_000, concurrency: 6 },
    );
    expect(reads).toBe(0); // the root itself is within the precision: cut by proportion of its leaves
    expect(ranges).toEqual(leafRanges(root.leaves, 4));
  });

  it("estimates a cut within a page it cannot read, and still covers every leaf once", async () => {
    const { store, root } = await treeOf(20_000);
    const perLeaf = await leafEntries(store, root);
    const [first] = await store.children(root);
    const unreadable: PageChildren = async (page) => (page.name === first!.name ? null : store.children(page));
    const ranges = await balancedLeafRanges(root, 8, unreadable, OPTIONS);
    expect(ranges.map((r) => r.toLeaf - r.fromLeaf).every((n) => n >= 1)).toBe(true);
    expect(objectsIn(perLeaf, ranges).reduce((sum, n) => sum + n, 0)).toBe(20_000);
    expect(ranges.at(-1)!.toLeaf).toBe(root.leaves);
  });

  it("within leaves: runs of exactly equal objects, each cut at the entry where its share ends", async () => {
    const { store, root } = await treeOf(2_000);
    const perLeaf = await leafEntries(store, root);
    for (const count of [3, 4, 8]) {
      const ranges = await balancedLeafRanges(root, count, (page) => store.children(page), {
        ...OPTIONS,
        withinLeaves: true,
      });
      const held = ranges.map((r) => {
        // Entries of the leaves it walks whole, less the first leaf's before fromOffset, plus toOffset of leaf toLeaf.
        const whole = perLeaf.slice(r.fromLeaf, r.toLeaf).reduce((sum, n) => sum + n, 0);
        return whole - (r.fromOffset ?? 0) + (r.toOffset ?? 0);
      });
      expect(held).toEqual(
        ranges.map((_, i) => Math.round(((i + 1) * 2_000) / count) - Math.round((i * 2_000) / count)),
      );
      // Each run starts where the one before it ends.
      for (let i = 1; i < count; i++) {
        expect(ranges[i]!.fromLeaf).toBe(ranges[i - 1]!.toLeaf);
        expect(ranges[i]!.fromOffset ?? 0).toBe(ranges[i - 1]!.toOffset ?? 0);
      }
    }
  });

  it("within leaves, estimates the cuts under a page it cannot read and still covers every entry once, in order", async () => {
    // The first page unreadable hides where its cuts fall: those fall at estimated leaf boundaries.
    const { store, root } = await treeOf(20_000);
    const [first] = await store.children(root);
    const unreadable: PageChildren = async (page) => (page.name === first!.name ? null : store.children(page));
    const ranges = await balancedLeafRanges(root, 16, unreadable, { ...OPTIONS, withinLeaves: true });
    expect(ranges[0]!.fromLeaf).toBe(0);
    expect(ranges.at(-1)!.toLeaf).toBe(root.leaves);
    for (let i = 1; i < ranges.length; i++) {
      const [before, here] = [ranges[i - 1]!, ranges[i]!];
      expect([here.fromLeaf, here.fromOffset ?? 0]).toEqual([before.toLeaf, before.toOffset ?? 0]);
      expect(here.toLeaf > here.fromLeaf || (here.toOffset ?? 0) > (here.fromOffset ?? 0)).toBe(true);
    }
  });

  it("within leaves, splits one leaf between shards; with its page unreadable, one run a leaf", async () => {
    const leaf: ChunkRef = { name: "leaf", level: 0, firstKey: "a", entries: 7, leaves: 1 };
    expect(await balancedLeafRanges(leaf, 2, async () => null, { ...OPTIONS, withinLeaves: true })).toEqual([
      { fromLeaf: 0, toLeaf: 0, toOffset: 4 },
      { fromLeaf: 0, fromOffset: 4, toLeaf: 1 },
    ]);
    const root: ChunkRef = { name: "root", level: 1, firstKey: "a", entries: 30, leaves: 3 };
    expect(await balancedLeafRanges(root, 5, async () => null, { ...OPTIONS, withinLeaves: true })).toEqual(
      leafRanges(3, 3),
    );
  });

  it("gives every shard a leaf when there are as many shards as leaves, or a leaf holds most objects", async () => {
    const { store, root } = await treeOf(300, 50);
    expect(await balancedLeafRanges(root, root.leaves, (page) => store.children(page), OPTIONS)).toEqual(
      leafRanges(root.leaves, root.leaves),
    );
    // One leaf of 1,000 entries among nine of one: the cuts all fall in it, and are pushed apart.
    const leaf = (i: number, entries: number): ChunkRef => ({
      name: `leaf-${i}`,
      level: 0,
      firstKey: `k${i}`,
      entries,
      leaves: 1,
    });
    const leaves = [leaf(0, 1), leaf(1, 1000), ...Array.from({ length: 8 }, (_, i) => leaf(i + 2, 1))];
    const skewed: ChunkRef = { name: "root", level: 1, firstKey: "k0", entries: 1008, leaves: 10 };
    const ranges = await balancedLeafRanges(skewed, 5, async () => leaves, OPTIONS);
    expect(ranges.map((r) => r.toLeaf - r.fromLeaf).every((n) => n >= 1)).toBe(true);
    expect(ranges.at(-1)!.toLeaf).toBe(10);
  });
});
