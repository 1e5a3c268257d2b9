/**
 * One step of a backup, run by BackupJob's alarm. A step copies the next window of the listing,
 * advances one large object, or finalizes the backup. Order inside a step (docs/invariants.md, 3): blobs,
 * then the manifest chunk and the D1 rows, then (by the caller) the checkpoint and the alarm.
 * Every write is idempotent, so a step replayed after a crash at any point has the same result.
 */
import { codecOf, policyOf, type BackupStepDeps } from "./backup-deps";
import { captureObject } from "./blob-store";
import { errorMessage, isRetryable, SourceReadError } from "../errors";
import { isInvalidKeyError } from "../object-keys";
import type { BackupCheckpoint } from "./backup-checkpoint";
import { ended } from "../lifecycle";
import { mapWithConcurrency } from "../concurrency";
import { shareAfter, writesFirst } from "./write-first";
import { advanceLargeObject, startLargeObject } from "./large-object";
import {
  mergeListing,
  minWindowEnd,
  withinWindow,
  type ListedObject,
  type MergeAction,
  type WindowEnd,
} from "./listing-merge";
import { MANIFEST_FORMAT, MANIFEST_VERSION, writeIndex } from "../format/manifest";
import { openManifest, type ManifestReader } from "../format/manifest-reader";
import { chunkKey, finishTree, treeChecksum, type ChunkRef } from "../format/manifest-tree";
import { beginPathEdit, entriesOf, StepChunks } from "./path-edit";
import { commitWithReferences, readFence } from "../collection/ledger";
import { readParentWindow, type ParentPosition, type ParentWindow } from "./parent-reader";
import { BatchRecorder, storeManifestChunks, type ObjectOutcome } from "./batch-recorder";
import { cutWindow } from "./backup-window";
import { nextTargetKeys, targetedListing } from "./targeted-listing";
import { withRetry, type RetryPolicy } from "../retry";
import { inScope, listingPrefix } from "./key-scope";
import { runFanOutStep } from "./fan-out-step";
import { inKeyRange, WHOLE_KEY_SPACE } from "./fan-out";
import { LockedBlobError } from "../settings/bucket-lock";

export async function runBackupStep(deps: BackupStepDeps, checkpoint: BackupCheckpoint): Promise<BackupCheckpoint> {
  // Read before the step's first presence check: what a sweep condemns after it, the step's
  // commit finds (engine/collection/ledger.ts).
  const fence = await readFence(deps.db);
  switch (checkpoint.phase) {
    case "copying":
      return copyNextBatch(deps, await beginPathEdit(deps, checkpoint), fence);
    case "large":
      return advanceLarge(deps, checkpoint, fence);
    case "finalizing":
      return finalize(deps, checkpoint, fence);
    case "shards":
      if (!deps.fanOut) throw new Error("a fanned-out backup's parent runs without its shards");
      return runFanOutStep(deps, deps.fanOut, checkpoint, fence);
  }
}

/** Parent entries read per step at most, so a step stays bounded after mass deletions. */
export const PARENT_WINDOW_LIMIT = 1000;

/**
 * Copies one window of keys: the next page of the listing merged with the parent snapshot's
 * entries over the same keys (a full backup has no parent, so every listed key is new). The window
 * is cut short before an object above the multipart threshold (handed to the "large" phase) and
 * when the step's byte budget is spent.
 */
