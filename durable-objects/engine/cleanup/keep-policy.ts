/**
 * Which backups a retention policy keeps: pure, so it can be tested against exact histories.
 *
 * A backup is kept when it is younger than `retentionDays`, or when a `keep` rule selects it, in
 * the style of restic's `forget --keep-*`:
 *   last N      the newest N backups;
 *   daily N     the newest backup of each of the last N UTC days that have a backup;
 *   weekly N    the same per ISO week (weeks start on Monday, UTC; the ISO week-year is used,
 *               so 2026-12-31 and 2027-01-01 can share a week);
 *   monthly N   the same per UTC calendar month.
 * Keep rules count only backups with a snapshot (`completed` and `partial`); rules left out count
 * as 0. Whatever the policy, the newest `completed` backup is kept, and so is every backup that a
 * running job reads (`protectedIds`), every backup under a legal hold (`held`), and every backup
 * younger than the retention lock's `minRetentionDays` (set by deploy, not by the request), and
 * every backup older than one an open `mass_change` alert suspects (`heldByAlert`).
 * Backups still running are never candidates.
 */

export interface KeepRules {
  last: number;
  daily: number;
  weekly: number;
  monthly: number;
}

export interface RetentionPolicy {
  retentionDays: number;
  keep: KeepRules;
}

/** What no request can override: the deployment's retention lock. */
export interface RetentionLock {
  minRetentionDays: number;
}

export interface BackupForRetention {
  id: string;
  /** ISO time the backup was requested: its point in time. */
  backupDate: string;
  status: string;
  /** Under a legal hold whose release has not taken effect. */
  held?: boolean;
  /** Older than the backup an open mass_change alert suspects: a last good state. */
  heldByAlert?: boolean;
}

export type KeepReason =
  | "age"
  | "last"
  | "daily"
  | "weekly"
  | "monthly"
  | "newest_completed"
  | "in_use"
  | "legal_hold"
  | "retention_lock"
  | "mass_change";

/** What keeps a backup whatever the request's policy says. */
export const PROTECTIONS: ReadonlySet<KeepReason> = new Set(["legal_hold", "retention_lock", "mass_change"]);

export interface RetentionPlan {
  /** Kept backups with every reason that keeps them. */
  kept: Map<string, KeepReason[]>;
  /** Backups the policy expires, newest first. */
  expired: string[];
}

const DAY_MS = 86_400_000;
const WITH_SNAPSHOT = new Set(["completed", "partial"]);
const ENDED = new Set(["completed", "partial", "failed", "cancelled"]);

/** The Thursday of the ISO week (Monday to Sunday, UTC) that `date` falls in: it names the week's year. */
function thursdayOf(date: Date): Date {
  const thursday = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  thursday.setUTCDate(thursday.getUTCDate() - ((thursday.getUTCDay() + 6) % 7) + 3);
  return thursday;
}

/** The UTC day, ISO week and UTC month a time falls in, as labels. */
export function periodsOf(iso: string): { daily: string; weekly: string; monthly: string } {
  const date = new Date(iso);
  const thursday = thursdayOf(date);
  const weekYear = thursday.getUTCFullYear();
  const week =
    1 + Math.round((thursday.getTime() - thursdayOf(new Date(Date.UTC(weekYear, 0, 4))).getTime()) / (7 * DAY_MS));
  return {
    daily: date.toISOString().slice(0, 10),
    weekly: `${weekYear}-W${String(week).padStart(2, "0")}`,
    monthly: date.toISOString().slice(0, 7),
  };
}

export function planRetention(
  backups: readonly BackupForRetention[],
  policy: RetentionPolicy,
  now: Date,
  protectedIds: ReadonlySet<string> = new Set(),
  lock: RetentionLock = { minRetentionDays: 0 },
): RetentionPlan {
  const kept = new Map<string, KeepReason[]>();
  const keep = (id: string, reason: KeepReason) => kept.set(id, [...(kept.get(id) ?? []), reason]);
  const candidates = backups.filter((b) => ENDED.has(b.status));
  const newestFirst = [...candidates].sort((a, b) =>
    a.backupDate === b.backupDate ? (a.id < b.id ? 1 : -1) : a.backupDate < b.backupDate ? 1 : -1,
  );

  for (const backup of newestFirst) {
    if (now.getTime() - Date.parse(backup.backupDate) < policy.retentionDays * DAY_MS) keep(backup.id, "age");
    if (protectedIds.has(backup.id)) keep(backup.id, "in_use");
    if (backup.held) keep(backup.id, "legal_hold");
    if (backup.heldByAlert) keep(backup.id, "mass_change");
    if (now.getTime() - Date.parse(backup.backupDate) < lock.minRetentionDays * DAY_MS)
      keep(backup.id, "retention_lock");
  }
  const newestCompleted = newestFirst.find((b) => b.status === "completed");
  if (newestCompleted) keep(newestCompleted.id, "newest_completed");

  const withSnapshot = newestFirst.filter((b) => WITH_SNAPSHOT.has(b.status));
  withSnapshot.slice(0, policy.keep.last).forEach((b) => keep(b.id, "last"));
  for (const rule of ["daily", "weekly", "monthly"] as const) {
    const seen = new Set<string>();
    for (const backup of withSnapshot) {
      if (seen.size >= policy.keep[rule]) break;
      const period = periodsOf(backup.backupDate)[rule];
      if (seen.has(period)) continue;
      seen.add(period);
      keep(backup.id, rule);
    }
  }
  return { kept, expired: newestFirst.filter((b) => !kept.has(b.id)).map((b) => b.id) };
}
