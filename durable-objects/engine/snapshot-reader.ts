/**
 * The one way to read a finished backup's snapshot from outside the jobs: the API's file listing
 * and diff, the local damage route, and the coming download and history endpoints. It hides that
 * a manifest is an index over chunked pages, how they are encrypted, and how a prefix is found.
 */
import { compareKeys } from "./format/key-order";
import type { Keyring } from "./format/keyring";
import { chunkNodes } from "./format/chunk-store";
import { readIndex, type ManifestEntry, type ManifestIndex } from "./format/manifest";
import { readManifestPage } from "./format/manifest-pager";
import { locatorOf, openManifest, type PageCache } from "./format/manifest-reader";
import { CHUNK_PREFIX, type ChunkRef } from "./format/manifest-tree";
import { diffTrees, sameObject, type KeyChange, type TreeNodes } from "./format/tree-diff";
import { PermanentError } from "./errors";
import { withReplicaFallback } from "./replica/fallback-reader";
import { readKeyring } from "./settings/engine-settings";

export type { KeyChange } from "./format/tree-diff";
/** Index pages read, shared by readers of several snapshots (`openSnapshot`'s `pages`). */
export { PageCache } from "./format/manifest-reader";

export type SnapshotEntry = ManifestEntry;

/** Where a page ended: opaque to callers beyond being two whole numbers to put in a cursor. */
export interface SnapshotPosition {
  chunkSeq: number;
  offset: number;
}

export interface SnapshotPage {
  entries: SnapshotEntry[];
  next: SnapshotPosition | null;
}

export interface SnapshotReader {
  readonly backupId: string;
  /**
   * Entries in key order under `prefix` (and matching `match`), from `from` (the previous page's
   * `next`) or the start. A page reads a bounded number of leaves, so with `match` it may hold
   * fewer than `limit` entries, even none, and still have a `next`.
   */
  page(options: {
    prefix?: string;
    limit: number;
    from?: SnapshotPosition | null;
    match?: (entry: SnapshotEntry) => boolean;
  }): Promise<SnapshotPage>;
  /** The entry of one key, or null when the snapshot does not hold it. */
  entry(key: string): Promise<SnapshotEntry | null>;
}

/**
 * The snapshot of `backupId` in `bucket`, or null when its manifest index is missing. With a
 * `replica`, its copy stands in for a missing or unreadable index or chunk (as a restore reads).
 */
export async function openSnapshot(
  bucket: Pick<R2Bucket, "get">,
  keyring: Keyring | null,
  backupId: string,
  options: {
    replica?: Pick<R2Bucket, "get"> | null;
    /** Index pages already read, shared by readers of several snapshots (their names fix their content). */
    pages?: PageCache;
  } = {},
): Promise<SnapshotReader | null> {
  const replica = options.replica ?? null;
  const index = await indexWithFallback(bucket, replica, keyring, backupId);
  if (!index) return null;
  const manifest = withReplicaFallback(
    openManifest(bucket, keyring, locatorOf(index), options.pages),
    replica ? openManifest(replica, keyring, locatorOf(index), options.pages) : null,
  );
  const page: SnapshotReader["page"] = ({ prefix = "", limit, from = null, match }) =>
    readManifestPage(manifest, { prefix, limit, from, match });
  const reader: SnapshotReader = {
    backupId,
    page,
    async entry(key) {
      const [first] = (await page({ prefix: key, limit: 1 })).entries;
      return first?.key === key ? first : null;
    },
  };
  if (index.version !== 1)
    trees.set(reader, { root: index.root ?? null, nodes: chunkNodes(bucket, keyring, "the backups compared") });
  return reader;
}

async function indexWithFallback(
  bucket: Pick<R2Bucket, "get">,
  replica: Pick<R2Bucket, "get"> | null,
  keyring: Keyring | null,
  backupId: string,
): Promise<ManifestIndex | null> {
  if (!replica) return readIndex(bucket, keyring, backupId);
  const primary = await readIndex(bucket, keyring, backupId).catch(() => null);
  return primary ?? readIndex(replica, keyring, backupId);
}

/** A version 2 reader's chunk tree, for diffSnapshots (callers never see it; version 1 has none). */
const trees = new WeakMap<SnapshotReader, { root: ChunkRef | null; nodes: TreeNodes }>();

/** The snapshot of `backupId` in the environment's backup bucket, read with its keyring. */
export async function openBackupSnapshot(env: Env, backupId: string): Promise<SnapshotReader | null> {
  return openSnapshot(env.R2_BACKUP_BUCKET, await readKeyring(env), backupId);
}

