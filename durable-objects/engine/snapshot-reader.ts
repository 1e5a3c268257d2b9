/**
 * The one way to read a finished backup's snapshot from outside the jobs: the API's file listing,
 * the local damage route, and the coming diff, download and history endpoints. It hides that a
 * manifest is an index over chunked pages, how they are encrypted, and how a prefix is found.
 */
import type { Keyring } from "./format/keyring";
import { readIndex, type ManifestEntry } from "./format/manifest";
import { readManifestPage } from "./format/manifest-pager";
import { locatorOf, openManifest } from "./format/manifest-reader";
import { readKeyring } from "./settings/engine-settings";

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
  /** Entries in key order under `prefix`, from `from` (the previous page's `next`) or the start. */
  page(options: { prefix?: string; limit: number; from?: SnapshotPosition | null }): Promise<SnapshotPage>;
  /** The entry of one key, or null when the snapshot does not hold it. */
  entry(key: string): Promise<SnapshotEntry | null>;
}

/** The snapshot of `backupId` in `bucket`, or null when its manifest index is missing. */
export async function openSnapshot(
  bucket: Pick<R2Bucket, "get">,
  keyring: Keyring | null,
  backupId: string,
): Promise<SnapshotReader | null> {
  const index = await readIndex(bucket, keyring, backupId);
  if (!index) return null;
  const manifest = openManifest(bucket, keyring, locatorOf(index));
  const page: SnapshotReader["page"] = ({ prefix = "", limit, from = null }) =>
    readManifestPage(manifest, { prefix, limit, from });
  return {
    backupId,
    page,
    async entry(key) {
      const [first] = (await page({ prefix: key, limit: 1 })).entries;
      return first?.key === key ? first : null;
    },
  };
}

/** The snapshot of `backupId` in the environment's backup bucket, read with its keyring. */
export async function openBackupSnapshot(env: Env, backupId: string): Promise<SnapshotReader | null> {
  return openSnapshot(env.R2_BACKUP_BUCKET, await readKeyring(env), backupId);
}
