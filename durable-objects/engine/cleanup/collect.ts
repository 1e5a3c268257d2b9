/**
 * The collection's first half, as the store's one collector (docs/invariants.md, 16):
 *
 *   collect  releases the bucket's lease (backups of the bucket may start again: the ledger
 *            protects what they write), registers in the ledger or waits for the collector there
 *            is, prunes ledger rows no collection needs any more, then reads the snapshots to
 *            mark: every completed or partial backup in the store, of any bucket or template,
 *            read after the registration (what completes later is protected by its references);
 *   mark     every manifest chunk and blob those snapshots name goes into the job's SQLite mark
 *            set. Snapshots share chunks, and a chunk's name fixes everything under it, so a
 *            chunk already marked for an earlier snapshot is skipped with its whole subtree (once
 *            the chunks above it are marked): each distinct chunk is read once. A snapshot whose
 *            manifest cannot be read fails the cleanup before anything is swept, unless it was
 *            expired meanwhile (by a cleanup of another bucket or template): then it is not kept.
 */
import { PRUNE_ROWS_PER_STEP } from "../collection/ledger";
import { PermanentError } from "../errors";
import { readIndex } from "../format/manifest";
import { locatorOf, openManifest, type ManifestReader } from "../format/manifest-reader";
import { chunkKey } from "../format/manifest-tree";
import { describeDone } from "./cleanup-report";
import type { CleanupDeps, CleanupState } from "./cleanup-state";

export const CHUNKS_PER_STEP = 16;
/** How often a cleanup waiting for another collector asks again. */
export const COLLECTOR_POLL_MS = 60_000;

export async function collectNext(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  const { collection, store } = deps;
  if (state.dryRun) {
    // A dry run deletes nothing and registers nothing: it marks what a real run would keep.
    store.saveKept(await snapshotsToMark(deps, state));
    return { ...state, phase: "mark", markOrder: "role" };
  }
  await collection.releaseLease();
  if (state.collectorSince === null || state.collectorSince === undefined) {
    const registration = await collection.register();
    if (!registration.registered) return { ...state, waitingFor: registration.collector, waitMs: COLLECTOR_POLL_MS };
    // Saved before anything depends on it; registering again on a replay is harmless.
    return { ...state, collectorSince: registration.since, waitingFor: null };
  }
  if ((await collection.prune(state.collectorSince)) >= PRUNE_ROWS_PER_STEP) return state;
  store.saveKept(await snapshotsToMark(deps, state));
  return { ...state, phase: "mark", markOrder: "role" };
}

/** Every snapshot in the store, less (in a dry run, which expires nothing) the ones its plan would expire. */
async function snapshotsToMark(deps: CleanupDeps, state: CleanupState): Promise<string[]> {
  const snapshots = await deps.collection.snapshots();
  if (!state.dryRun) return snapshots;
  const planned = new Set<string>();
  for (let next = deps.store.nextExpired(null); next; next = deps.store.nextExpired(next.id)) planned.add(next.id);
  return snapshots.filter((id) => !planned.has(id));
}

