/**
 * Where a fanned-out full backup splits the bucket (engine/backup/shard-plan.ts): ranges that
 * cover the key space once, in order, of nearly equal object counts, from the last snapshot's
 * pages, from an exact listing of a bucket that fits the sample, or from its folders beyond it.
 */
import { describe, expect, it } from "vitest";
import { compareKeys } from "../../durable-objects/engine/format/key-order";
import { inKeyRange, type KeyRange } from "../../durable-objects/engine/backup/fan-out";
import { planShards, SAMPLE_PAGES, type ShardPlanInput } from "../../durable-objects/engine/backup/shard-plan";
import { endsLeaf, MAX_LEAF_ENTRIES, type TreeShape } from "../../durable-objects/engine/format/manifest-tree";
import { entryOf, TreeStore } from "../helpers/tree-store";

/** R2's listing over sorted keys: prefix, startAfter, limit and the "/" delimiter; counts its calls. */
function lister(keys: readonly string[]) {
  const sorted = [...keys].sort(compareKeys);
  const calls: R2ListOptions[] = [];
  const list: ShardPlanInput["list"] = async (options) => {
    calls.push(options);
    const prefix = options.prefix ?? "";
    let matching = sorted.filter(
      (k) => k.startsWith(prefix) && (!options.startAfter || compareKeys(k, options.startAfter) > 0),
    );
    const delimitedPrefixes: string[] = [];
    if (options.delimiter) {
      const direct: string[] = [];
      for (const key of matching) {
        const at = key.indexOf(options.delimiter, prefix.length);
        if (at < 0) direct.push(key);
        else if (delimitedPrefixes.at(-1) !== key.slice(0, at + 1)) delimitedPrefixes.push(key.slice(0, at + 1));
      }
      matching = direct;
    }
    const limit = options.limit ?? 1000;
    const objects = matching.slice(0, limit).map((key) => ({ key }) as R2Object);
    return { objects, truncated: matching.length > limit, delimitedPrefixes };
  };
  return { list, calls };
}

/** How many of `keys` each range holds, checking that every key falls in exactly one. */
function counts(ranges: readonly KeyRange[], keys: readonly string[]): number[] {
  const held = ranges.map(() => 0);
  for (const key of keys) {
    const owners = ranges.flatMap((range, i) => (inKeyRange(range, key) ? [i] : []));
    expect(owners, key).toHaveLength(1);
    held[owners[0]!]! += 1;
  }
  return held;
}

const numbered = (n: number, folder = (i: number) => `f${i % 7}/`) =>
  Array.from({ length: n }, (_, i) => `${folder(i)}obj-${String(i).padStart(6, "0")}`);

/**
 * `count` keys under `prefix`, in order, whose leaves (under `shape`) hold `perLeaf` entries
 * each: every perLeaf-th key is one that ends a leaf, the others are ones that do not (a leaf of
 * MAX_LEAF_ENTRIES is cut there whatever its keys).
 */
function keysInLeavesOf(perLeaf: number, prefix: string, count: number, shape: TreeShape): string[] {
  const keys: string[] = [];
  for (let candidate = 0; keys.length < count; candidate++) {
    const key = `${prefix}${String(candidate).padStart(8, "0")}`;
    const lastOfLeaf = (keys.length + 1) % perLeaf === 0;
    if (endsLeaf(key, shape) === (lastOfLeaf && perLeaf < MAX_LEAF_ENTRIES)) keys.push(key);
  }
  return keys;
}

const SHAPE = { leafModulus: 100, pageModulus: 32 };

/**
 * The plan for a bucket of `keys` whose last snapshot holds them (leaves and pages cut by SHAPE),
 * `damage` done to the stored chunks first, and how many keys each range holds.
 */
async function planFromSnapshot(
  keys: string[],
  maxShards: number,
  minObjectsPerShard: number,
  damage: (store: TreeStore) => void = () => {},
) {
  const store = new TreeStore(SHAPE);
  const { root } = await store.build(keys.map((key) => entryOf(key, 1)));
  damage(store);
  const plan = await planShards({
    maxShards,
    minObjectsPerShard,
    snapshot: { fileCount: keys.length, root, nodes: store },
    prefix: "",
    ...lister(keys),
  });
  return { root: root!, plan, held: counts(plan.ranges, keys), reads: store.reads };
}

