/**
 * Runs of a snapshot's leaves that hold nearly equal numbers of objects, for the shards of a
 * restore, verification or replication (leaf-fan-out.ts). Leaves end where their keys say
 * (manifest-tree.ts), so one holds anywhere from a single entry to MAX_LEAF_ENTRIES, and runs of
 * equally many leaves can hold very unequal numbers of objects: in the bench's mix set, one of
 * four shards of equal leaves was done in half the time of the last. Every index page lists how
 * many entries and leaves each child holds, so the leaf where the i-th share of the entries ends
 * is found from the root down, a level at a time: at each level the pages on the way to every
 * cut are read together, at most `concurrency` at once (99 shards over 10 million objects read
 * about a hundred pages, in four rounds).
 *
 * It goes no further down than a subtree of `precision` entries, and there (or where a page is
 * missing or damaged: the shard that walks it reports that, as one object would) places the cut
 * within the subtree in proportion, as if its leaves held equal counts.
 */
import type { ChunkRef } from "./format/manifest-tree";
import { mapWithConcurrency } from "./concurrency";
import type { LeafRange } from "./leaf-fan-out";

export interface PlanOptions {
  /** A subtree of at most this many entries is not read further. */
  precision: number;
  /** Pages read at once. */
  concurrency: number;
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
  { precision, concurrency }: PlanOptions,
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
  const cuts = [0, ...positions.map((p, i) => estimatedCut(p, targets[i]!)), root.leaves];
  // Every shard gets at least one leaf (the count is at most the leaves, leafShardCount).
  for (let i = 1; i < count; i++) cuts[i] = Math.min(Math.max(cuts[i]!, cuts[i - 1]! + 1), root.leaves - (count - i));
  return Array.from({ length: count }, (_, i) => ({ fromLeaf: cuts[i]!, toLeaf: cuts[i + 1]! }));
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
