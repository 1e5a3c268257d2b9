/**
 * Where a fanned-out full backup splits the bucket: ranges of similar object counts, from what is
 * already known, so that planning costs a few requests, never a listing of the whole bucket.
 *
 *   - The bucket's latest snapshot, when it has a chunk tree: its pages name each subtree's first
 *     key and how many entries it holds, so walking down toward each share's end gives boundaries
 *     of nearly equal counts, and its file count gives the number of shards.
 *   - Otherwise (a first backup) a sampling listing: up to SAMPLE_PAGES pages of the bucket. A
 *     bucket that ends within them is split exactly. A larger one is split between its "folders"
 *     (listings with the delimiter "/", the top level first, a level deeper while there are too
 *     few), each taken as equally large: the best guess without reading it all; the next full
 *     backup plans from its snapshot instead. A larger bucket without folders runs in one object.
 *
 * The number of shards is the objects over `minObjectsPerShard` (rounded down: no shard is smaller), at least 1 and at most
 * `maxShards`. A boundary need not be a key: every string splits the key space (fan-out.ts).
 */
import type { ManifestEntry } from "../format/manifest-entry";
import type { ChunkRef } from "../format/manifest-tree";
import type { TreeNodes } from "../format/tree-diff";
import { compareKeys } from "../format/key-order";
import { mapWithConcurrency } from "../concurrency";
import { planPrecision, shareEnds, type ShareEnd } from "../leaf-plan";
import { errorMessage } from "../errors";
import { DEFAULTS } from "../settings/defaults";
import { rangesBetween, WHOLE_KEY_SPACE, type KeyRange } from "./fan-out";

/**
 * Pages of 1,000 keys a first backup's plan lists at most before it splits by folder instead: at
 * production's ~60 ms a listing, 3 s to split up to 50,000 objects exactly.
 */
export const SAMPLE_PAGES = 50;
/** Delimited listings the folder split makes at most (one page each). */
export const FOLDER_LISTINGS = 50;

export interface ShardPlanInput {
  maxShards: number;
  minObjectsPerShard: number;
  /** The bucket's latest snapshot with a chunk tree (null: none). */
  snapshot: { fileCount: number; root: ChunkRef | null; nodes: TreeNodes } | null;
  /** The source's listing (a template's keys lie under `prefix`). */
  list: (options: R2ListOptions) => Promise<Pick<R2Objects, "objects" | "truncated" | "delimitedPrefixes">>;
  prefix: string;
}

export interface ShardPlan {
  ranges: KeyRange[];
  /** How the ranges were found, for the backup's log. */
  basis: string;
}

export async function planShards(input: ShardPlanInput): Promise<ShardPlan> {
  const shardsFor = (objects: number) =>
    Math.max(1, Math.min(input.maxShards, Math.floor(objects / input.minObjectsPerShard)));
  if (input.maxShards <= 1) return { ranges: [WHOLE_KEY_SPACE], basis: "fan-out is off (BACKUP_MAX_SHARDS=1)" };
  const snapshot = input.snapshot;
  if (snapshot?.root) {
    const count = shardsFor(snapshot.fileCount);
    if (count === 1) return { ranges: [WHOLE_KEY_SPACE], basis: `the last snapshot's ${snapshot.fileCount} objects` };
    try {
      const boundaries = await boundariesFromTree(snapshot.nodes, snapshot.root, count);
      return { ranges: rangesBetween(boundaries), basis: `the last snapshot's pages (${snapshot.fileCount} objects)` };
    } catch (error) {
      // The last snapshot only guides the plan: chunks of it that cannot be read (damaged or
      // missing; verify reports those) must not stop a new full backup, which reads the bucket.
      console.warn("a fanned-out backup could not plan from the last snapshot; it plans from a listing", error);
      const plan = await planBySampling(input, shardsFor);
      return { ...plan, basis: `${plan.basis} (the last snapshot's chunks could not be read: ${errorMessage(error)})` };
    }
  }
  return planBySampling(input, shardsFor);
}

/**
 * Boundaries that split the tree into `count` runs of nearly equal objects, found as a restore's
 * are (leaf-plan.ts: down the pages toward each share's end, to within 1/16 of a share). A
 * boundary is a range's last key (`through`, inclusive). Where the descent reached a leaf, that
 * leaf is read and the boundary is the share's very last key, so the runs are exact (one read a
 * cut, 6 at once); above a leaf it is the nearer edge of the subtree the descent stopped in.
 */
