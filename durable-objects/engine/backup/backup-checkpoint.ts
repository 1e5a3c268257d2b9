/**
 * The state a BackupJob keeps in its own storage between alarm steps. Everything a step needs to
 * resume is here, and every counter reported to D1 is derived from it (set, never incremented in
 * D1), so a replayed step cannot count twice.
 */
import type { BackupTrigger, BackupType } from "../../../schema";
import { RUNNING, type StepState } from "../lifecycle";
import type { ManifestLocator } from "../format/manifest-reader";
import { EMPTY_TREE, type ChunkRef, type TreeBuilderState } from "../format/manifest-tree";
import type { LargeObjectState } from "./large-object";
import type { ParentPosition } from "./parent-reader";
import type { TemplateRun } from "../settings/templates";
import type { FanOutState, ShardAssignment } from "./fan-out";

import { ZERO_COUNTERS, type BackupCounters } from "./backup-counters";

export { ZERO_COUNTERS, type BackupCounters };

/** What the parent snapshot holds (path-edit.ts), to carry its totals over (a path edit never counts its entries). */
export interface ParentTotals {
  fileCount: number;
  totalSize: number;
  /** Longest key in UTF-8 bytes. */
  maxKeyBytes: number;
}

export type PathEditState =
  /** Chosen at start (a targeted backup over a tree); its first step checks the tree's names. */
  | { stage: "pending"; parent: ParentTotals }
  /** The tree so far: the parent's, with every finished step's changes applied. */
  | { stage: "editing"; root: ChunkRef | null };

/** Where the work stands; whether the job is over is StepState's `stage`, the one notion of done. */
export type BackupPhase = "copying" | "large" | "finalizing" | "shards";

export interface BackupCheckpoint extends StepState {
  /** 2 since manifests are chunk trees; a version 1 checkpoint wrote version 1 chunks. */
  version: 2;
  backupId: string;
  bucketName: string;
  type: BackupType;
  trigger: BackupTrigger;
  requestedBy: string;
  parentId: string | null;
  backupDate: string;
  startedAt: string;
  /** Logged with the start (for example why the requested type was changed). */
  startNotes: string[];
  phase: BackupPhase;
  /** The last source key handled; the next listing starts after it. */
  cursorKey: string | null;
  /**
   * A targeted incremental's keys (named by object-change events, in key order): only these are
   * read, everything else is carried over from the parent (targeted-listing.ts). Absent or null:
   * the whole bucket is listed.
   */
  targetKeys?: string[] | null;
  /** The backup template it runs; absent or null: the default (the environment variables). */
  template?: TemplateRun | null;
  /** Leaves in the parent's manifest (0 for a full backup). */
  parentChunkCount: number;
  /** The root of the parent's version 2 manifest; absent when the parent's manifest is version 1. */
  parentRoot?: ChunkRef | null;
  /** How far the merge has read the parent's manifest (a path edit does not read it in order: unused). */
  parentPosition: ParentPosition;
  /**
   * A targeted backup made by path edits of the parent's tree (path-edit.ts); absent: the backup
   * builds its tree from every entry in key order (`tree`), walking the parent if it has one.
   */
  edit?: PathEditState;
  /** The object above the multipart threshold being captured over several steps, if any. */
  largeObject: LargeObjectState | null;
  /** Where the parent merge resumes once the large object is recorded. */
  parentPositionAfterLarge: ParentPosition | null;
  /** Steps completed so far; names the next step's log event. */
  batchNumber: number;
  /** The manifest's chunk tree so far (a path edit keeps its tree in `edit`); see manifest-tree.ts. */
  tree: TreeBuilderState;
  /** Manifest chunks this backup stored, and their bytes (chunks already stored are reused). */
  chunksWritten: number;
  chunkBytesWritten: number;
  /** Manifest chunks a path edit read (absent otherwise): what its cost follows. */
  chunksRead?: number;
  /** The manifest's checksum, once its index is written (absent in backups an older engine finalized). */
  checksum?: string;
  counters: BackupCounters;
  /**
   * The share of new content among the objects this backup captured lately (write-first.ts):
   * whether its next step writes small content before asking the store. Absent: none captured yet.
   */
  newContentShare?: number;
  /**
   * A fanned-out full backup's parent (fan-out.ts): its shards and, once they are joined, the root.
   * Its phase is "shards" until then; absent: the backup runs in this object alone.
   */
  fanOut?: FanOutState;
  /**
   * A shard of a fanned-out backup (its `backupId` is the parent's): the range it backs up. It
   * writes no index and holds no lease; its tree's root, once closed, is `shardRoot`.
   */
  shard?: ShardAssignment;
  shardRoot?: ChunkRef | null;
}

export interface NewBackup {
  backupId: string;
  bucketName: string;
  type: BackupType;
  trigger: BackupTrigger;
  requestedBy: string;
  parentId: string | null;
  backupDate: string;
  /** Set for a targeted incremental (an incremental with a parent only). */
  targetKeys?: string[] | null;
  /** The backup template it runs (its source, key scope and storage options); absent: the default's. */
  template?: TemplateRun | null;
  /**
   * How far a full backup may fan out (fan-out.ts): at most `maxShards` shards of at least
   * `minObjectsPerShard` objects each; absent or 1 shard: one object backs up the whole bucket.
   */
  fanOut?: { maxShards: number; minObjectsPerShard: number; pollMs: number } | null;
}

/** The parent's manifest, as far as the checkpoint needs to know it. */
export type ParentManifest = Omit<ManifestLocator, "backupId">;

/**
 * A new backup's checkpoint. A targeted backup over a parent with a chunk tree, whose totals are
 * known, is made by path edits (`parentTotals`: from the parent's index and D1 row).
 */
export function initialCheckpoint(
  backup: NewBackup,
  parent: ParentManifest,
  startedAt: string,
  startNotes: string[] = [],
  parentTotals: ParentTotals | null = null,
): BackupCheckpoint {
  const editable = Boolean(backup.targetKeys) && parent.root !== undefined && parentTotals !== null;
  const { fanOut, ...request } = backup;
  // Only a full backup fans out: an incremental one follows its parent's entries in key order.
  const fansOut = fanOut && fanOut.maxShards > 1 && backup.type === "full" && !backup.parentId && !backup.targetKeys;
  return {
    version: 2,
    ...request,
    ...(fansOut ? { fanOut: { stage: "planning", ...fanOut } } : {}),
    ...(editable ? { edit: { stage: "pending", parent: parentTotals! } } : {}),
    startNotes,
    parentChunkCount: parent.chunkCount,
    ...(parent.root === undefined ? {} : { parentRoot: parent.root }),
    parentPosition: { chunkSeq: 0, offset: 0 },
    largeObject: null,
    parentPositionAfterLarge: null,
    startedAt,
    phase: fansOut ? "shards" : "copying",
    cursorKey: null,
    batchNumber: 0,
    tree: EMPTY_TREE,
    chunksWritten: 0,
    chunkBytesWritten: 0,
    counters: { ...ZERO_COUNTERS },
    ...RUNNING,
  };
}
