/**
 * Runs of a snapshot's leaves that hold nearly equal numbers of objects, for the shards of a
 * restore, verification or replication (leaf-fan-out.ts). Leaves end where their keys say
 * (manifest-tree.ts), so one holds from a single entry to MAX_LEAF_ENTRIES, and runs of
 * equally many leaves can hold very unequal numbers of objects: in the bench's mix set, one of
 * four shards of equal leaves was done in half the time of the last. Every index page lists how
 * many entries and leaves each child holds, so the leaf where the i-th share of the entries ends
 * is found from the root down, a level at a time: at each level the pages on the way to every
 * cut are read together, at most `concurrency` at once (99 shards over 10 million objects read
 * about a hundred pages, in four rounds).
 *
 * It goes no further down than a subtree of `precision` entries, and there (or where a page is
 * missing or damaged: the shard that walks it reports that, as one object would) places the cut
 * at a leaf boundary within the subtree in proportion, as if its leaves held equal counts. With
 * `withinLeaves`, a cut that reaches a leaf falls at the very entry where the share ends, so that
 * a small snapshot (a few leaves a shard: in the bench's mix set, 19 leaves of 4 to 328 entries
 * over 8 shards) is split as evenly as a large one.
 */
import type { ChunkRef } from "./format/manifest-tree";
import { mapWithConcurrency } from "./concurrency";
import { leafRanges, type LeafRange } from "./leaf-fan-out";

export interface PlanOptions {
  /** A subtree of at most this many entries is not read further. */
  precision: number;
  /** Pages read at once. */
  concurrency: number;
  /** A cut may fall inside a leaf (LeafRange's offsets). */
  withinLeaves?: boolean;
}

/** An index page's children, null when it cannot be read (missing or damaged). */
export type PageChildren = (page: ChunkRef) => Promise<ChunkRef[] | null>;

/** Where a cut is looked for: a subtree, its first leaf's number and its first entry's. */
interface Position {
  ref: ChunkRef;
  firstSeq: number;
  firstEntry: number;
  /** Its page could not be read: the cut is estimated within it. */
  unread?: true;
}

export async function balancedLeafRanges(
  root: ChunkRef,
  count: number,
  pageChildren: PageChildren,
  { precision, concurrency, withinLeaves = false }: PlanOptions,
): Promise<LeafRange[]> {
  const targets = Array.from({ length: count - 1 }, (_, i) => Math.round(((i + 1) * root.entries) / count));
  const found = (p: Position) => p.unread || p.ref.level === 0 || p.ref.entries <= precision;
  let positions: Position[] = targets.map(() => ({ ref: root, firstSeq: 0, firstEntry: 0 }));
  for (;;) {
    // Two cuts in one subtree read its page once.
    const pages = [...new Map(positions.filter((p) => !found(p)).map((p) => [p.ref.name, p.ref])).values()];
    if (pages.length === 0) break;
    const read = await mapWithConcurrency(pages, concurrency, pageChildren);
    const childrenOf = new Map(pages.map((page, i) => [page.name, read[i]!]));
    positions = positions.map((p, i) => (found(p) ? p : childHolding(p, childrenOf.get(p.ref.name)!, targets[i]!)));
  }
  if (withinLeaves) {
    const bounds = [START, ...positions.map((p, i) => entryCut(p, targets[i]!)), { leaf: root.leaves, offset: 0 }];
    // Cuts found down to their entries follow their targets, which rise; estimated ones may not.
    if (bounds.every((cut, i) => i === 0 || after(cut, bounds[i - 1]!))) return rangesBetween(bounds);
  }
  return wholeLeafRanges(
    positions.map((p, i) => estimatedCut(p, targets[i]!)),
    root.leaves,
  );
}

/**
 * Runs of whole leaves at `cuts`, each moved as little as it takes to give every run a leaf.
 * Fewer runs than cuts + 1 when there are fewer leaves (a snapshot whose runs could split its
 * leaves may have had more shards planned than leaves, and then had a page it could not read).
 */
function wholeLeafRanges(estimates: number[], leaves: number): LeafRange[] {
  const count = estimates.length + 1;
  if (count >= leaves) return leafRanges(leaves, leaves);
  const cuts = [0, ...estimates, leaves];
  for (let i = 1; i < count; i++) cuts[i] = Math.min(Math.max(cuts[i]!, cuts[i - 1]! + 1), leaves - (count - i));
  return Array.from({ length: count }, (_, i) => ({ fromLeaf: cuts[i]!, toLeaf: cuts[i + 1]! }));
}

/** Where one run ends and the next begins: `offset` entries into leaf `leaf`. */
interface Cut {
  leaf: number;
  offset: number;
}

const START: Cut = { leaf: 0, offset: 0 };
const after = (cut: Cut, before: Cut) =>
  cut.leaf > before.leaf || (cut.leaf === before.leaf && cut.offset > before.offset);

/** The entry where a share ends, when the descent reached its leaf; else an estimated leaf boundary. */
function entryCut(at: Position, target: number): Cut {
  if (at.ref.level === 0 && !at.unread) return { leaf: at.firstSeq, offset: target - at.firstEntry };
  return { leaf: estimatedCut(at, target), offset: 0 };
}

/** The runs between rising bounds (the snapshot's start, the cuts, its end). */
function rangesBetween(bounds: Cut[]): LeafRange[] {
  return bounds.slice(1).map((to, i) => {
    const from = bounds[i]!;
    return {
      fromLeaf: from.leaf,
      toLeaf: to.leaf,
      ...(from.offset ? { fromOffset: from.offset } : {}),
      ...(to.offset ? { toOffset: to.offset } : {}),
    };
  });
}

/** The child of `at` that holds entry `target` (the last one for a target at the very end). */
function childHolding(at: Position, children: ChunkRef[] | null, target: number): Position {
  if (children === null) return { ...at, unread: true };
  let firstSeq = at.firstSeq;
  let firstEntry = at.firstEntry;
  for (const [i, child] of children.entries()) {
    if (target < firstEntry + child.entries || i === children.length - 1) return { ref: child, firstSeq, firstEntry };
    firstSeq += child.leaves;
    firstEntry += child.entries;
  }
  return { ...at, unread: true }; // a page with no children: nothing to go down into
}

/** The leaf boundary nearest entry `target` within `at`, its entries taken as evenly spread. */
function estimatedCut(at: Position, target: number): number {
  if (at.ref.entries === 0) return at.firstSeq;
  return at.firstSeq + Math.round((at.ref.leaves * (target - at.firstEntry)) / at.ref.entries);
}
