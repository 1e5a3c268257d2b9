/**
 * Edits by path: a snapshot made from its parent's tree and a batch of named changes (puts and
 * deletions), reading only the chunks the changes fall in and the pages above them, and naming
 * every other subtree by its existing chunk. The result is byte for byte the tree a full build of
 * the same entries makes (history independence), which is what lets an event backup's cost follow
 * the change instead of the bucket.
 *
 * Why that holds: a build decides each cut from the item it adds and the open chunk alone
 * (manifest-tree.ts), so from a point where nothing is open below level L, a chunk of level L
 * that another build began at the same point comes out the same, provided that build closed it by
 * the cut rules rather than because the entries ran out. The walk below therefore feeds the
 * builder the old tree in key order and, at each chunk:
 *
 *   - no change falls in its key range and nothing is open below its level: it is added whole,
 *     unread. A chunk at the end of its level (its range runs to the end of the key space) was
 *     closed by the end of the entries, not by a rule. It is taken whole only when no change is
 *     left, and only when the builder already holds a chunk of its level or above: then the
 *     level below is not the top, and the end of the entries closes it here too. Otherwise (all
 *     that came before it was deleted) a full build might stop a level lower, with its only
 *     child as the root, so it is opened instead.
 *   - otherwise a page is opened and its children are fed one by one, and a leaf is merged with
 *     the changes that fall in it, entry by entry.
 *
 * After the last change the builder is out of step only until its open chunks end where the old
 * tree's did; content-defined cuts bring it back within a chunk or two at each level, and from
 * there the walk takes whole subtrees again. So an edit reads O(changed chunks × depth).
 */
import { compareKeys } from "./key-order";
import { ReadAhead } from "./read-ahead";
import type { ManifestEntry } from "./manifest-entry";
import type { Keyring } from "./keyring";
import {
  DEFAULT_TREE_SHAPE,
  EMPTY_TREE,
  TreeBuilder,
  type ChunkRef,
  type NewChunk,
  type TreeShape,
} from "./manifest-tree";
import type { TreeNodes } from "./tree-diff";

/** One named change: the key's new entry, or null when the key leaves the snapshot. */
export interface TreeEdit {
  key: string;
  entry: ManifestEntry | null;
}

export interface EditedTree {
  root: ChunkRef | null;
  /** The chunks the edit made (new leaves and pages, possibly some that exist already). */
  chunks: NewChunk[];
}

/** An open page of the old tree: its children, the next to feed, and the key its range ends before. */
interface Frame {
  items: readonly ChunkRef[];
  next: number;
  /** The first key after this page's range; null at the end of the key space. */
  end: string | null;
}

/**
 * Applies `edits` (in key order, one per key) to the tree under `root`. Deleting a key that is
 * not there, or putting an entry equal to the one there, is harmless: the result is still the
 * tree of the resulting entries.
 */
export async function editTree(
  nodes: TreeNodes,
  root: ChunkRef | null,
  edits: readonly TreeEdit[],
  keyring: Keyring | null,
  shape: TreeShape = DEFAULT_TREE_SHAPE,
): Promise<EditedTree> {
  for (let i = 1; i < edits.length; i++)
    if (compareKeys(edits[i - 1]!.key, edits[i]!.key) >= 0)
      throw new Error("tree edits must be in key order, one per key");
  const builder = new TreeBuilder(EMPTY_TREE, keyring, shape);
  const cursor = { pending: 0 }; // the next edit not yet applied
  await feedTree(builder, nodes, root, edits, cursor, true);
  // Past the old tree's last key (or into an empty tree): what is left are additions.
  for (; cursor.pending < edits.length; cursor.pending++) {
    const { entry } = edits[cursor.pending]!;
    if (entry) await builder.add(entry);
  }
  const rootRef = await builder.finish();
  return { root: rootRef, chunks: builder.chunks };
}

/**
 * Trees a join fetches the edges of ahead of its walk (read-ahead.ts): up to 2 reads each at once,
 * with the walk's own about 6 to 8 in flight; calls beyond a job object's 6 connections queue.
 */
const TREES_AHEAD = 3;

/**
 * One tree over trees of consecutive key ranges (a fanned-out backup's shards, each built alone
 * from the start of its range): byte for byte the tree a single build of all their entries makes.
 * `roots` are in key order and their ranges must not overlap. The walk is editTree's with no
 * edits, except that a tree's right spine, closed because its range ended, is opened unless it is
 * the last tree's. So a join reads about (trees × depth) chunks plus the few after each seam
 * that the builder needs to fall back into step with, and reuses everything else whole.
 */