async function copyNextBatch(
  deps: BackupStepDeps,
  checkpoint: BackupCheckpoint,
  fence: number,
): Promise<BackupCheckpoint> {
  const { settings } = deps;
  const policy = policyOf(settings);
  const {
    listed,
    parent,
    windowEnd,
    unreadable = new Map(),
    refused = [],
    chunks,
  } = checkpoint.edit?.stage === "editing"
    ? await editedWindow(deps, checkpoint, policy, checkpoint.edit.root)
    : checkpoint.targetKeys
      ? await targetedWindow(deps, checkpoint, policy, checkpoint.targetKeys)
      : await listedWindow(deps, checkpoint, policy);
  const actions = mergeListing(listed, parent.entries);
  const sizes = new Map(listed.map((o) => [o.key, o.size]));
  const cut = cutWindow(actions, sizes, settings);
  const processed = actions.slice(0, cut.at);

  const toRead = processed.filter((a) => a.kind === "new" || a.kind === "modified");
  // Decided once for the step, from the steps before it, so a replay makes the same choice. Under
  // bucket lock rules a put over a locked blob might be refused by the lock: such a store is asked.
  const writeFirst = writesFirst(checkpoint.newContentShare) && (settings.storage.lockDays ?? 0) === 0;
  const read = await mapWithConcurrency(toRead, settings.concurrency, (a) => {
    const error = unreadable.get(a.key);
    return error === undefined
      ? captureWithRetry(deps, policy, checkpoint.backupId, a.key, writeFirst)
      : Promise.resolve<ObjectOutcome>({ kind: "failed", error });
  });
  const newContentShare = shareAfter(
    checkpoint.newContentShare,
    read.flatMap((outcome) => (outcome.kind === "captured" ? [outcome.newContent] : [])),
  );
  const outcomes = new Map<string, ObjectOutcome>(toRead.map((a, i) => [a.key, read[i]!]));
  const batch = new BatchRecorder(checkpoint, chunks);
  for (const { key, reason } of refused) batch.refusedKey(key, reason);
  for (const action of processed) batch.apply(action, outcomes.get(action.key));

  // Where the next step resumes: the whole window, or just after the last action processed.
  const positionAfter = (key: string | undefined): ParentPosition => {
    const index = key === undefined ? -1 : parent.entries.findIndex((e) => e.key === key);
    return index < 0 ? checkpoint.parentPosition : parent.positionsAfter[index]!;
  };
  const lastParentKey = [...processed].reverse().find((a) => a.kind !== "new")?.key;
  let next: BackupCheckpoint;
  if (cut.at === actions.length) {
    next = {
      ...checkpoint,
      phase: windowEnd === null ? "finalizing" : "copying",
      cursorKey: windowEnd ?? listed.at(-1)?.key ?? checkpoint.cursorKey,
      parentPosition: parent.next,
    };
  } else {
    next = {
      ...checkpoint,
      phase: "copying",
      cursorKey: processed.at(-1)?.key ?? checkpoint.cursorKey,
      parentPosition: positionAfter(lastParentKey),
    };
    if (cut.large) {
      const large = cut.large;
      next = {
        ...next,
        phase: "large",
        largeObject: startLargeObject(large.key, large.kind === "modified" ? large.previous : null),
        parentPositionAfterLarge: large.kind === "modified" ? positionAfter(large.key) : next.parentPosition,
      };
    }
  }
  return batch.commit(deps, { ...next, newContentShare }, `${listed.length} listed`, fence);
}

/** One step of a large object; when it is done, it is recorded like any other object. */
async function advanceLarge(
  deps: BackupStepDeps,
  checkpoint: BackupCheckpoint,
  fence: number,
): Promise<BackupCheckpoint> {
  const captured = checkpoint.largeObject!;
  // Captured, but its recording did not count (a sweep page deleted what it stored or found, or a
  // crash): it is recorded only if the blob is still there, else captured again.
  if (captured.stage === "done" && captured.result?.kind === "captured" && !(await deps.backup.head(captured.blob!))) {
    return { ...checkpoint, largeObject: startLargeObject(captured.key, captured.previous, captured.restarts) };
  }
  const state = await advanceLargeObject(
    {
      source: deps.source,
      backup: deps.backup,
      backupId: checkpoint.backupId,
      settings: deps.settings.storage,
      maxRestarts: deps.settings.largeObjectMaxRestarts,
      readAttempts: deps.settings.readAttempts,
      hashStepBytes: deps.settings.hashStepBytes,
      save: (largeObject) => deps.saveCheckpoint({ ...checkpoint, largeObject }),
    },
    checkpoint.largeObject!,
    deps.settings.stepByteBudget,
  );
  if (state.stage !== "done") return { ...checkpoint, largeObject: state, stepFailures: 0, lastError: null };
  // Saved before it is recorded, so a recording that does not count is retried from here.
  await deps.saveCheckpoint({ ...checkpoint, largeObject: state });
  return recordLarge(deps, { ...checkpoint, largeObject: state }, state.result!, fence);
}