describe("planning a fanned-out backup's ranges", () => {
  it("splits a bucket that fits the sample exactly: equal counts, each key in one range", async () => {
    const keys = numbered(2_000);
    const plan = await planShards({
      maxShards: 8,
      minObjectsPerShard: 300,
      snapshot: null,
      prefix: "",
      ...lister(keys),
    });
    expect(plan.ranges).toHaveLength(6); // 2,000 / 300, rounded down
    expect(plan.basis).toBe("a listing of all 2000 objects");
    for (const held of counts(plan.ranges, keys)) expect(held).toBeGreaterThanOrEqual(333);
  });

  it("runs a small bucket, or one with fan-out off, in one range over everything", async () => {
    const keys = numbered(500);
    for (const maxShards of [1, 8]) {
      const plan = await planShards({
        maxShards,
        minObjectsPerShard: 300,
        snapshot: null,
        prefix: "",
        ...lister(keys),
      });
      expect(plan.ranges).toEqual([{ after: null, through: null }]);
    }
  });

  it("plans from the last snapshot's pages with a few reads, in balance", async () => {
    const keys = numbered(60_000).sort(compareKeys);
    const store = new TreeStore({ leafModulus: 100, pageModulus: 32 });
    const { root } = await store.build(keys.map((key) => entryOf(key, 1)));
    store.reads = 0;
    const { list, calls } = lister(keys);
    const plan = await planShards({
      maxShards: 8,
      minObjectsPerShard: 5_000,
      snapshot: { fileCount: keys.length, root, nodes: store },
      prefix: "",
      list,
    });
    expect(calls).toHaveLength(0);
    expect(store.reads).toBeLessThan(40);
    expect(plan.ranges).toHaveLength(8);
    for (const held of counts(plan.ranges, keys)) expect(held / (keys.length / 8)).toBeGreaterThan(0.6);
  });

  it("splits the last snapshot by objects, not by leaves: each range within 1/16 of its share", async () => {
    // Where a leaf ends is a property of its last key, so keys can be chosen to make leaves of
    // unequal sizes: 10,000 keys in leaves of 10 ("a/"), then 10,000 in leaves of 400 ("b/"). A
    // split into equal runs of leaves gives almost every shard "a/" only.
    const keys = [...keysInLeavesOf(10, "a/", 10_000, SHAPE), ...keysInLeavesOf(MAX_LEAF_ENTRIES, "b/", 10_000, SHAPE)];
    const { root, held } = await planFromSnapshot(keys, 8, 1_000);
    expect(root.leaves).toBe(1_000 + 25);
    expect(held).toHaveLength(8);
    // Each cut is exact where the descent reaches a leaf, else within the plan's precision (1/16 of a share).
    for (const count of held) expect(Math.abs(count - keys.length / 8)).toBeLessThanOrEqual(keys.length / 8 / 16);
  });

  it("cuts inside leaves at the edges: one leaf, a large first leaf, a one-entry last leaf", async () => {
    // A snapshot of one leaf still splits, exactly, reading its leaf once for both cuts.
    const oneLeaf = await planFromSnapshot(keysInLeavesOf(MAX_LEAF_ENTRIES, "a/", 300, SHAPE), 8, 100);
    expect(oneLeaf.held).toEqual([100, 100, 100]);
    expect(oneLeaf.reads).toBe(1);
    // Leaves of 400, 400 and 1: no run of one key at the start, none empty at the end.
    const edges = [...keysInLeavesOf(MAX_LEAF_ENTRIES, "a/", 800, SHAPE), ...keysInLeavesOf(1, "b/", 1, SHAPE)];
    expect((await planFromSnapshot(edges, 8, 200)).held).toEqual([200, 201, 200, 200]); // cut at entries 200, 401, 601
  });

  it("plans from a listing when the last snapshot's chunks cannot be read", async () => {
    const keys = numbered(2_000);
    // Every chunk gone: reading one throws.
    const { plan, held } = await planFromSnapshot(keys, 4, 500, (store) => store.texts.clear());
    expect(plan.basis).toMatch(/^a listing of all 2000 objects \(the last snapshot's chunks could not be read: /);
    expect(held).toEqual([500, 500, 500, 500]);
  });

  it("splits a bucket beyond the sample between its folders, a level deeper when there are too few", async () => {
    // 60,000 keys under 3 top-level folders of 10 subfolders each.
    const keys = numbered(60_000, (i) => `t${i % 3}/s${i % 10}/`);
    const { list, calls } = lister(keys);
    const plan = await planShards({ maxShards: 8, minObjectsPerShard: 1_000, snapshot: null, prefix: "", list });
    expect(calls.length).toBe(SAMPLE_PAGES + 1 + 3);
    expect(plan.ranges).toHaveLength(8);
    expect(plan.basis).toMatch(/30 folders and keys, split by count/);
    for (const held of counts(plan.ranges, keys)) expect(held).toBeGreaterThan(0);
  });

  it("runs a large bucket without folders in one object", async () => {
    const keys = numbered(SAMPLE_PAGES * 1000 + 10, () => "");
    const plan = await planShards({
      maxShards: 8,
      minObjectsPerShard: 1_000,
      snapshot: null,
      prefix: "",
      ...lister(keys),
    });
    expect(plan.ranges).toEqual([{ after: null, through: null }]);
  });
});
