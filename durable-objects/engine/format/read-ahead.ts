/**
 * A tree's chunks fetched ahead of a walk that will read them. A fan-out's join (tree-edit.ts,
 * joinTrees) walks its shards' trees one chunk at a time, down each tree's right edge (closed
 * because the shard's range ended) and the next tree's left edge (to fall back in step), so every
 * chunk it reads is a round trip of its own: about 30 for 8 shards, most of the join's time under
 * production latency. Fetching the next trees' edges while it walks the current one overlaps them.
 *
 * A chunk fetched ahead is handed to the walk once and then forgotten, and what the walk did not
 * take is dropped when its tree is done (a fetch still under way for it then stops descending),
 * so at most a few trees' edges are held at a time. A failed fetch is kept for the walk, which
 * sees that error if it reads the chunk (the join is retried as a whole, like a direct read's
 * failure), and never becomes an unobserved rejection. `settled` waits for every fetch started,
 * so none outlives the join.
 */
import type { ManifestEntry } from "./manifest-entry";
import type { ChunkRef } from "./manifest-tree";
import type { TreeNodes } from "./tree-diff";

export interface Edges {
  left: boolean;
  right: boolean;
}

export class ReadAhead implements TreeNodes {
  private readonly pages = new Map<string, Promise<ChunkRef[]>>();
  private readonly leaves = new Map<string, Promise<ManifestEntry[]>>();
  /** The chunks fetched ahead for each tree (by its root's name), to drop once it is walked. */
  private readonly fetchedFor = new Map<string, string[]>();
  /** Trees whose walk is over: nothing more is fetched for them. */
  private readonly released = new Set<string>();
  /** Each tree's descent, settled once every read it started has. */
  private readonly descents: Promise<unknown>[] = [];

  constructor(private readonly nodes: TreeNodes) {}

  children(ref: ChunkRef): Promise<ChunkRef[]> {
    return take(this.pages, ref.name) ?? this.nodes.children(ref);
  }

  entries(ref: ChunkRef): Promise<ManifestEntry[]> {
    return take(this.leaves, ref.name) ?? this.nodes.entries(ref);
  }

  /** Starts fetching the chunks down the tree's left edge, its right edge, or both. */
  fetchEdges(root: ChunkRef, edges: Edges): void {
    if (!edges.left && !edges.right) return;
    this.fetchedFor.set(root.name, []);
    // Failures stay in the promises the walk takes; the descent itself has nothing to report.
    this.descents.push(this.descend(root.name, root, edges).catch(() => undefined));
  }

  /** Drops what was fetched for the tree and not taken (its walk is over). */
  release(root: ChunkRef): void {
    this.released.add(root.name);
    for (const name of this.fetchedFor.get(root.name) ?? []) {
      this.pages.delete(name);
      this.leaves.delete(name);
    }
    this.fetchedFor.delete(root.name);
  }

  /** Once every fetch started ahead has ended: no read outlives the walk's step. */
  async settled(): Promise<void> {
    await Promise.all(this.descents);
  }

  /** Fetches `ref` and, below a page, the edges asked for; settles once all its reads have. */
  private async descend(tree: string, ref: ChunkRef, edges: Edges): Promise<void> {
    if (this.released.has(tree)) return;
    if (ref.level === 0) {
      await this.fetch(this.leaves, tree, ref.name, () => this.nodes.entries(ref));
      return;
    }
    const children = await this.fetch(this.pages, tree, ref.name, () => this.nodes.children(ref));
    const first = children[0];
    const last = children.at(-1);
    if (!first || !last) return;
    if (first === last) return this.descend(tree, first, edges);
    // Both edges to their ends, whether or not the other fails.
    await Promise.allSettled([
      edges.left ? this.descend(tree, first, { left: true, right: false }) : undefined,
      edges.right ? this.descend(tree, last, { left: false, right: true }) : undefined,
    ]);
  }

  private fetch<T>(held: Map<string, Promise<T>>, tree: string, name: string, read: () => Promise<T>): Promise<T> {
    const promise = read();
    promise.catch(() => undefined);
    held.set(name, promise);
    this.fetchedFor.get(tree)?.push(name);
    return promise;
  }
}

function take<T>(held: Map<string, Promise<T>>, name: string): Promise<T> | undefined {
  const promise = held.get(name);
  held.delete(name);
  return promise;
}
