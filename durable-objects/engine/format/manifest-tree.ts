/**
 * Manifest version 2: a snapshot is a tree of content-addressed chunks, shared between snapshots.
 *
 *   chunks/<name>   a leaf: NDJSON manifest entries in key order (as in version 1), or
 *                   an index page: JSON `{format, level, children}` listing the chunks below it
 *
 * Leaves are cut at content-defined boundaries over the key space: after an entry whose key hashes
 * to 0 modulo LEAF_BOUNDARY_MODULUS (about 100 entries per leaf on average), or when a leaf reaches
 * MAX_LEAF_ENTRIES or MAX_LEAF_BYTES. Pages are cut the same way over their children's names. So
 * where a chunk ends depends only on the entries themselves: one changed key changes its leaf and
 * the pages above it, never the chunks before or after, and a backup of unchanged objects builds
 * exactly its parent's chunks (by name) whether it is full or incremental.
 *
 * A chunk's name is the SHA-256 of its text, or with encryption an HMAC of that hash under the
 * naming key (the bucket then reveals no content hash). Equal chunks are stored once.
 *
 * The builder's state lives in the backup's checkpoint between steps: the open leaf and one open
 * page per level, each capped, so it stays bounded (well under a Durable Object value's 2 MB)
 * whatever the bucket's size.
 */
import { BlobIntegrityError, errorMessage } from "../errors";
import { EMPTY_CHAIN, fnv1a32, sha256Hex } from "./hashing";
import { hmacHex, type Keyring } from "./keyring";
import { serializeChunk, type ManifestEntry } from "./manifest-entry";

export const LEAF_BOUNDARY_MODULUS = 100;
export const MAX_LEAF_ENTRIES = 400;
export const MAX_LEAF_BYTES = 256 * 1024;
export const PAGE_BOUNDARY_MODULUS = 32;
export const MAX_PAGE_CHILDREN = 128;
export const MAX_PAGE_BYTES = 64 * 1024;

export const INDEX_PAGE_FORMAT = "r2-backup-index-page";
export const CHUNK_PREFIX = "chunks/";
export const chunkKey = (name: string) => `${CHUNK_PREFIX}${name}`;

/** A chunk as its parent (or the manifest index, for the root) names it. */
export interface ChunkRef {
  name: string;
  /** 0: a leaf of entries; n: an index page whose children are at level n-1. */
  level: number;
  firstKey: string;
  /** Entries under it. */
  entries: number;
  /** Leaves under it (1 for a leaf). */
  leaves: number;
}

export interface IndexPage {
  format: typeof INDEX_PAGE_FORMAT;
  level: number;
  children: ChunkRef[];
}

/** The tree under construction, saved with the checkpoint after every step. */
export interface TreeBuilderState {
  /** Entries of the leaf being filled, and the length of their text. */
  open: ManifestEntry[];
  openBytes: number;
  /** levels[i]: finished level-i chunks not yet listed by a level i+1 page. */
  levels: ChunkRef[][];
  /** Leaves finished so far. */
  leaves: number;
  /**
   * The version 2 checksum chain, kept by engines before manifest version 3. Never written now;
   * read only to record a backup an older engine finalized (docs/storage-format.md, checksum).
   */
  chain?: string;
}

export const EMPTY_TREE: TreeBuilderState = { open: [], openBytes: 0, levels: [], leaves: 0 };

/**
 * A version 3 manifest's checksum: its root chunk's name, a Merkle root that commits to every
 * page and leaf below it (each named by the hash of its text, pages listing their children's
 * names), 64 zeros for an empty snapshot. A path edit knows it without reading a single leaf.
 */
export const treeChecksum = (root: ChunkRef | null): string => root?.name ?? EMPTY_CHAIN;

/** A finished chunk, to be stored under `chunkKey(ref.name)`. */
export interface NewChunk {
  ref: ChunkRef;
  text: string;
}

/**
 * How often a leaf or a page ends, on average. The defaults are the format's; tests set smaller
 * ones (BACKUP_TEST_TREE_FANOUT) so that a few hundred keys grow a tree of several levels.
 * Readers do not depend on it: a tree is read through the pages it has, however they were cut.
 */
