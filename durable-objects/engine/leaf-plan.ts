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

/** A cut within 1/16 of a shard's share is close enough; finer costs page reads. */
export const planPrecision = (entries: number, count: number) => Math.max(1, Math.floor(entries / count / 16));

/**
 * Where the i-th of `count` shares of a snapshot's entries ends (entry `target`, counted from 0):
 * the subtree the descent stopped in, its first leaf's number and its first entry's, and the
 * first key after it (null at the snapshot's end).
 */
export interface ShareEnd {
  target: number;
  ref: ChunkRef;
  firstSeq: number;
  firstEntry: number;
  keyAfter: string | null;
  /** Its page could not be read: the cut is estimated within it. */
  unread?: true;
}

/** The descent itself, shared by the leaf runs below and a backup's key ranges (backup/shard-plan.ts). */
export async function shareEnds(
  root: ChunkRef,
  count: number,
  pageChildren: PageChildren,
  { precision, concurrency }: Omit<PlanOptions, "withinLeaves">,
): Promise<ShareEnd[]> {
  const found = (p: ShareEnd) => p.unread || p.ref.level === 0 || p.ref.entries <= precision;
  let ends: ShareEnd[] = Array.from({ length: count - 1 }, (_, i) => ({
    target: Math.round(((i + 1) * root.entries) / count),
    ref: root,
    firstSeq: 0,
    firstEntry: 0,
    keyAfter: null,
  }));
  for (;;) {
    // Two cuts in one subtree read its page once.
    const pages = [...new Map(ends.filter((p) => !found(p)).map((p) => [p.ref.name, p.ref])).values()];
    if (pages.length === 0) return ends;
    const read = await mapWithConcurrency(pages, concurrency, pageChildren);
    const childrenOf = new Map(pages.map((page, i) => [page.name, read[i]!]));
    ends = ends.map((p) => (found(p) ? p : childHolding(p, childrenOf.get(p.ref.name)!)));
  }
}

export async function balancedLeafRanges(
  root: ChunkRef,
  count: number,
  pageChildren: PageChildren,
  { withinLeaves = false, ...descent }: PlanOptions,
): Promise<LeafRange[]> {
  const ends = await shareEnds(root, count, pageChildren, descent);
  if (withinLeaves) {
    const bounds = [START, ...ends.map(entryCut), { leaf: root.leaves, offset: 0 }];
    // Cuts found down to their entries follow their targets, which rise; estimated ones may not.
    if (bounds.every((cut, i) => i === 0 || after(cut, bounds[i - 1]!))) return rangesBetween(bounds);
  }
  return wholeLeafRanges(ends.map(estimatedCut), root.leaves);
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
function entryCut(at: ShareEnd): Cut {
  if (at.ref.level === 0 && !at.unread) return { leaf: at.firstSeq, offset: at.target - at.firstEntry };
  return { leaf: estimatedCut(at), offset: 0 };
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

/** The child of `at` that holds its target entry (the last one for a target at the very end). */
function childHolding(at: ShareEnd, children: ChunkRef[] | null): ShareEnd {
  if (children === null) return { ...at, unread: true };
  let firstSeq = at.firstSeq;
  let firstEntry = at.firstEntry;
  for (const [i, child] of children.entries()) {
    const last = i === children.length - 1;
    if (at.target < firstEntry + child.entries || last) {
      const keyAfter = last ? at.keyAfter : children[i + 1]!.firstKey;
      return { target: at.target, ref: child, firstSeq, firstEntry, keyAfter };
    }
    firstSeq += child.leaves;
    firstEntry += child.entries;
  }
  return { ...at, unread: true }; // a page with no children: nothing to go down into
}

/** The leaf boundary nearest the target entry within `at`, its entries taken as evenly spread. */
function estimatedCut(at: ShareEnd): number {
  if (at.ref.entries === 0) return at.firstSeq;
  return at.firstSeq + Math.round((at.ref.leaves * (at.target - at.firstEntry)) / at.ref.entries);
}
