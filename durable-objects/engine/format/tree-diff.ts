/**
 * The keys that differ between two version 2 manifests, found by walking both chunk trees at once
 * and skipping every subtree whose chunk is the same in both. Chunks are content-addressed and
 * their boundaries content-defined, so an unchanged range of keys is the same chunk in both trees
 * and is never read: the cost follows the change, not the size of the snapshots.
 *
 * Each side is a frontier: a stack of unexpanded subtrees and single entries in key order, its
 * top the smallest key. Items on one stack cover disjoint, increasing key ranges, so when both
 * tops are the same chunk, everything before it is already compared and everything in it is
 * equal: both are dropped unread. Otherwise a subtree is expanded (the higher one first, so that a
 * page meets its equal at the same level), or an entry is compared with the other side's top.
 */
import { compareKeys } from "./key-order";
import type { ManifestEntry } from "./manifest-entry";
import type { ChunkRef } from "./manifest-tree";

/** How the walk reads chunks (the caller decodes, checks and counts them). */
export interface TreeNodes {
  /** An index page's children, in key order. */
  children(ref: ChunkRef): Promise<ChunkRef[]>;
  /** A leaf's entries, in key order. */
  entries(ref: ChunkRef): Promise<ManifestEntry[]>;
}

export interface KeyChange {
  key: string;
  change: "added" | "modified" | "deleted";
  before: ManifestEntry | null;
  after: ManifestEntry | null;
}

export interface TreeDiffPage {
  changes: KeyChange[];
  /** The last key of this page when more may follow (the next page starts after it), else null. */
  after: string | null;
}

export interface TreeDiffOptions {
  /** Only keys under this prefix. */
  prefix?: string;
  /** Only keys after this one (the previous page's `after`). */
  after?: string | null;
  /** At least 1. */
  limit: number;
  /** When two entries of one key are the same (default `sameObject`: what a restore would see). */
  same?: (before: ManifestEntry, after: ManifestEntry) => boolean;
}

type Item = { ref: ChunkRef; entry?: undefined } | { entry: ManifestEntry; ref?: undefined };

const firstKey = (item: Item) => (item.ref ? item.ref.firstKey : item.entry.key);

/**
 * The same object as far as a restore is concerned: content (SHA-256, size) and metadata. A new
 * etag or upload time alone (the same bytes written again) is not a change.
 */
export function sameObject(a: ManifestEntry, b: ManifestEntry): boolean {
  return (
    a.sha256 === b.sha256 &&
    a.size === b.size &&
    canonical(a.httpMetadata) === canonical(b.httpMetadata) &&
    canonical(a.customMetadata) === canonical(b.customMetadata)
  );
}

function canonical(record: object): string {
  return JSON.stringify(Object.entries(record).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}

class Frontier {
  /** Reversed: the last item has the smallest keys. */
  private readonly stack: Item[];

  constructor(
    root: ChunkRef | null,
    private readonly nodes: TreeNodes,
  ) {
    this.stack = root ? [{ ref: root }] : [];
  }

  top(): Item | undefined {
    return this.stack.at(-1);
  }

  pop(): void {
    this.stack.pop();
  }

  /** Replaces the top subtree by its children or entries. */
  async expand(): Promise<void> {
    const { ref } = this.stack.pop()!;
    const items: Item[] =
      ref!.level === 0
        ? (await this.nodes.entries(ref!)).map((entry) => ({ entry }))
        : (await this.nodes.children(ref!)).map((child) => ({ ref: child }));
    for (let i = items.length - 1; i >= 0; i--) this.stack.push(items[i]!);
  }

  /**
   * Drops everything before the window (keys up to `after`, and below `prefix`) and everything
   * past the prefix, expanding only the subtrees that straddle its start: O(depth) reads.
   */
  async seek(prefix: string, after: string | null): Promise<void> {
    const before = (key: string) => compareKeys(key, prefix) < 0 || (after !== null && compareKeys(key, after) <= 0);
    for (let item = this.top(); item; item = this.top()) {
      const key = firstKey(item);
      if (!key.startsWith(prefix) && compareKeys(key, prefix) > 0) {
        this.stack.length = 0; // past the prefix: nothing further can match
        return;
      }
      if (!before(key)) return;
      if (item.entry) {
        this.pop();
        continue;
      }
      // A subtree's keys all come before the next item's first key: if that is still before
      // the window, the whole subtree is, unread.
      const next = this.stack.at(-2);
      const nextKey = next ? firstKey(next) : null;
      const wholeBefore =
        nextKey !== null && (compareKeys(nextKey, prefix) <= 0 || (after !== null && compareKeys(nextKey, after) <= 0));
      if (wholeBefore) this.pop();
      else await this.expand();
    }
  }
}

/** One page of the changes from `from` to `to` (roots; null for an empty snapshot), in key order. */
export async function diffTrees(
  nodes: TreeNodes,
  from: ChunkRef | null,
  to: ChunkRef | null,
  options: TreeDiffOptions,
): Promise<TreeDiffPage> {
  const prefix = options.prefix ?? "";
  const before = new Frontier(from, nodes);
  const after = new Frontier(to, nodes);
  const changes: KeyChange[] = [];
  // The window's start stays put: whatever is compared is popped, and neither top is ever before
  // the last key compared, so each round's seek only trims what expanding added.
  const start = options.after ?? null;
  const same = options.same ?? sameObject;
  while (changes.length < options.limit) {
    await before.seek(prefix, start);
    await after.seek(prefix, start);
    const a = before.top();
    const b = after.top();
    if (!a && !b) return { changes, after: null };
    // A name is the hash of the chunk's text: the same name is the same keys and entries.
    if (a?.ref && b?.ref && a.ref.name === b.ref.name) {
      before.pop();
      after.pop();
      continue;
    }
    const expanding = whichToExpand(a, b);
    if (expanding) {
      if (expanding !== "after") await before.expand();
      if (expanding !== "before") await after.expand();
      continue;
    }
    // Both tops are entries, or an entry that comes before the other side's subtree.
    const order = !a ? 1 : !b ? -1 : compareKeys(firstKey(a), firstKey(b));
    if (order < 0) {
      changes.push({ key: a!.entry!.key, change: "deleted", before: a!.entry!, after: null });
      before.pop();
    } else if (order > 0) {
      changes.push({ key: b!.entry!.key, change: "added", before: null, after: b!.entry! });
      after.pop();
    } else {
      if (!same(a!.entry!, b!.entry!)) {
        changes.push({ key: a!.entry!.key, change: "modified", before: a!.entry!, after: b!.entry! });
      }
      before.pop();
      after.pop();
    }
  }
  return { changes, after: changes.at(-1)!.key }; // a full page: more may follow
}

/**
 * Which top to open, if any: a subtree must be opened before its keys can be compared, unless the
 * other top is an entry that comes before it (that entry is absent from the subtree's side).
 */
function whichToExpand(a: Item | undefined, b: Item | undefined): "before" | "after" | "both" | null {
  if (a?.ref && b?.ref) {
    if (a.ref.level !== b.ref.level) return a.ref.level > b.ref.level ? "before" : "after";
    const order = compareKeys(a.ref.firstKey, b.ref.firstKey);
    return order === 0 ? "both" : order < 0 ? "before" : "after";
  }
  if (a?.ref) return !b || compareKeys(b.entry!.key, a.ref.firstKey) >= 0 ? "before" : null;
  if (b?.ref) return !a || compareKeys(a.entry!.key, b.ref.firstKey) >= 0 ? "after" : null;
  return null;
}