export interface TreeShape {
  leafModulus: number;
  pageModulus: number;
}
export const DEFAULT_TREE_SHAPE: TreeShape = { leafModulus: LEAF_BOUNDARY_MODULUS, pageModulus: PAGE_BOUNDARY_MODULUS };

/** The content-defined cut rule for leaves: a property of the key alone. */
export const endsLeaf = (key: string, shape: TreeShape = DEFAULT_TREE_SHAPE) =>
  fnv1a32(`leaf:${key}`) % shape.leafModulus === 0;
/** Names are hashes already, so their last 8 hex digits are an even spread. */
export const endsPage = (name: string, shape: TreeShape = DEFAULT_TREE_SHAPE) =>
  Number.parseInt(name.slice(-8), 16) % shape.pageModulus === 0;

export const utf8Bytes = (text: string) => new TextEncoder().encode(text).length;

/** The name a chunk whose text hashes to `sha256` is stored under (the current naming key when encrypted). */
export async function chunkName(sha256: string, keyring: Keyring | null): Promise<string> {
  return keyring ? hmacHex(keyring.current.naming, new TextEncoder().encode(`chunk:${sha256}`)) : sha256;
}

/** True when `name` is what a text hashing to `sha256` is stored under, by the current key or an old one. */
export async function nameMatches(name: string, sha256: string, keyring: Keyring | null): Promise<boolean> {
  if (!keyring) return name === sha256;
  for (const key of keyring.byId.values()) {
    if ((await hmacHex(key.naming, new TextEncoder().encode(`chunk:${sha256}`))) === name) return true;
  }
  return false;
}

export function serializePage(level: number, children: readonly ChunkRef[]): string {
  const page: IndexPage = { format: INDEX_PAGE_FORMAT, level, children: [...children] };
  return JSON.stringify(page);
}

/** Parses an index page's text; anything else is damage (BlobIntegrityError). */
export function parsePage(text: string, expectedLevel: number): ChunkRef[] {
  let page: IndexPage;
  try {
    page = JSON.parse(text) as IndexPage;
  } catch (error) {
    throw new BlobIntegrityError(`index page is not valid JSON: ${errorMessage(error)}`);
  }
  if (
    page.format !== INDEX_PAGE_FORMAT ||
    page.level !== expectedLevel ||
    !Array.isArray(page.children) ||
    page.children.length === 0
  ) {
    throw new BlobIntegrityError(`index page is not a level ${expectedLevel} page of ${INDEX_PAGE_FORMAT}`);
  }
  return page.children;
}

/**
 * Adds entries (in key order, after every entry added before) and returns the new state and the
 * chunks finished on the way. Pure apart from hashing: the same state and entries always give
 * the same result, so a replayed step writes the same chunks.
 */
export async function appendEntries(
  state: TreeBuilderState,
  entries: readonly ManifestEntry[],
  keyring: Keyring | null,
  shape: TreeShape = DEFAULT_TREE_SHAPE,
): Promise<{ state: TreeBuilderState; chunks: NewChunk[] }> {
  const builder = new TreeBuilder(state, keyring, shape);
  for (const entry of entries) await builder.add(entry);
  return { state: builder.state(), chunks: builder.chunks };
}

/** Closes every open chunk; the root is null for an empty snapshot. */
export async function finishTree(
  state: TreeBuilderState,
  keyring: Keyring | null,
  shape: TreeShape = DEFAULT_TREE_SHAPE,
): Promise<{ root: ChunkRef | null; chunks: NewChunk[]; leaves: number }> {
  const builder = new TreeBuilder(state, keyring, shape);
  const root = await builder.finish();
  return { root, chunks: builder.chunks, leaves: builder.state().leaves };
}

/**
 * Builds a tree from entries in key order, cutting chunks by the rules above. A cut is decided
 * when an item is added, from that item and the open chunk only (never by looking ahead), so a
 * chunk's extent depends on its own content and on where it started; that is what lets a path
 * edit (tree-edit.ts) hand over a whole existing subtree instead of its entries.
 */
