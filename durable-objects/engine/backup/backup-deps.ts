/** What a backup step is given: bindings, settings, a clock, and a way to save progress midway. */
import type { SourceReader, BlobStore } from "../buckets";
import type { BackupCheckpoint } from "./backup-checkpoint";
import type { StorageSettings } from "./blob-store";
import type { Keyring } from "../format/keyring";
import type { TreeShape } from "../format/manifest-tree";
import type { ManifestCodec } from "../format/manifest";
import type { PageCache } from "../format/manifest-reader";
import type { Database } from "../records";
import type { RetryPolicy } from "../retry";
import type { FanOutDeps } from "./fan-out";

export interface BackupEngineSettings {
  batchSize: number;
  readAttempts: number;
  retryBaseMs: number;
  /** Objects read in parallel within a batch. */
  concurrency: number;
  storage: StorageSettings;
  /** Restarts of a large object's capture on a changed source before it is failed. */
  largeObjectMaxRestarts: number;
  /** Content bytes one step reads at most (at least one object or part). */
  stepByteBudget: number;
  /** A large object up to this size is hashed natively in one step (see BACKUP_HASH_STEP_BYTES). */
  hashStepBytes: number;
  /** Every configured key, to read a parent manifest written under an older key. */
  readKeyring: Keyring | null;
  /** How the manifest tree is cut (the format's defaults, or a test's smaller fanout). */
  treeShape: TreeShape;
}

export interface BackupStepDeps {
  source: SourceReader;
  backup: BlobStore;
  db: Database;
  settings: BackupEngineSettings;
  now: () => Date;
  /** Saves the checkpoint in the middle of a step (a large object's finished parts). */
  saveCheckpoint: (checkpoint: BackupCheckpoint) => Promise<void>;
  /** The parent manifest's index pages read by earlier steps of this object (immutable by name). */
  parentPages: PageCache;
  /** A fanned-out backup's parent: its shards and what it plans from (absent in a shard or a test's plain step). */
  fanOut?: FanOutDeps;
}

export const policyOf = (settings: BackupEngineSettings): RetryPolicy => ({
  attempts: settings.readAttempts,
  baseDelayMs: settings.retryBaseMs,
});
export const codecOf = (settings: BackupEngineSettings): ManifestCodec => ({
  compress: settings.storage.compress,
  keyring: settings.storage.keyring,
});