export async function joinTrees(
  nodes: TreeNodes,
  roots: readonly (ChunkRef | null)[],
  keyring: Keyring | null,
  shape: TreeShape = DEFAULT_TREE_SHAPE,
): Promise<EditedTree> {
  const trees = roots.filter((root): root is ChunkRef => root !== null);
  const builder = new TreeBuilder(EMPTY_TREE, keyring, shape);
  // The edges the walk opens (a tree's right one but the last's, its left one but the first's)
  // are fetched ahead, up to TREES_AHEAD trees beyond the one being walked.
  const ahead = new ReadAhead(nodes);
  const fetchAhead = (i: number) => {
    if (i < trees.length) ahead.fetchEdges(trees[i]!, { left: i > 0, right: i < trees.length - 1 });
  };
  for (const [i, root] of trees.entries())
    if (i > 0 && compareKeys(trees[i - 1]!.firstKey, root.firstKey) >= 0)
      throw new Error("joined trees must be in key order");
  for (let i = 0; i < TREES_AHEAD; i++) fetchAhead(i);
  try {
    for (const [i, root] of trees.entries()) {
      fetchAhead(i + TREES_AHEAD);
      await feedTree(builder, ahead, root, [], { pending: 0 }, i === trees.length - 1);
      ahead.release(root);
    }
  } finally {
    await ahead.settled();
  }
  const rootRef = await builder.finish();
  return { root: rootRef, chunks: builder.chunks };
}

/**
 * Feeds the tree under `root` to `builder` in key order, with the edits from `cursor.pending` on
 * that fall inside it laid over it (the walk the header describes). `last`: this tree's end is the
 * end of all entries; otherwise entries follow it, so its right spine was closed by its range
 * ending, not by a rule, and is never taken whole.
 */
async function feedTree(
  builder: TreeBuilder,
  nodes: TreeNodes,
  root: ChunkRef | null,
  edits: readonly TreeEdit[],
  cursor: { pending: number },
  last: boolean,
): Promise<void> {
  const editsBefore = (end: string | null) =>
    cursor.pending < edits.length && (end === null || compareKeys(edits[cursor.pending]!.key, end) < 0);

  const stack: Frame[] = root ? [{ items: [root], next: 0, end: null }] : [];
  while (stack.length > 0) {
    const frame = stack.at(-1)!;
    if (frame.next === frame.items.length) {
      stack.pop();
      continue;
    }
    const ref = frame.items[frame.next]!;
    frame.next += 1;
    // The chunk's range runs to the next chunk's first key (the first chunk's from the start of the key space).
    const end = frame.next < frame.items.length ? frame.items[frame.next]!.firstKey : frame.end;
    const closedByRule = end !== null || (last && (ref.level === 0 || builder.holdsAtOrAbove(ref.level)));
    if (!editsBefore(end) && builder.atBoundary(ref.level) && closedByRule) {
      await builder.addSubtree(ref);
    } else if (ref.level > 0) {
      stack.push({ items: await nodes.children(ref), next: 0, end });
    } else {
      for (const entry of mergeLeaf(await nodes.entries(ref), edits, cursor.pending, end)) await builder.add(entry);
      while (editsBefore(end)) cursor.pending += 1;
    }
  }
}

/** A leaf's entries with the edits that fall before `end` (from edit `from` on) laid over them, in key order. */
function mergeLeaf(
  entries: readonly ManifestEntry[],
  edits: readonly TreeEdit[],
  from: number,
  end: string | null,
): ManifestEntry[] {
  const merged: ManifestEntry[] = [];
  let e = from;
  const inRange = () => e < edits.length && (end === null || compareKeys(edits[e]!.key, end) < 0);
  for (const entry of entries) {
    while (inRange() && compareKeys(edits[e]!.key, entry.key) < 0) {
      const added = edits[e++]!.entry;
      if (added) merged.push(added);
    }
    if (inRange() && edits[e]!.key === entry.key) {
      const replaced = edits[e++]!.entry;
      if (replaced) merged.push(replaced);
    } else {
      merged.push(entry);
    }
  }
  for (; inRange(); e++) {
    const added = edits[e]!.entry;
    if (added) merged.push(added);
  }
  return merged;
}

/**
 * The entries of `keys` (in key order) in the tree under `root`, reading only the leaves they fall
 * in and the pages above them. Keys the tree does not hold are absent from the result.
 */
export async function findEntries(
  nodes: TreeNodes,
  root: ChunkRef | null,
  keys: readonly string[],
): Promise<Map<string, ManifestEntry>> {
  const found = new Map<string, ManifestEntry>();
  const visit = async (ref: ChunkRef, wanted: readonly string[]): Promise<void> => {
    if (ref.level === 0) {
      const names = new Set(wanted);
      for (const entry of await nodes.entries(ref)) if (names.has(entry.key)) found.set(entry.key, entry);
      return;
    }
    const children = await nodes.children(ref);
    // Each key belongs to the last child that starts at or before it (the first child: anything before).
    let at = 0;
    for (let child = 0; child < children.length && at < wanted.length; child++) {
      const next = children[child + 1];
      const group: string[] = [];
      while (at < wanted.length && (!next || compareKeys(wanted[at]!, next.firstKey) < 0)) group.push(wanted[at++]!);
      if (group.length > 0) await visit(children[child]!, group);
    }
  };
  if (root && keys.length > 0) await visit(root, keys);
  return found;
}
