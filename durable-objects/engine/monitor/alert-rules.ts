/**
 * The alert rules, as a pure function of what D1 says about one bucket (alert-facts.ts) and the
 * configured thresholds: which alerts should be open now, with their message and details. What
 * is open already, and what to open, resolve and deliver, is alert-store.ts's business.
 */
import type { AlertCode, AlertSeverity } from "../../../schema";
import { findMassChange, type ChangeRecord, type MassChangeLimits } from "./mass-change";

export interface BucketFacts {
  bucketName: string;
  /** Failed or partial backups newer than the newest completed one, newest first (up to 10 named). */
  failuresSinceSuccess: { count: number; newest: { id: string; error: string | null }[] };
  /** The newest completed backup's completion time, or null when none completed. */
  lastCompletedAt: string | null;
  /** When the bucket's first backup was asked for (null: never). */
  firstBackupAt: string | null;
  /**
   * The newest valid verification of a kept backup, and when the first backup completed (the
   * clock of a bucket never verified).
   */
  verification: { lastValidAt: string | null; firstCompletedAt: string | null };
  /** Kept backups whose latest verification was invalid (ids, up to 10) and how many. */
  invalidVerifications: { count: number; backupIds: string[] };
  /** The newest completed backup's stored bytes, against those of the completed ones before it. */
  growth: { backupId: string; storedBytes: number; previous: number[] } | null;
  /** The latest scheduled runs in a row that were skipped, with the backup that kept them waiting. */
  skippedRuns: { count: number; lastDetail: string | null };
  /** Kept backups whose replication ended incomplete or failed (ids, up to 10) and how many. */
  replicaProblems: { count: number; backupIds: string[] };
  /** Change events waiting for a backup (the source bucket's coordinator); null for other buckets. */
  pendingChanges: { count: number; firstReceivedAt: number | null; overflowSince: number | null } | null;
  /**
   * What the mass-change rule judges: the measured backups with a snapshot, newest first, and the
   * date of the backup the last acknowledged `mass_change` alert named (null: none).
   */
  changes: { history: ChangeRecord[]; acknowledgedThrough: string | null };
}

export interface AlertThresholds {
  consecutiveFailures: number;
  staleHours: number;
  growthFactor: number;
  growthWindow: number;
  growthMinBytes: number;
  skippedRuns: number;
  pendingChanges: number;
  pendingHours: number;
  massChange: MassChangeLimits;
  verifyStaleDays: number;
}

export interface AlertDraft {
  code: AlertCode;
  severity: AlertSeverity;
  message: string;
  details: Record<string, unknown>;
}

/** The trailing average needs this many earlier backups before growth means anything. */
export const GROWTH_MIN_HISTORY = 3;

const HOUR_MS = 3_600_000;

export function desiredAlerts(facts: BucketFacts, limits: AlertThresholds, now: Date): AlertDraft[] {
  return [
    consecutiveFailures,
    noRecentBackup,
    verificationFailed,
    notVerified,
    storageGrowth,
    scheduleSkipped,
    replicaIncomplete,
    changesPending,
    massChange,
  ]
    .map((rule) => rule(facts, limits, now))
    .filter((draft): draft is AlertDraft => draft !== null);
}

type Rule = (facts: BucketFacts, limits: AlertThresholds, now: Date) => AlertDraft | null;

const consecutiveFailures: Rule = ({ bucketName, failuresSinceSuccess }, limits) => {
  const { count, newest } = failuresSinceSuccess;
  if (count < limits.consecutiveFailures) return null;
  const latest = newest[0];
  return {
    code: "consecutive_failures",
    severity: "critical",
    message:
      `${count} backups of ${bucketName} in a row did not complete` +
      (latest ? ` (latest: ${latest.id}${latest.error ? `: ${latest.error}` : ""})` : "") +
      ".",
    details: { count, threshold: limits.consecutiveFailures, backupIds: newest.map((b) => b.id) },
  };
};