async function recordLarge(
  deps: BackupStepDeps,
  checkpoint: BackupCheckpoint,
  outcome: ObjectOutcome,
  fence: number,
): Promise<BackupCheckpoint> {
  const large = checkpoint.largeObject!;
  const action: MergeAction = large.previous
    ? { kind: "modified", key: large.key, previous: large.previous }
    : { kind: "new", key: large.key };
  const batch = new BatchRecorder(checkpoint);
  batch.apply(action, outcome);
  const next: BackupCheckpoint = {
    ...checkpoint,
    phase: "copying",
    cursorKey: large.key,
    parentPosition: checkpoint.parentPositionAfterLarge ?? checkpoint.parentPosition,
    largeObject: null,
    parentPositionAfterLarge: null,
  };
  return batch.commit(deps, next, `large object ${large.key}`, fence);
}

interface Window {
  /** The source's objects in the window, in key order. */
  listed: ListedObject[];
  parent: ParentWindow;
  windowEnd: WindowEnd;
  /** A targeted window's named keys whose state could not be read: failed objects (key → error). */
  unreadable?: Map<string, string>;
  /** Named keys R2 refuses (it can never hold them): left out, with the reason logged. */
  refused?: { key: string; reason: string }[];
  /** A path edit's chunks read so far in this step (the leaves its keys were looked up in). */
  chunks?: StepChunks;
}

/** The parent's entries up to `listingEnd` (at most PARENT_WINDOW_LIMIT of them; none for a full backup). */
async function parentWindow(
  deps: BackupStepDeps,
  checkpoint: BackupCheckpoint,
  policy: RetryPolicy,
  listingEnd: WindowEnd,
): Promise<ParentWindow> {
  if (checkpoint.parentId === null)
    return { entries: [], positionsAfter: [], next: checkpoint.parentPosition, exhausted: true, cutAt: null };
  return withRetry(policy, () =>
    readParentWindow(parentManifest(deps, checkpoint), checkpoint.parentPosition, listingEnd, PARENT_WINDOW_LIMIT),
  );
}

/** The next page of the bucket's listing, and the parent's entries over the same keys. */
async function listedWindow(deps: BackupStepDeps, checkpoint: BackupCheckpoint, policy: RetryPolicy): Promise<Window> {
  const scope = checkpoint.template;
  const prefix = listingPrefix(scope);
  // A shard lists its range only: from its start (the first cursor) to its last key.
  const range = checkpoint.shard?.range ?? WHOLE_KEY_SPACE;
  const listing = await withRetry(policy, () =>
    deps.source.list({
      limit: deps.settings.batchSize,
      ...(prefix ? { prefix } : {}),
      ...(checkpoint.cursorKey === null ? {} : { startAfter: checkpoint.cursorKey }),
    }),
  );
  if (listing.truncated && listing.objects.length === 0)
    throw new Error("R2 returned an empty page that claims more keys follow");
  const pageEnd: WindowEnd = listing.truncated ? listing.objects.at(-1)!.key : null;
  // A page that reaches past the range's end ends the listing, as the end of the bucket does.
  const listingEnd = pageEnd !== null && inKeyRange(range, pageEnd) ? pageEnd : null;
  const parent = await parentWindow(deps, checkpoint, policy, listingEnd);
  const windowEnd = minWindowEnd(listingEnd, parent.cutAt);
  // A template's keys only: the rest of the page is passed over (the window still ends where it did).
  return {
    listed: listing.objects.filter(
      (o) => withinWindow(o.key, windowEnd) && inKeyRange(range, o.key) && inScope(scope, o.key),
    ),
    parent,
    windowEnd,
  };
}

