/**
 * The sweep, as the store's one collector: the blob store, then the chunk store, then the
 * manifests' own objects (only counted: the sweep measures what the backup bucket holds once it
 * is done, the figure GET /api/backup/stats starts from), then the replica's blobs and chunks
 * (its names are the primary's, so the one mark set serves both). One listed page per step:
 *
 *   1. candidates: listed objects neither marked nor younger than the grace period;
 *   2. condemned in the ledger, in one batch that leaves out whatever a running backup, or one
 *      ended since this cleanup registered, references (engine/collection/ledger.ts); the page
 *      is saved with what it deletes before anything is deleted;
 *   3. deleted, then the page is marked done in the ledger. A replay deletes only while the page
 *      is still deleting: once done, a backup may have stored the same content again.
 */
import { ended } from "../lifecycle";
import { CHUNK_PREFIX } from "../format/manifest-tree";
import { REPLICA_TOMBSTONE_PREFIX } from "../collection/ledger";
import type { CleanupDeps, CleanupState, SweepPage } from "./cleanup-state";

/**
 * What the sweep lists, in order: content blobs, then the shared manifest chunks (both collected),
 * then the manifests' indexes (only counted: expiring a backup deletes its own).
 */
export const SWEPT_PREFIXES = ["blobs/", CHUNK_PREFIX, "manifests/"] as const;
const COLLECTED_PREFIXES: ReadonlySet<string> = new Set(["blobs/", CHUNK_PREFIX]);

interface SweepArea {
  bucket: Pick<R2Bucket, "list" | "delete">;
  prefix: string;
  replica: boolean;
}

/**
 * The areas the sweep goes through, in order: the backup bucket's prefixes, then the replica's
 * collected ones (its manifests are deleted with their backups, and not measured).
 */
function sweepAreas(deps: CleanupDeps): SweepArea[] {
  const primary = SWEPT_PREFIXES.map((prefix) => ({ bucket: deps.backup, prefix, replica: false }));
  const replica = deps.replica;
  return replica
    ? [...primary, ...[...COLLECTED_PREFIXES].map((prefix) => ({ bucket: replica, prefix, replica: true }))]
    : primary;
}

/** Lists the page at the state's cursor, and decides (and, unless a dry run, condemns) what it deletes. */
async function listPage(deps: CleanupDeps, state: CleanupState, area: SweepArea, from: string): Promise<SweepPage> {
  const { bucket, prefix, replica } = area;
  const listed = await bucket.list({
    prefix,
    limit: 1000,
    ...(state.sweepCursor ? { cursor: state.sweepCursor } : {}),
  });
  const graceMs = state.graceHours * 3_600_000;
  const youngSince = deps.now().getTime() - graceMs;
  const unneeded = COLLECTED_PREFIXES.has(prefix) ? listed.objects.filter((o) => !deps.store.isMarked(o.key)) : [];
  const candidates = unneeded.filter((o) => o.uploaded.getTime() < youngSince);
  const young = unneeded.filter((o) => o.uploaded.getTime() >= youngSince);
  const firstYoung = young.length ? Math.min(...young.map((o) => o.uploaded.getTime())) : null;
  let doomed = candidates;
  if (!state.dryRun && candidates.length > 0) {
    const condemned = new Set(
      await deps.collection.condemn({
        pageId: pageIdOf(state, from),
        since: state.collectorSince!,
        candidates: candidates.map((o) => o.key),
        tombstonePrefix: replica ? REPLICA_TOMBSTONE_PREFIX : "",
      }),
    );
    doomed = candidates.filter((o) => condemned.has(o.key));
  }
  return {
    from,
    next: listed.truncated ? listed.cursor : null,
    scanned: listed.objects.length,
    bytes: listed.objects.reduce((sum, o) => sum + o.size, 0),
    doomed: doomed.map((o) => ({ key: o.key, size: o.size })),
    // The replica's copies of the same content would count twice: only the backup bucket's.
    young: replica
      ? undefined
      : {
          objects: young.length,
          bytes: young.reduce((sum, o) => sum + o.size, 0),
          reclaimableAt: firstYoung === null ? null : new Date(firstYoung + graceMs).toISOString(),
        },
  };
}

/** Adds a page's objects kept for the grace period to the state's (the backup bucket's only). */
function withGraceWaiting(state: CleanupState, page: SweepPage): CleanupState {
  const young = page.young;
  if (!young || young.objects === 0) return state;
  const earliest =
    [state.graceReclaimableAt, young.reclaimableAt].filter((t): t is string => Boolean(t)).sort()[0] ?? null;
  return {
    ...state,
    graceObjects: (state.graceObjects ?? 0) + young.objects,
    graceBytes: (state.graceBytes ?? 0) + young.bytes,
    graceReclaimableAt: earliest,
  };
}

const pageIdOf = (state: CleanupState, from: string) => `${state.jobId}:${from}`;

export async function sweepNext(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  const areas = sweepAreas(deps);
  const area = state.sweepArea ?? 0;
  const { bucket, prefix, replica } = areas[area]!;
  const from = `${replica ? REPLICA_TOMBSTONE_PREFIX : ""}${prefix}${state.sweepCursor ?? ""}`;
  let page = deps.store.pendingSweep();
  if (page === null || page.from !== from) {
    page = await listPage(deps, state, areas[area]!, from);
    deps.store.savePendingSweep(page);
  }
  if (!state.dryRun && page.doomed.length > 0) {
    const pageId = pageIdOf(state, from);
    if (await deps.collection.pageDeleting(pageId)) {
      await bucket.delete(page.doomed.map((o) => o.key));
      await deps.collection.finishPage(pageId);
    }
  }
  const freed = page.doomed.reduce((sum, o) => sum + o.size, 0);
  const doomedCount = page.doomed.length;
  const following = (next: CleanupState): CleanupState => {
    if (page.next !== null) return { ...next, sweepCursor: page.next };
    return area + 1 < areas.length
      ? { ...next, sweepArea: area + 1, sweepCursor: null }
      : ended({ ...next, sweepCursor: null }, "completed", null);
  };
  if (replica) {
    return following({
      ...state,
      replicaObjectsDeleted: (state.replicaObjectsDeleted ?? 0) + doomedCount,
      replicaBytesFreed: (state.replicaBytesFreed ?? 0) + freed,
    });
  }
  // A dry run deletes nothing, so the store keeps everything it listed.
  const kept = {
    objects: page.scanned - (state.dryRun ? 0 : doomedCount),
    bytes: (page.bytes ?? NaN) - (state.dryRun ? 0 : freed),
  };
  const waiting = withGraceWaiting(state, page);
  const measured: CleanupState =
    state.storeBytes === undefined || page.bytes === undefined
      ? { ...waiting, storeBytes: undefined, storeObjects: undefined }
      : {
          ...waiting,
          storeBytes: state.storeBytes + kept.bytes,
          storeObjects: (state.storeObjects ?? 0) + kept.objects,
        };
  if (prefix === CHUNK_PREFIX) {
    return following({
      ...measured,
      chunksDeleted: (state.chunksDeleted ?? 0) + doomedCount,
      chunkBytesFreed: (state.chunkBytesFreed ?? 0) + freed,
      bytesFreed: state.bytesFreed + freed,
    });
  }
  if (prefix === "blobs/") {
    return following({
      ...measured,
      blobsScanned: state.blobsScanned + page.scanned,
      blobsDeleted: state.blobsDeleted + doomedCount,
      bytesFreed: state.bytesFreed + freed,
    });
  }
  return following(measured);
}
