/**
 * The version 2 manifest tree: content-defined chunk boundaries, names that depend on content
 * only, and reading back what was written (fast-check for the properties).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ManifestEntry } from "../../durable-objects/engine/format/manifest";
import { openManifest, requireLeaf } from "../../durable-objects/engine/format/manifest-reader";
import {
  appendEntries,
  EMPTY_TREE,
  endsLeaf,
  finishTree,
  MAX_LEAF_ENTRIES,
  type NewChunk,
  type TreeBuilderState,
} from "../../durable-objects/engine/format/manifest-tree";
import { compareKeys } from "../../durable-objects/engine/format/key-order";
import { writeManifest } from "../helpers/manifest";
import { MemoryBucket } from "../helpers/memory-bucket";

const entryOf = (key: string, version = 1): ManifestEntry => ({
  key,
  size: key.length + version,
  etag: `${key}#${version}`,
  lastModified: "2026-11-01T00:00:00.000Z",
  sha256: `${version}`.padStart(64, "0"),
  blob: `blobs/${version}`,
  httpMetadata: {},
  customMetadata: {},
});

const keysOf = (n: number, prefix = "files/") =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(6, "0")}`);

/** Builds a whole tree from entries cut into the given batches (as steps would add them). */
async function build(entries: readonly ManifestEntry[], batches: number[] = [entries.length]) {
  let state: TreeBuilderState = EMPTY_TREE;
  const chunks: NewChunk[] = [];
  let at = 0;
  for (const size of [...batches, entries.length]) {
    const added = await appendEntries(state, entries.slice(at, at + size), null);
    state = added.state;
    chunks.push(...added.chunks);
    at = Math.min(entries.length, at + size);
  }
  const tree = await finishTree(state, null);
  chunks.push(...tree.chunks);
  return { ...tree, names: new Set(chunks.map((c) => c.ref.name)) };
}

describe("manifest tree", () => {
  it("the tree depends on the entries alone, not on how steps batched them", async () => {
    const entries = keysOf(1500).map((k) => entryOf(k));
    const whole = await build(entries);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 12 }), async (batches) => {
        const batched = await build(entries, batches);
        expect(batched.root).toEqual(whole.root);
        expect(batched.names).toEqual(whole.names);
      }),
      { numRuns: 25 },
    );
  });

  it("reads back exactly the entries written, leaf by leaf, for any set of keys", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 900 }), async (keys) => {
        const entries = [...keys].sort(compareKeys).map((k) => entryOf(k));
        const bucket = new MemoryBucket();
        const index = await writeManifest(bucket, "bk", entries);
        const reader = openManifest(bucket, null, index);
        const read: ManifestEntry[] = [];
        for (let seq = 0; seq < reader.chunkCount; seq++) read.push(...(await requireLeaf(reader, seq)).entries);
        expect(read).toEqual(entries);
        expect(index.root?.entries ?? 0).toBe(entries.length);
      }),
      { numRuns: 30 },
    );
  });

  it("leaves average about 100 entries and never exceed the hard maximum", async () => {
    const tree = await build(keysOf(20_000).map((k) => entryOf(k)));
    const average = 20_000 / tree.leaves;
    expect(average).toBeGreaterThan(60);
    expect(average).toBeLessThan(160);
    expect(tree.root!.level).toBeGreaterThanOrEqual(2); // leaves, pages of leaves, and pages of pages
    // A run of keys without any boundary is still cut at the maximum.
    const noBoundary = [];
    for (let i = 0; noBoundary.length < MAX_LEAF_ENTRIES * 2 + 1; i++) {
      const key = `x/${String(i).padStart(7, "0")}`;
      if (!endsLeaf(key)) noBoundary.push(entryOf(key));
    }
    expect((await build(noBoundary)).leaves).toBe(3);
  });

  it("one changed, added or removed key changes only its own leaf and the pages above it", async () => {
    const entries = keysOf(10_000).map((k) => entryOf(k));
    const before = await build(entries);
    const levels = before.root!.level;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: entries.length - 1 }),
        fc.constantFrom("modify", "add", "remove"),
        async (at, change) => {
          const changed = [...entries];
          if (change === "modify") changed[at] = entryOf(entries[at]!.key, 2);
          if (change === "add") changed.splice(at + 1, 0, entryOf(`${entries[at]!.key}+`));
          if (change === "remove") changed.splice(at, 1);
          const after = await build(changed);
          const fresh = [...after.names].filter((name) => !before.names.has(name));
          // Its leaf (two when an added key is itself a boundary), one page per level, and at most
          // one neighbour per level whose page boundary moved with the changed name.
          expect(fresh.length).toBeLessThanOrEqual(2 + 2 * levels);
        },
      ),
      { numRuns: 20 },
    );
  });

  it("an empty snapshot has no root and no leaves", async () => {
    const empty = await build([]);
    expect(empty).toMatchObject({ root: null, leaves: 0 });
  });
});
