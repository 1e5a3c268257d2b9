/**
 * What a cleanup reports: its result (the job's `result` in the API) and, for a failure's message,
 * what it had done by then.
 */
import type { CleanupState } from "./cleanup-state";

/** What the cleanup did so far, for a failure's message: never "nothing" when something was. */
export function describeDone(state: CleanupState): string {
  const expired = state.backupsExpired + (state.expiriesFinished ?? 0);
  const deleted = state.blobsDeleted + (state.chunksDeleted ?? 0) + (state.replicaObjectsDeleted ?? 0);
  if (state.dryRun) return "it was a dry run: nothing was deleted";
  const expiries =
    expired === 0
      ? "no backup was expired"
      : `${expired} backup(s) were expired (their manifests and file rows deleted)`;
  return `${expiries}; ${deleted === 0 ? "no blob or chunk was deleted" : `${deleted} blob(s) and chunk(s) were deleted`}`;
}

export function cleanupResult(state: CleanupState) {
  return {
    dryRun: state.dryRun,
    template: state.template ?? "default",
    retentionDays: state.policy.retentionDays,
    keep: state.policy.keep,
    graceHours: state.graceHours,
    backupsExpired: state.backupsExpired,
    // Expired backups a verification, restore or replication began to read after the plan.
    keptInUse: state.keptInUse ?? 0,
    // The policy alone would have expired these: a legal hold, the retention lock or an open
    // mass_change alert kept them.
    keptByHold: state.keptByHold ?? 0,
    keptByLock: state.keptByLock ?? 0,
    keptByAlert: state.keptByAlert ?? 0,
    expiriesFinished: state.expiriesFinished ?? 0,
    logRetentionDays: state.logRetentionDays,
    logsDeleted: state.logsDeleted ?? 0,
    findingsDeleted: state.findingsDeleted ?? 0,
    deliveriesDeleted: state.deliveriesDeleted ?? 0,
    blobsScanned: state.blobsScanned,
    blobsDeleted: state.blobsDeleted,
    chunksDeleted: state.chunksDeleted ?? 0,
    chunkBytesFreed: state.chunkBytesFreed ?? 0,
    bytesFreed: state.bytesFreed,
    // What the backup bucket holds after this cleanup (null: begun before it was measured).
    storeBytes: state.storeBytes ?? null,
    storeObjects: state.storeObjects ?? null,
    replicaObjectsDeleted: state.replicaObjectsDeleted ?? 0,
    replicaBytesFreed: state.replicaBytesFreed ?? 0,
    // What is unneeded but younger than the grace period: freed by a cleanup from `reclaimableFrom` on.
    waitingForGrace: {
      objects: state.graceObjects ?? 0,
      bytes: state.graceBytes ?? 0,
      reclaimableFrom: state.graceReclaimableAt ?? null,
    },
  };
}
