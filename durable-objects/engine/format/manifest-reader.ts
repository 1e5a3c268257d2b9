/**
 * Reading a snapshot's manifest leaf by leaf, whatever its version: every reader (verify, restore,
 * the files listing, an incremental's parent, the cleanup's mark) addresses entries as (leaf
 * number, offset), so none of them depends on how the leaves are stored.
 *
 *   version 1  leaf n is `manifests/<backupId>/chunks/<n>.ndjson`
 *   version 2  leaf n is found from the root down through index pages (manifest-tree.ts), each
 *              child listing how many leaves it holds; a reader keeps the pages it read
 *              (PageCache), so walking leaves in order reads each page once
 *
 * A leaf that is missing or damaged is reported, not thrown, with where the next readable leaf
 * may start (after a whole subtree when an index page is the part that is gone), so verification
 * can record it and go on; `requireLeaf` is for readers that cannot go on without it.
 */
import { BlobIntegrityError, errorMessage, isBlobIntegrityError, PermanentError } from "../errors";
import { readChunkText } from "./chunk-store";
import type { Keyring } from "./keyring";
import { parseChunk, readV1Chunk, v1ChunkKey, type ManifestEntry, type ManifestIndex } from "./manifest";
import { chunkKey, parsePage, type ChunkRef } from "./manifest-tree";

/** What a reader needs to know of a snapshot (from its manifest index). */
export interface ManifestLocator {
  backupId: string;
  chunkCount: number;
  /** Version 2: the tree's root (null: an empty snapshot). Absent or undefined: a version 1 manifest. */
  root?: ChunkRef | null | undefined;
}

/** The locator of the snapshot an index describes. */
export function locatorOf(index: Pick<ManifestIndex, "backupId" | "version" | "chunkCount" | "root">): ManifestLocator {
  return {
    backupId: index.backupId,
    chunkCount: index.chunkCount,
    ...(index.version === 1 ? {} : { root: index.root ?? null }),
  };
}

export type LeafLookup =
  /** `fromReplica`: served by the replica because the backup bucket's copy was missing or damaged. */
  | { kind: "leaf"; key: string; entries: ManifestEntry[]; sha256: string; fromReplica?: boolean }
  | { kind: "unreadable"; key: string; problem: "missing" | "corrupt"; detail: string | null; nextSeq: number };

export type Unreadable = Extract<LeafLookup, { kind: "unreadable" }>;

/** One chunk on the way from the root to a leaf, and the number of its first leaf. */
export interface PathStep {
  ref: ChunkRef;
  firstSeq: number;
}

export interface ManifestReader {
  readonly version: 1 | 2;
  readonly backupId: string;
  readonly chunkCount: number;
  leaf(seq: number): Promise<LeafLookup>;
  /** Version 2: the chunks from the root down to leaf `seq`. */
  path(seq: number): Promise<PathStep[] | Unreadable>;
  /** Version 2: an index page's children, null when the page is missing or damaged. */
  pageChildren(page: ChunkRef): Promise<ChunkRef[] | null>;
}

/**
 * Index pages already read, by name. A name fixes its content, so a cache never goes stale; a
 * job that walks one manifest across many steps (an incremental reading its parent) keeps one,
 * so each page is read once, not once a step. Verification does not: it must read what is there.
 */
export class PageCache {
  private readonly pages = new Map<string, ChunkRef[]>();

  constructor(private readonly limit = 256) {}

  get(name: string): ChunkRef[] | undefined {
    return this.pages.get(name);
  }

  set(name: string, children: ChunkRef[]): void {
    // A walk in key order needs only the pages on its current path; dropping all is enough.
    if (this.pages.size >= this.limit) this.pages.clear();
    this.pages.set(name, children);
  }
}

export function openManifest(
  bucket: Pick<R2Bucket, "get">,
  keyring: Keyring | null,
  locator: ManifestLocator,
  pages = new PageCache(),
): ManifestReader {
  return locator.root === undefined
    ? new V1Manifest(bucket, keyring, locator)
    : new TreeManifest(bucket, keyring, locator, pages);
}

/** For readers that cannot go on without the leaf: a missing or damaged one ends the job clearly. */
export async function requireLeaf(
  reader: ManifestReader,
  seq: number,
): Promise<{ entries: ManifestEntry[]; sha256: string; fromReplica?: boolean }> {
  const leaf = await reader.leaf(seq);
  if (leaf.kind === "leaf") return leaf;
  throw new PermanentError(
    `manifest chunk ${leaf.key} of backup ${reader.backupId} is ${leaf.problem}${leaf.detail ? ` (${leaf.detail})` : ""}; verify the backup`,
  );
}

class V1Manifest implements ManifestReader {
  readonly version = 1;
  readonly backupId: string;
  readonly chunkCount: number;

