/**
 * A tree's chunks fetched ahead of a walk that will read them. A fan-out's join (tree-edit.ts,
 * joinTrees) walks its shards' trees one chunk at a time, down each tree's right edge (closed
 * because the shard's range ended) and the next tree's left edge (to fall back in step), so every
 * chunk it reads is a round trip of its own: about 30 for 8 shards, most of the join's time under
 * production latency. Fetching the next trees' edges while it walks the current one overlaps them.
 *
 * A chunk fetched ahead is handed to the walk once and then forgotten, and what the walk did not
 * take is dropped when its tree is done, so at most a few trees' edges are held at a time. A fetch
 * that fails is the walk's to see if it reads that chunk (a direct read would have failed the
 * same way), never an unobserved rejection.
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
  private readonly descents: Promise<void>[] = [];

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
    const names: string[] = [];
    this.fetchedFor.set(root.name, names);
    // Failures stay in the promises the walk takes; the descent itself has nothing to report.
    this.descents.push(this.descend(root, edges, names).catch(() => undefined));
  }

  /** Once every fetch started ahead has ended: no read outlives the walk's step. */
  async settled(): Promise<void> {
    await Promise.all(this.descents);
  }

  /** Drops what was fetched for the tree and not taken (its walk is over). */
  release(root: ChunkRef): void {
    for (const name of this.fetchedFor.get(root.name) ?? []) {
      this.pages.delete(name);
      this.leaves.delete(name);
    }
    this.fetchedFor.delete(root.name);
  }

  private async descend(ref: ChunkRef, edges: Edges, names: string[]): Promise<void> {
    if (ref.level === 0) {
      this.fetch(this.leaves, ref.name, () => this.nodes.entries(ref), names);
      return;
    }
    const children = await this.fetch(this.pages, ref.name, () => this.nodes.children(ref), names);
    const first = children[0];
    const last = children.at(-1);
    if (!first || !last) return;
    if (first === last) return this.descend(first, edges, names);
    await Promise.all([
      edges.left ? this.descend(first, { left: true, right: false }, names) : undefined,
      edges.right ? this.descend(last, { left: false, right: true }, names) : undefined,
    ]);
  }

  private fetch<T>(held: Map<string, Promise<T>>, name: string, read: () => Promise<T>, names: string[]): Promise<T> {
    const promise = read();
    promise.catch(() => undefined);
    held.set(name, promise);
    names.push(name);
    return promise;
  }
}

function take<T>(held: Map<string, Promise<T>>, name: string): Promise<T> | undefined {
  const promise = held.get(name);
  held.delete(name);
  return promise;
}