export class TreeBuilder {
  readonly chunks: NewChunk[] = [];
  private open: ManifestEntry[];
  private openBytes: number;
  private readonly levels: ChunkRef[][];
  private leaves: number;

  constructor(
    state: TreeBuilderState,
    private readonly keyring: Keyring | null,
    private readonly shape: TreeShape,
  ) {
    this.open = [...state.open];
    this.openBytes = state.openBytes;
    this.levels = state.levels.map((level) => [...level]);
    this.leaves = state.leaves;
  }

  state(): TreeBuilderState {
    return { open: this.open, openBytes: this.openBytes, levels: this.levels, leaves: this.leaves };
  }

  /**
   * True when nothing below `level` is open: a chunk of that level that began a chunk of every
   * level below it in another tree would begin them here too, so it may be added whole.
   */
  atBoundary(level: number): boolean {
    if (this.open.length > 0) return false;
    for (let below = 0; below < level && below < this.levels.length; below++)
      if (this.levels[below]!.length > 0) return false;
    return true;
  }

  /** True when a chunk of `level` or above has been made (it is still listed at its level or above). */
  holdsAtOrAbove(level: number): boolean {
    return this.levels.slice(level).some((refs) => refs.length > 0);
  }

  /** Adds an existing chunk as it is (only `atBoundary(ref.level)`, and only one closed by its own rules). */
  async addSubtree(ref: ChunkRef): Promise<void> {
    if (!this.atBoundary(ref.level)) throw new Error(`a level ${ref.level} chunk cannot start inside an open chunk`);
    while (this.levels.length < ref.level) this.levels.push([]);
    this.leaves += ref.leaves;
    await this.addRef(ref.level, ref);
  }

  async add(entry: ManifestEntry): Promise<void> {
    this.open.push(entry);
    this.openBytes += utf8Bytes(JSON.stringify(entry)) + 1;
    if (endsLeaf(entry.key, this.shape) || this.open.length >= MAX_LEAF_ENTRIES || this.openBytes >= MAX_LEAF_BYTES)
      await this.closeLeaf();
  }

  async finish(): Promise<ChunkRef | null> {
    if (this.open.length > 0) await this.closeLeaf();
    for (let level = 0; level < this.levels.length; level++) {
      const refs = this.levels[level]!;
      // The top level holding a single chunk: that chunk is the root.
      if (level === this.levels.length - 1 && refs.length === 1) return refs[0]!;
      if (refs.length > 0) await this.closePage(level);
    }
    return null;
  }

  private async closeLeaf(): Promise<void> {
    const text = serializeChunk(this.open);
    const sha256 = await sha256Hex(text);
    const ref: ChunkRef = {
      name: await chunkName(sha256, this.keyring),
      level: 0,
      firstKey: this.open[0]!.key,
      entries: this.open.length,
      leaves: 1,
    };
    this.leaves += 1;
    this.open = [];
    this.openBytes = 0;
    this.chunks.push({ ref, text });
    await this.addRef(0, ref);
  }

  /** Lists a finished level-`level` chunk in the open page above it, closing that page at a boundary. */
  private async addRef(level: number, ref: ChunkRef): Promise<void> {
    if (this.levels.length === level) this.levels.push([]);
    const refs = this.levels[level]!;
    refs.push(ref);
    const bytes = refs.reduce((sum, r) => sum + utf8Bytes(r.firstKey) + 160, 0); // a ref's JSON is under 160 bytes besides its key
    if (endsPage(ref.name, this.shape) || refs.length >= MAX_PAGE_CHILDREN || bytes >= MAX_PAGE_BYTES)
      await this.closePage(level);
  }

  private async closePage(level: number): Promise<void> {
    const children = this.levels[level]!;
    const text = serializePage(level + 1, children);
    const ref: ChunkRef = {
      name: await chunkName(await sha256Hex(text), this.keyring),
      level: level + 1,
      firstKey: children[0]!.firstKey,
      entries: children.reduce((sum, c) => sum + c.entries, 0),
      leaves: children.reduce((sum, c) => sum + c.leaves, 0),
    };
    this.levels[level] = [];
    this.chunks.push({ ref, text });
    await this.addRef(level + 1, ref);
  }
}
