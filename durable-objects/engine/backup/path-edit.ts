/**
 * A targeted backup made by path edits (format/tree-edit.ts): each step looks its named keys up
 * in the tree so far, captures what changed, and applies the changes to that tree, reading only
 * the leaves the keys fall in and the pages above them. The checkpoint carries the edited tree's
 * root, so a one-key event backup costs a few chunks whatever the bucket's size.
 *
 * A path edit keeps the parent's untouched chunks by name, so it is chosen only when those names
 * are the ones this backup would give them: the parent's root must be named under the current
 * naming key (or no key, unencrypted). After a key rotation, or when encryption was switched on
 * or off, the backup walks the parent instead and renames every chunk, as a listing would.
 */
import { PermanentError } from "../errors";
import { chunkNodes, readChunkText } from "../format/chunk-store";
import type { ManifestEntry } from "../format/manifest";
import type { PageCache } from "../format/manifest-reader";
import { chunkName, parsePage, type ChunkRef } from "../format/manifest-tree";
import type { TreeNodes } from "../format/tree-diff";
import { findEntries } from "../format/tree-edit";
import type { BackupCheckpoint } from "./backup-checkpoint";

export type { ParentTotals, PathEditState } from "./backup-checkpoint";
import { codecOf, type BackupStepDeps } from "./backup-deps";

/** The checkpoint with its path edit begun, or without one (the walk) when the parent's names are another key's. */
export async function beginPathEdit(deps: BackupStepDeps, checkpoint: BackupCheckpoint): Promise<BackupCheckpoint> {
  const edit = checkpoint.edit;
  if (edit?.stage !== "pending") return checkpoint;
  const root = checkpoint.parentRoot ?? null;
  if (root && !(await namedAsThisBackupWould(deps, root, checkpoint.parentId!))) {
    const { edit: _walks, ...walk } = checkpoint;
    return walk;
  }
  const { parent } = edit;
  return {
    ...checkpoint,
    edit: { stage: "editing", root },
    chunksRead: root ? 1 : 0,
    counters: {
      ...checkpoint.counters,
      snapshotFileCount: parent.fileCount,
      snapshotSize: parent.totalSize,
      maxKeyBytes: parent.maxKeyBytes,
    },
  };
}

async function namedAsThisBackupWould(deps: BackupStepDeps, root: ChunkRef, parentId: string): Promise<boolean> {
  const chunk = await readChunkText(deps.backup, deps.settings.readKeyring, root.name);
  if (!chunk)
    throw new PermanentError(`the root chunk of backup ${parentId}'s manifest is missing; verify that backup`);
  // The first step's lookups start at this page: kept, so it is read once.
  if (root.level > 0) deps.parentPages.set(root.name, parsePage(chunk.text, root.level));
  return (await chunkName(chunk.sha256, codecOf(deps.settings).keyring)) === root.name;
}

/**
 * The chunks one step reads, each at most once: a leaf read to look a key up is the leaf the edit
 * rewrites. Pages go to the job's page cache (immutable by name), leaves live for the step.
 */
export class StepChunks implements TreeNodes {
  reads = 0;
  private readonly leaves = new Map<string, ManifestEntry[]>();
  private readonly nodes: TreeNodes;

  constructor(
    deps: BackupStepDeps,
    whose: string,
    private readonly pages: PageCache,
  ) {
    this.nodes = chunkNodes(deps.backup, deps.settings.readKeyring, whose);
  }

  children(ref: ChunkRef): Promise<ChunkRef[]> {
    return this.once(this.pages, ref, (r) => this.nodes.children(r));
  }

  entries(ref: ChunkRef): Promise<ManifestEntry[]> {
    return this.once(this.leaves, ref, (r) => this.nodes.entries(r));
  }

  /** What `read` gives for the chunk, read only if `cache` does not hold it yet (a name fixes its content). */
  private async once<T>(
    cache: { get(name: string): T | undefined; set(name: string, value: T): void },
    ref: ChunkRef,
    read: (ref: ChunkRef) => Promise<T>,
  ): Promise<T> {
    const cached = cache.get(ref.name);
    if (cached) return cached;
    this.reads += 1;
    const value = await read(ref);
    cache.set(ref.name, value);
    return value;
  }
}

/** The tree's entries of the named keys, in key order (keys it does not hold are left out). */
export async function entriesOf(nodes: TreeNodes, root: ChunkRef | null, keys: readonly string[]) {
  const found = await findEntries(nodes, root, keys);
  return keys.flatMap((key) => {
    const entry = found.get(key);
    return entry ? [entry] : [];
  });
}
