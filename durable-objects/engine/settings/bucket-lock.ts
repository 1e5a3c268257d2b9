/**
 * Living with R2 bucket lock rules on the backup bucket (and its replica): R2 refuses to delete or
 * overwrite an object younger than a rule's retention, counted from its upload. The engine cannot
 * read the rules through the binding, so the deployment states their longest retention
 * (BACKUP_BUCKET_LOCK_DAYS) and the engine never asks for what a rule would refuse: the sweep
 * leaves unneeded objects until they are older than the lock, a cleanup expires no backup whose
 * index the lock still protects, and a damaged blob the lock keeps from being replaced is
 * reported as its object's failure instead of failing, and retrying, the backup's step.
 */
import { clock } from "../clock";
import { PermanentError } from "../errors";
import type { Config } from "./config";

const DAY_MS = 86_400_000;

/** When a lock of `lockDays` lets go of an object uploaded at `uploaded`; null when it no longer holds it at `now`. */
export function lockedUntil(uploaded: Date, lockDays: number, now: number): Date | null {
  if (lockDays === 0) return null;
  const until = uploaded.getTime() + lockDays * DAY_MS;
  return until > now ? new Date(until) : null;
}

/** The cleanup's grace period and retention floor, stretched to the lock when it is longer. */
export function cleanupFloors(config: Config): { graceHours: number; minRetentionDays: number } {
  const lockDays = config.BACKUP_BUCKET_LOCK_DAYS;
  return {
    graceHours: Math.max(config.BACKUP_GC_GRACE_HOURS, lockDays * 24),
    // A day beyond the lock: a backup's age counts from its request, its index is uploaded when it
    // ends, up to a backup's duration later.
    minRetentionDays: Math.max(config.BACKUP_MIN_RETENTION_DAYS, lockDays === 0 ? 0 : lockDays + 1),
  };
}

/** A blob that cannot be trusted and that a lock keeps from being replaced: its object's failure. */
export class LockedBlobError extends PermanentError {}

/**
 * Throws LockedBlobError when the blob at `blob` (found untrustworthy: `mismatch`) is still under
 * the lock: asking R2 to replace it would fail every attempt of the step until the lock lets go,
 * so its object fails instead, reported in the backup's failed files and log.
 */
export function refuseIfLocked(
  existing: Pick<R2Object, "uploaded">,
  blob: string,
  mismatch: string,
  lockDays: number,
  key: string,
): void {
  const until = lockedUntil(existing.uploaded, lockDays, clock.now());
  if (until)
    throw new LockedBlobError(
      `the stored blob ${blob} cannot be trusted (${mismatch}) and an R2 bucket lock keeps it from being replaced until ${until.toISOString()} (BACKUP_BUCKET_LOCK_DAYS ${lockDays}): ${key} is left out of this backup`,
    );
}