/**
 * A targeted incremental's window (targeted-listing.ts): no listing; the next named keys are read
 * with `head` and laid over the parent's entries.
 */
async function targetedWindow(
  deps: BackupStepDeps,
  checkpoint: BackupCheckpoint,
  policy: RetryPolicy,
  targetKeys: string[],
): Promise<Window> {
  const { keys, listingEnd } = nextTargetKeys(targetKeys, checkpoint.cursorKey, deps.settings.batchSize);
  const parent = await parentWindow(deps, checkpoint, policy, listingEnd);
  const windowEnd = minWindowEnd(listingEnd, parent.cutAt);
  const { current, unreadable, refused } = await headNamedKeys(
    deps,
    policy,
    keys.filter((key) => withinWindow(key, windowEnd)),
  );
  return { listed: targetedListing(parent.entries, current, windowEnd), parent, windowEnd, unreadable, refused };
}

/**
 * A path edit's window: the next named keys, their entries in the tree so far (looked up, not
 * walked to), and what `head` says of them now. The tree itself is edited when the step commits.
 */
async function editedWindow(
  deps: BackupStepDeps,
  checkpoint: BackupCheckpoint,
  policy: RetryPolicy,
  root: ChunkRef | null,
): Promise<Window> {
  const { keys, listingEnd } = nextTargetKeys(checkpoint.targetKeys!, checkpoint.cursorKey, deps.settings.batchSize);
  const chunks = new StepChunks(deps, `backup ${checkpoint.parentId}`, deps.parentPages);
  const previous = await withRetry(policy, () => entriesOf(chunks, root, keys));
  const { current, unreadable, refused } = await headNamedKeys(deps, policy, keys);
  const listed = [...current.values()].filter((object): object is ListedObject => object !== null);
  // The tree is not read in order, so there is no position in it to keep: the window is the keys.
  const position = checkpoint.parentPosition;
  const parent: ParentWindow = {
    entries: previous,
    positionsAfter: previous.map(() => position),
    next: position,
    exhausted: true,
    cutAt: null,
  };
  return { listed, parent, windowEnd: listingEnd, unreadable, refused, chunks };
}

/**
 * The named keys' state now, by `head` (null: gone). An unreadable key's state is unknown: it is
 * listed (so the merge hands it to capture, which records it failed), never taken for a deletion.
 */
async function headNamedKeys(
  deps: BackupStepDeps,
  policy: RetryPolicy,
  named: readonly string[],
): Promise<{
  current: Map<string, ListedObject | null>;
  unreadable: Map<string, string>;
  refused: { key: string; reason: string }[];
}> {
  const unreadable = new Map<string, string>();
  const refused: { key: string; reason: string }[] = [];
  // A key R2 refuses is never retried (it can never exist); any other failure fails that object
  // only, as an unreadable object does in a listing backup (the backup ends partial).
  const keyPolicy: RetryPolicy = { ...policy, shouldRetry: (error) => !isInvalidKeyError(error) && isRetryable(error) };
  const heads = await mapWithConcurrency(named, deps.settings.concurrency, async (key) => {
    try {
      return await withRetry(keyPolicy, () => deps.source.head(key));
    } catch (error) {
      if (isInvalidKeyError(error)) refused.push({ key, reason: errorMessage(error) });
      else unreadable.set(key, `head ${key}: ${errorMessage(error)}`);
      return null;
    }
  });
  const current = new Map(
    named.map((key, i): [string, ListedObject | null] => {
      const head = heads[i];
      if (head) return [key, { key, etag: head.etag, size: head.size, uploaded: head.uploaded }];
      return [key, unreadable.has(key) ? { key, etag: "", size: 0, uploaded: new Date(0) } : null];
    }),
  );
  return { current, unreadable, refused };
}