export async function markNext(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  if (state.markOrder !== "role") {
    // Begun by the engine that walked snapshots in id order: those before its current one are done.
    if (state.markBackup !== null) deps.store.keptMarkedBefore(state.markBackup);
    return { ...state, markOrder: "role" };
  }
  const backupId = state.markBackup ?? deps.store.nextKept();
  if (backupId === null) return { ...state, phase: "sweep", markBackup: null, markChunk: 0 };
  const index = await readIndex(deps.backup, deps.keyring, backupId);
  if (!index) {
    // Expired by another cleanup since the snapshots were read: not kept any more. What this
    // walk marked for it is forgotten, so a later snapshot sharing those chunks walks them itself.
    // Snapshots completed since the registration are read again and marked too: a path edit
    // names the subtrees it kept from its parent without listing what is under them, so once the
    // parent cannot be walked, only the child reaches them (docs/invariants.md, 16).
    if ((await deps.collection.statusOf(backupId)) === "expired") {
      deps.store.forgetChunksOf(backupId);
      deps.store.addKept(await snapshotsToMark(deps, state));
      return nextBackup(deps, state, backupId);
    }
    // Sweeping with an incomplete mark set could delete what a kept backup needs: stop instead.
    throw new PermanentError(
      `cannot mark what backup ${backupId} needs: its manifest index is missing; ${describeDone(state)}`,
    );
  }
  const manifest = openManifest(deps.backup, deps.keyring, locatorOf(index));
  const chunk =
    manifest.version === 1
      ? await markLeaves(deps, state, manifest, state.markChunk)
      : await markTree(deps, state, manifest, state.markChunk);
  if (chunk < manifest.chunkCount) return { ...state, markBackup: backupId, markChunk: chunk };
  return nextBackup(deps, state, backupId);
}

function nextBackup(deps: CleanupDeps, state: CleanupState, done: string): CleanupState {
  deps.store.keptMarked(done);
  const next = deps.store.nextKept();
  return next === null
    ? { ...state, phase: "sweep", markBackup: null, markChunk: 0 }
    : { ...state, markBackup: next, markChunk: 0 };
}

const unmarkable = (state: CleanupState, manifest: ManifestReader, key: string, problem: string) =>
  new PermanentError(
    `cannot mark what backup ${manifest.backupId} needs: manifest chunk ${key} is ${problem}; ${describeDone(state)}`,
  );

/** Marks the blobs of up to CHUNKS_PER_STEP leaves from `seq`; returns the next leaf to mark. */
async function markLeaves(
  deps: CleanupDeps,
  state: CleanupState,
  manifest: ManifestReader,
  seq: number,
): Promise<number> {
  for (let read = 0; seq < manifest.chunkCount && read < CHUNKS_PER_STEP; seq++, read++) {
    const leaf = await manifest.leaf(seq);
    if (leaf.kind === "unreadable") throw unmarkable(state, manifest, leaf.key, leaf.problem);
    deps.store.mark(leaf.entries.map((e) => e.blob));
  }
  return seq;
}

/**
 * Marks a version 2 manifest from leaf `seq`: each chunk on the way down is marked for this
 * backup; a chunk already marked for another (an earlier, fully marked snapshot) is skipped with
 * every leaf under it, once the chunks above it on the path are marked. Chunks marked for this
 * backup are its own ancestors met again after a resumed step, so they are walked, not skipped.
 * Returns the next leaf to mark.
 */
async function markTree(
  deps: CleanupDeps,
  state: CleanupState,
  manifest: ManifestReader,
  seq: number,
): Promise<number> {
  const { store } = deps;
  for (let read = 0; seq < manifest.chunkCount && read < CHUNKS_PER_STEP; read++) {
    const path = await manifest.path(seq);
    if (!Array.isArray(path)) throw unmarkable(state, manifest, path.key, path.problem);
    const sharedAt = path.findIndex((step) => {
      const by = store.chunkMarkedBy(chunkKey(step.ref.name));
      return by !== null && by !== manifest.backupId;
    });
    if (sharedAt >= 0) {
      // The chunks above the shared one are this snapshot's, and may be new (a page made only of
      // old children, after a folder's deletion): they are marked before the subtree is skipped.
      for (const step of path.slice(0, sharedAt)) store.markChunk(chunkKey(step.ref.name), manifest.backupId);
      const shared = path[sharedAt]!;
      seq = shared.firstSeq + shared.ref.leaves;
      continue;
    }
    for (const step of path) store.markChunk(chunkKey(step.ref.name), manifest.backupId);
    const leaf = await manifest.leaf(seq);
    if (leaf.kind === "unreadable") throw unmarkable(state, manifest, leaf.key, leaf.problem);
    store.mark(leaf.entries.map((e) => e.blob));
    seq++;
  }
  return seq;
}