const noRecentBackup: Rule = ({ bucketName, lastCompletedAt, firstBackupAt }, limits, now) => {
  // A bucket that never had a backup asked for is not watched yet; one whose backups never
  // completed is stale from its first attempt on.
  const since = lastCompletedAt ?? firstBackupAt;
  if (since === null) return null;
  const hours = (now.getTime() - Date.parse(since)) / HOUR_MS;
  if (hours < limits.staleHours) return null;
  return {
    code: "no_recent_backup",
    severity: "critical",
    message: lastCompletedAt
      ? `No backup of ${bucketName} has completed for ${Math.floor(hours)} hours (last completed at ${lastCompletedAt}).`
      : `No backup of ${bucketName} has ever completed (first attempt at ${firstBackupAt}, ${Math.floor(hours)} hours ago).`,
    details: { lastCompletedAt, hours: Math.floor(hours), thresholdHours: limits.staleHours },
  };
};

const verificationFailed: Rule = ({ bucketName, invalidVerifications }) => {
  const { count, backupIds } = invalidVerifications;
  if (count === 0) return null;
  return {
    code: "verification_failed",
    severity: "critical",
    message: `The latest verification of ${count} kept backup(s) of ${bucketName} found problems (${backupIds.join(", ")}).`,
    details: { count, backupIds },
  };
};

/**
 * No kept backup of the bucket has verified valid for BACKUP_VERIFY_STALE_DAYS: a backup nobody
 * checked may not restore. (Counted from the first completed backup when none ever verified.)
 */
const notVerified: Rule = ({ bucketName, verification }, limits, now) => {
  const since = verification.lastValidAt ?? verification.firstCompletedAt;
  if (since === null) return null;
  const days = (now.getTime() - Date.parse(since)) / (24 * HOUR_MS);
  if (days < limits.verifyStaleDays) return null;
  return {
    code: "not_verified",
    severity: "warning",
    message: verification.lastValidAt
      ? `No backup of ${bucketName} has verified valid for ${Math.floor(days)} days (last at ${verification.lastValidAt}); see BACKUP_VERIFY_SCHEDULE, or POST /api/backup/verify/:id.`
      : `No backup of ${bucketName} has ever verified valid (backed up since ${verification.firstCompletedAt}); see BACKUP_VERIFY_SCHEDULE, or POST /api/backup/verify/:id.`,
    details: { lastValidAt: verification.lastValidAt, days: Math.floor(days), thresholdDays: limits.verifyStaleDays },
  };
};

const storageGrowth: Rule = ({ bucketName, growth }, limits) => {
  if (!growth || growth.previous.length < GROWTH_MIN_HISTORY) return null;
  const window = growth.previous.slice(0, limits.growthWindow);
  const average = window.reduce((sum, bytes) => sum + bytes, 0) / window.length;
  // A trailing average of 0 (nothing changed for days) makes any change "infinite" growth: the
  // absolute floor decides then.
  if (growth.storedBytes <= limits.growthMinBytes || growth.storedBytes <= limits.growthFactor * average) return null;
  return {
    code: "storage_growth",
    severity: "warning",
    message:
      `Backup ${growth.backupId} of ${bucketName} stored ${growth.storedBytes} bytes, ` +
      `${average > 0 ? `${Math.round(growth.storedBytes / average)} times` : "far above"} the average of the ${window.length} before it (${Math.round(average)} bytes).`,
    details: {
      backupId: growth.backupId,
      storedBytes: growth.storedBytes,
      trailingAverageBytes: Math.round(average),
      factor: limits.growthFactor,
      minBytes: limits.growthMinBytes,
    },
  };
};

const scheduleSkipped: Rule = ({ bucketName, skippedRuns }, limits) => {
  if (skippedRuns.count < limits.skippedRuns) return null;
  return {
    code: "schedule_skipped",
    severity: "warning",
    message: `The last ${skippedRuns.count} scheduled backups of ${bucketName} were skipped because a job was still running${skippedRuns.lastDetail ? ` (${skippedRuns.lastDetail})` : ""}.`,
    details: { count: skippedRuns.count, threshold: limits.skippedRuns },
  };
};