  constructor(
    private readonly bucket: Pick<R2Bucket, "get">,
    private readonly keyring: Keyring | null,
    locator: ManifestLocator,
  ) {
    this.backupId = locator.backupId;
    this.chunkCount = locator.chunkCount;
  }

  async leaf(seq: number): Promise<LeafLookup> {
    const key = v1ChunkKey(this.backupId, seq);
    try {
      const chunk = await readV1Chunk(this.bucket, this.keyring, this.backupId, seq);
      if (!chunk) return { kind: "unreadable", key, problem: "missing", detail: null, nextSeq: seq + 1 };
      return { kind: "leaf", key, ...chunk };
    } catch (error) {
      // Damage is reported; a failed read (R2 unavailable) is thrown, to be retried.
      if (!isBlobIntegrityError(error)) throw error;
      return { kind: "unreadable", key, problem: "corrupt", detail: errorMessage(error), nextSeq: seq + 1 };
    }
  }

  async path(): Promise<never> {
    throw new Error("a version 1 manifest has no chunk tree");
  }

  async pageChildren(): Promise<never> {
    return this.path();
  }
}

class TreeManifest implements ManifestReader {
  readonly version = 2;
  readonly backupId: string;
  readonly chunkCount: number;
  private readonly root: ChunkRef | null;

  constructor(
    private readonly bucket: Pick<R2Bucket, "get">,
    private readonly keyring: Keyring | null,
    locator: ManifestLocator,
    private readonly pages: PageCache,
  ) {
    this.backupId = locator.backupId;
    this.chunkCount = locator.chunkCount;
    this.root = locator.root ?? null;
  }

  async path(seq: number): Promise<PathStep[] | Unreadable> {
    if (!this.root || seq < 0 || seq >= this.root.leaves)
      throw new RangeError(`leaf ${seq} is outside the manifest (${this.chunkCount} leaves)`);
    const steps: PathStep[] = [{ ref: this.root, firstSeq: 0 }];
    for (let step = steps[0]!; step.ref.level > 0;) {
      const children = await this.children(step);
      if (!Array.isArray(children)) return children;
      let firstSeq = step.firstSeq;
      const child = children.find((c) => {
        if (seq < firstSeq + c.leaves) return true;
        firstSeq += c.leaves;
        return false;
      })!; // children's leaves add up to the page's (checked when read)
      step = { ref: child, firstSeq };
      steps.push(step);
    }
    return steps;
  }

  async leaf(seq: number): Promise<LeafLookup> {
    const path = await this.path(seq);
    if (!Array.isArray(path)) return path;
    const { ref } = path.at(-1)!;
    const key = chunkKey(ref.name);
    const unreadable = (problem: Unreadable["problem"], detail: string | null): Unreadable => ({
      kind: "unreadable",
      key,
      problem,
      detail,
      nextSeq: seq + 1,
    });
    try {
      const chunk = await readChunkText(this.bucket, this.keyring, ref.name);
      if (chunk === null) return unreadable("missing", null);
      const entries = parseChunk(chunk.text);
      if (entries.length !== ref.entries || entries[0]?.key !== ref.firstKey)
        return unreadable("corrupt", "its entries are not the ones its index page lists");
      return { kind: "leaf", key, entries, sha256: chunk.sha256 };
    } catch (error) {
      if (!isBlobIntegrityError(error)) throw error;
      return unreadable("corrupt", errorMessage(error));
    }
  }

  async pageChildren(page: ChunkRef): Promise<ChunkRef[] | null> {
    const children = await this.children({ ref: page, firstSeq: 0 });
    return Array.isArray(children) ? children : null;
  }

  /** An index page's children, or why they cannot be read (then its whole subtree is skipped). */
  private async children(step: PathStep): Promise<ChunkRef[] | Unreadable> {
    const { ref } = step;
    const cached = this.pages.get(ref.name);
    if (cached) return cached;
    const unreadable = (problem: Unreadable["problem"], detail: string | null): Unreadable => ({
      kind: "unreadable",
      key: chunkKey(ref.name),
      problem,
      detail,
      nextSeq: step.firstSeq + ref.leaves,
    });
    try {
      const chunk = await readChunkText(this.bucket, this.keyring, ref.name);
      if (chunk === null) return unreadable("missing", null);
      const children = parsePage(chunk.text, ref.level);
      const leaves = children.reduce((sum, c) => sum + c.leaves, 0);
      const entries = children.reduce((sum, c) => sum + c.entries, 0);
      if (leaves !== ref.leaves || entries !== ref.entries)
        throw new BlobIntegrityError("its children do not add up to what its parent lists");
      this.pages.set(ref.name, children);
      return children;
    } catch (error) {
      if (!isBlobIntegrityError(error)) throw error;
      return unreadable("corrupt", errorMessage(error));
    }
  }
}