async function boundariesFromTree(nodes: TreeNodes, root: ChunkRef, count: number): Promise<string[]> {
  const ends = await shareEnds(root, count, (page) => nodes.children(page), {
    precision: planPrecision(root.entries, count),
    concurrency: DEFAULTS.concurrency,
  });
  // Two cuts in one leaf read it once.
  const leaves = new Map<string, Promise<ManifestEntry[]>>();
  const leafEntries = (leaf: ChunkRef) => {
    if (!leaves.has(leaf.name)) leaves.set(leaf.name, nodes.entries(leaf));
    return leaves.get(leaf.name)!;
  };
  const found = await mapWithConcurrency(ends, DEFAULTS.concurrency, (end) => lastKeyOfShare(leafEntries, end));
  // Rising by construction (the targets rise); a repeat would only merge two runs, never leave one empty.
  return found.filter((key, i) => i === 0 || compareKeys(key, found[i - 1]!) > 0);
}

/** The last key of the share that ends before entry `end.target`. */
async function lastKeyOfShare(
  leafEntries: (leaf: ChunkRef) => Promise<ManifestEntry[]>,
  end: ShareEnd,
): Promise<string> {
  const before = end.target - end.firstEntry; // the subtree's entries that belong to the earlier share
  const last = end.ref.level === 0 && before > 0 ? (await leafEntries(end.ref))[before - 1] : undefined;
  if (last) return last.key;
  // A leaf cut at its start (its first key goes to the earlier run: one entry over) or holding
  // fewer entries than its page says, or a subtree within the plan's precision: its nearer edge,
  // never the snapshot's very first key (a run of one).
  const atStart = end.ref.level === 0 || before <= end.ref.entries / 2;
  if (atStart && end.firstEntry > 0) return end.ref.firstKey;
  return end.keyAfter ?? end.ref.firstKey;
}

/**
 * The folders (ending in "/") and keys directly under `prefix`: one delimited page, null when
 * there are more than a page holds (the names would cover only the start of the key space).
 */
async function namesUnder(input: ShardPlanInput, prefix: string): Promise<string[] | null> {
  const page = await input.list({ limit: 1000, delimiter: "/", ...(prefix ? { prefix } : {}) });
  if (page.truncated) return null;
  return [...page.delimitedPrefixes, ...page.objects.map((o) => o.key)].sort(compareKeys);
}

async function planBySampling(input: ShardPlanInput, shardsFor: (objects: number) => number): Promise<ShardPlan> {
  const prefix = input.prefix ? { prefix: input.prefix } : {};
  const keys: string[] = [];
  let startAfter: string | undefined;
  for (let page = 0; page < SAMPLE_PAGES; page++) {
    const listing = await input.list({ limit: 1000, ...prefix, ...(startAfter ? { startAfter } : {}) });
    keys.push(...listing.objects.map((o) => o.key));
    if (!listing.truncated) {
      const count = shardsFor(keys.length);
      // Each shard's last key is a boundary: exact counts.
      const boundaries = Array.from(
        { length: count - 1 },
        (_, i) => keys[Math.ceil(((i + 1) * keys.length) / count) - 1]!,
      );
      return { ranges: rangesBetween(boundaries), basis: `a listing of all ${keys.length} objects` };
    }
    startAfter = keys.at(-1);
  }
  // More than the sample holds: split between folders, by count. Top-level ones first; while
  // there are too few to balance, each folder is replaced by its own (within FOLDER_LISTINGS).
  let names = (await namesUnder(input, input.prefix)) ?? [];
  let listings = 1;
  while (names.length < input.maxShards * 2) {
    const folders = names.filter((name) => name.endsWith("/"));
    if (folders.length === 0 || listings + folders.length > FOLDER_LISTINGS) break;
    const deeper: string[] = [];
    for (const name of names) {
      const under = name.endsWith("/") ? await namesUnder(input, name) : [name];
      if (under === null) break;
      deeper.push(...under);
    }
    listings += folders.length;
    if (deeper.length < names.length) break; // a folder too large to name whole: keep the level above
    names = deeper.sort(compareKeys);
  }
  const count = Math.min(input.maxShards, names.length);
  if (count <= 1)
    return { ranges: [WHOLE_KEY_SPACE], basis: `over ${keys.length} objects, with no folders to split between` };
  // A shard's boundary is the last name it holds, made to sort after every key under that folder
  // (U+10FFFF is the highest code point, so its UTF-8 sorts after every other character's).
  const boundaries = Array.from({ length: count - 1 }, (_, i) => {
    const last = names[Math.ceil(((i + 1) * names.length) / count) - 1]!;
    return `${last}\u{10FFFF}`;
  });
  return {
    ranges: rangesBetween(boundaries),
    basis: `over ${keys.length} objects: ${names.length} folders and keys, split by count`,
  };
}
