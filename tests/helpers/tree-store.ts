/**
 * Manifest chunks by name, in memory, as a backup bucket would hold them: for unit tests of the
 * tree walks (diff, path edits), with a count of the chunks they read.
 */
import { compareKeys } from "../../durable-objects/engine/format/key-order";
import { parseChunk, type ManifestEntry } from "../../durable-objects/engine/format/manifest-entry";
import {
  appendEntries,
  EMPTY_TREE,
  finishTree,
  parsePage,
  type ChunkRef,
  type NewChunk,
  type TreeShape,
} from "../../durable-objects/engine/format/manifest-tree";
import type { TreeNodes } from "../../durable-objects/engine/format/tree-diff";

/** An entry whose content is `version` (its hash, size and blob follow from it). */
export const entryOf = (key: string, version: number, contentType = "text/plain"): ManifestEntry => ({
  key,
  size: 10 + version,
  etag: `${key}#${version}`,
  lastModified: "2026-11-01T00:00:00.000Z",
  sha256: String(version).padStart(64, "0"),
  blob: `blobs/${version}`,
  httpMetadata: { contentType },
  customMetadata: {},
});

export class TreeStore implements TreeNodes {
  readonly texts = new Map<string, string>();
  reads = 0;
  /** Reads of each chunk, by name. */
  readonly readsOf = new Map<string, number>();

  constructor(readonly shape: TreeShape) {}

  /** Builds the tree of `entries` (any order) as a listing backup would, and stores its chunks. */
  async build(entries: readonly ManifestEntry[]): Promise<{ root: ChunkRef | null; chunks: NewChunk[] }> {
    const sorted = [...entries].sort((x, y) => compareKeys(x.key, y.key));
    const added = await appendEntries(EMPTY_TREE, sorted, null, this.shape);
    const tree = await finishTree(added.state, null, this.shape);
    const chunks = [...added.chunks, ...tree.chunks];
    this.store(chunks);
    return { root: tree.root, chunks };
  }

  store(chunks: readonly NewChunk[]): void {
    for (const chunk of chunks) this.texts.set(chunk.ref.name, chunk.text);
  }

  private count(ref: ChunkRef): void {
    this.reads += 1;
    this.readsOf.set(ref.name, (this.readsOf.get(ref.name) ?? 0) + 1);
  }

  async children(ref: ChunkRef): Promise<ChunkRef[]> {
    this.count(ref);
    return parsePage(this.texts.get(ref.name)!, ref.level);
  }

  async entries(ref: ChunkRef): Promise<ManifestEntry[]> {
    this.count(ref);
    return parseChunk(this.texts.get(ref.name)!);
  }
}