/** The parent's manifest, version 1 or 2 (`parentRoot` is absent for version 1). */
function parentManifest(deps: BackupStepDeps, checkpoint: BackupCheckpoint): ManifestReader {
  const locator = {
    backupId: checkpoint.parentId!,
    chunkCount: checkpoint.parentChunkCount,
    root: checkpoint.parentRoot,
  };
  return openManifest(deps.backup, deps.settings.readKeyring, locator, deps.parentPages);
}

async function captureWithRetry(
  deps: BackupStepDeps,
  policy: RetryPolicy,
  backupId: string,
  key: string,
  writeFirst: boolean,
): Promise<ObjectOutcome> {
  try {
    return await withRetry(policy, () =>
      captureObject(deps.source, deps.backup, key, backupId, deps.settings.storage, writeFirst),
    );
  } catch (error) {
    // Only an unreadable source object is this object's failure; a failing backup bucket fails
    // the whole step, which is retried, so the backup is never `partial` for the store's sake.
    // The exception: a damaged blob a bucket lock keeps from being replaced (no retry can help).
    if (error instanceof SourceReadError || error instanceof LockedBlobError)
      return { kind: "failed", error: error.message };
    throw error;
  }
}

/**
 * Closes the manifest's open chunks, writes its index, which makes the snapshot whole, and decides
 * the outcome. The D1 row and the closing log line are the lifecycle's final recording
 * (BackupJob.recordEnd), retried until they land.
 */
async function finalize(deps: BackupStepDeps, before: BackupCheckpoint, fence: number): Promise<BackupCheckpoint> {
  const completedAt = deps.now();
  const failed = before.counters.failedCount;
  // A path edit's tree is whole after every step, and so is a fan-out's once its shards' trees
  // are joined; a built one closes its open chunks now.
  const whole =
    before.edit?.stage === "editing"
      ? before.edit.root
      : before.fanOut?.stage === "joined"
        ? before.fanOut.root
        : undefined;
  const tree =
    whole !== undefined
      ? { root: whole, chunks: [], leaves: whole?.leaves ?? 0 }
      : await finishTree(before.tree, codecOf(deps.settings).keyring, deps.settings.treeShape);
  const checksum = treeChecksum(tree.root);
  const checkpoint: BackupCheckpoint = {
    ...(await storeManifestChunks(deps, before, tree.chunks)),
    tree: { open: [], openBytes: 0, levels: [], leaves: tree.leaves },
    checksum,
  };
  // The last chunks are referenced before the index names them (docs/invariants.md, 16).
  await commitWithReferences(deps.db, [], {
    holder: checkpoint.backupId,
    keys: tree.chunks.map((c) => chunkKey(c.ref.name)),
    fence,
  });
  const done = (outcomeOf: BackupCheckpoint) =>
    failed > 0
      ? ended(
          outcomeOf,
          "partial",
          `${failed} object(s) could not be read; see the file records with status failed.`,
          completedAt,
        )
      : ended(outcomeOf, "completed", null, completedAt);
  // A shard's tree is one range of the snapshot: its parent joins it with the others' and writes the index.
  if (checkpoint.shard) return done({ ...checkpoint, shardRoot: tree.root });
  await writeIndex(deps.backup, codecOf(deps.settings), {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    backupId: checkpoint.backupId,
    bucketName: checkpoint.bucketName,
    type: checkpoint.type,
    parentId: checkpoint.parentId,
    createdAt: checkpoint.backupDate,
    completedAt: completedAt.toISOString(),
    chunkCount: tree.leaves,
    fileCount: checkpoint.counters.snapshotFileCount,
    totalSize: checkpoint.counters.snapshotSize,
    checksum,
    root: tree.root,
  });
  return done(checkpoint);
}