export interface SnapshotDiffPage {
  changes: KeyChange[];
  /** The last key of this page when more may follow, else null. */
  after: string | null;
}

/**
 * The changes from `from` to `to` (two snapshots in one bucket), in key order, `limit` at most,
 * after the key `after`, under `prefix`. Version 2 snapshots are compared through their chunk
 * trees, reading only the chunks that differ; a version 1 snapshot is merged key by key.
 */
export async function diffSnapshots(
  from: SnapshotReader,
  to: SnapshotReader,
  options: { prefix: string; after: string | null; limit: number },
): Promise<SnapshotDiffPage> {
  const [older, newer] = [trees.get(from), trees.get(to)];
  // One bucket and keyring: the older reader's chunk reader reads the newer tree too.
  if (older && newer) return diffTrees(older.nodes, older.root, newer.root, options);
  return mergeDiff(from, to, options);
}

/** Both snapshots read in key order and merged: for version 1 manifests, which have no tree. */
async function mergeDiff(
  from: SnapshotReader,
  to: SnapshotReader,
  options: { prefix: string; after: string | null; limit: number },
): Promise<SnapshotDiffPage> {
  const [olds, news] = [keysAfter(from, options), keysAfter(to, options)];
  const changes: KeyChange[] = [];
  let [a, b] = [await olds.next(), await news.next()];
  while (!a.done || !b.done) {
    if (changes.length === options.limit) return { changes, after: changes.at(-1)!.key };
    const order = a.done ? 1 : b.done ? -1 : compareKeys(a.value.key, b.value.key);
    if (order < 0) changes.push({ key: a.value!.key, change: "deleted", before: a.value!, after: null });
    else if (order > 0) changes.push({ key: b.value!.key, change: "added", before: null, after: b.value! });
    else if (!sameObject(a.value!, b.value!))
      changes.push({ key: a.value!.key, change: "modified", before: a.value!, after: b.value! });
    if (order <= 0) a = await olds.next();
    if (order >= 0) b = await news.next();
  }
  return { changes, after: null };
}

async function* keysAfter(snapshot: SnapshotReader, options: { prefix: string; after: string | null }) {
  let from: SnapshotPosition | null = null;
  do {
    const page: SnapshotPage = await snapshot.page({ prefix: options.prefix, limit: 1000, from });
    for (const entry of page.entries)
      if (options.after === null || compareKeys(entry.key, options.after) > 0) yield entry;
    from = page.next;
  } while (from);
}

/**
 * What a whole diff of two snapshots costs (for the local measurement route, dev-diff-cost.ts):
 * the changes, the manifest chunks the comparison read, and the chunks of both trees, which is
 * what reading both whole would cost.
 */
export async function countChangesAndReads(
  env: Env,
  fromId: string,
  toId: string,
): Promise<{ changes: number; chunksRead: number; chunksInBothTrees: number }> {
  const keyring = await readKeyring(env);
  let chunksRead = 0;
  const counting = {
    get: (key: string, options?: R2GetOptions) => {
      if (key.startsWith(CHUNK_PREFIX)) chunksRead += 1;
      return env.R2_BACKUP_BUCKET.get(key, options);
    },
  } as Pick<R2Bucket, "get">;
  const [from, to] = await Promise.all([
    openSnapshot(counting, keyring, fromId),
    openSnapshot(counting, keyring, toId),
  ]);
  if (!from || !to) throw new PermanentError(`the manifest index of ${from ? toId : fromId} is missing`);
  let changes = 0;
  let after: string | null = null;
  do {
    const page: SnapshotDiffPage = await diffSnapshots(from, to, { prefix: "", after, limit: 1000 });
    changes += page.changes.length;
    after = page.after;
  } while (after !== null);
  const read = chunksRead;
  const whole = async (reader: SnapshotReader) => {
    const tree = trees.get(reader);
    return tree?.root ? chunksUnder(tree.nodes, tree.root) : 0;
  };
  return { changes, chunksRead: read, chunksInBothTrees: (await whole(from)) + (await whole(to)) };
}

/** The chunks of a tree: its pages (read) and its leaves (counted from the pages above them). */
async function chunksUnder(nodes: TreeNodes, ref: ChunkRef): Promise<number> {
  if (ref.level <= 1) return 1 + (ref.level === 1 ? ref.leaves : 0);
  let count = 1;
  for (const child of await nodes.children(ref)) count += await chunksUnder(nodes, child);
  return count;
}