const replicaIncomplete: Rule = ({ bucketName, replicaProblems }) => {
  const { count, backupIds } = replicaProblems;
  if (count === 0) return null;
  return {
    code: "replica_incomplete",
    severity: "warning",
    message: `The replica of ${count} kept backup(s) of ${bucketName} is incomplete or its replication failed (${backupIds.join(", ")}); see their replicate jobs, then POST /api/backup/replicate/:id.`,
    details: { count, backupIds },
  };
};

/**
 * Changes that events named and no backup has covered yet, piling up (past the threshold, or more
 * than the coordinator keeps) or growing old: event backups are failing, backing off or waiting
 * for a bucket that is never free. Resolves once a backup covers them.
 */
const changesPending: Rule = ({ bucketName, pendingChanges }, limits, now) => {
  if (!pendingChanges || pendingChanges.firstReceivedAt === null) return null;
  const { count, firstReceivedAt, overflowSince } = pendingChanges;
  const hours = (now.getTime() - firstReceivedAt) / HOUR_MS;
  if (count < limits.pendingChanges && overflowSince === null && hours < limits.pendingHours) return null;
  const oldestAt = new Date(firstReceivedAt).toISOString();
  return {
    code: "changes_pending",
    severity: "warning",
    message:
      `${overflowSince !== null ? `More than ${count}` : count} changed key(s) of ${bucketName} are waiting for a backup, the oldest since ${oldestAt} (${Math.floor(hours)} hours); ` +
      `see the event backups' logs (GET /api/backup/list?trigger=event) and stats' unprotectedChanges.`,
    details: {
      count,
      overflow: overflowSince !== null,
      oldestAt,
      hours: Math.floor(hours),
      thresholdKeys: limits.pendingChanges,
      thresholdHours: limits.pendingHours,
    },
  };
};

/**
 * Far more of the bucket modified or deleted, or far more new content that does not compress,
 * than its trailing median (mass-change.ts): ransomware's signature. Unlike every other alert it
 * never resolves by itself (alert-store.ts): it holds every backup older than the suspicious one
 * from expiry until an admin resolves it, which takes effect only after a delay.
 */
const massChange: Rule = ({ bucketName, changes }, limits) => {
  const found = findMassChange(changes.history, changes.acknowledgedThrough, limits.massChange);
  if (!found) return null;
  const percent = (share: number) => `${Math.round(share * 1000) / 10}%`;
  const what = [
    found.measures.includes("changes")
      ? `${found.modified} modified and ${found.deleted} deleted of ${found.baseline} objects (${percent(found.changedShare)}; trailing median ${percent(found.changedMedian)})`
      : null,
    found.measures.includes("incompressible")
      ? `${found.incompressible} of ${found.sampled} sampled new objects do not compress (${percent(found.incompressibleShare)}; trailing median ${percent(found.incompressibleMedian)})`
      : null,
  ].filter(Boolean);
  const prefixes = found.topPrefixes
    .map((p) => `${p.prefix === "" ? "(top level)" : p.prefix} ${p.changes}`)
    .join(", ");
  const where =
    found.scope === "backup"
      ? `Backup ${found.backupId} of ${bucketName}`
      : `The ${found.backups.length} backups of ${bucketName} in the ${limits.massChange.windowHours} hours from ${found.backupId}`;
  return {
    code: "mass_change",
    severity: "critical",
    message:
      `${where}: ${what.join("; ")}${prefixes ? `; most changes under ${prefixes}` : ""}. ` +
      `Every backup older than ${found.backupId} is held from expiry until this alert is resolved ` +
      `(POST /api/backup/alerts/:id/resolve, effective after BACKUP_HOLD_RELEASE_DELAY_HOURS).`,
    details: { ...found, backups: found.backups.slice(0, 10), windowHours: limits.massChange.windowHours },
  };
};
