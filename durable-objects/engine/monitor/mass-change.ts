/**
 * The mass-change rule (`mass_change`), pure: does the newest backup of a bucket, or the backups of
 * the last window (24 hours by default, so that many small event backups add up), show far more
 * of the bucket modified or deleted, or far more new content that does not compress, than the
 * bucket's own trailing median? A ransomware attack overwrites files with encrypted content (or
 * deletes them); ordinary days change a small, steady share. Each measure must pass an absolute
 * floor of objects too, so a small bucket's noise pages no one.
 *
 * Nothing is judged before the bucket has MIN_HISTORY earlier backups (or windows) to compare with.
 * Backups up to the last acknowledged (resolved) alert's are evidence already dealt with: they
 * count in the medians but never open the alert again.
 */
import { sumSignals, topPrefixes } from "../backup/change-signal";

export interface ChangeRecord {
  id: string;
  backupDate: string;
  modified: number;
  deleted: number;
  /** The bucket as the backup saw it: its snapshot's objects plus those it found deleted. */
  baseline: number;
  sampled: number;
  incompressible: number;
  prefixes: Record<string, number>;
}

export interface MassChangeLimits {
  /** The modified + deleted share (percent of the bucket) that counts as mass change at least... */
  sharePercent: number;
  /** ...and how many times the trailing median share it must be. */
  factor: number;
  /**
   * Percentage points above its trailing median the incompressible share of new content must be
   * (and the incompressible objects at least `sharePercent` of the bucket).
   */
  incompressibleRisePercent: number;
  /** Objects (changed, or incompressible) below which nothing is judged. */
  minObjects: number;
  windowHours: number;
}

export interface MassChangeFinding {
  /** The backup from which on the bucket looks attacked: every older backup is held. */
  backupId: string;
  backupDate: string;
  /** One backup, or the window's backups together. */
  scope: "backup" | "window";
  /** What was far above the median: the changed share, the incompressible share, or both. */
  measures: ("changes" | "incompressible")[];
  backups: string[];
  modified: number;
  deleted: number;
  baseline: number;
  changedShare: number;
  changedMedian: number;
  sampled: number;
  incompressible: number;
  incompressibleShare: number;
  incompressibleMedian: number;
  topPrefixes: { prefix: string; changes: number }[];
}

/** Earlier backups, and earlier windows, the medians are taken over. */
export const TRAILING = 10;
/**
 * Fewer earlier backups (or windows) than this and there is no median to speak of: nothing is
 * judged. A new bucket of photos would otherwise page on its first backups.
 */
export const MIN_HISTORY = 3;
const HOUR_MS = 3_600_000;

interface Totals {
  modified: number;
  deleted: number;
  baseline: number;
  sampled: number;
  incompressible: number;
}

/** `objects` as a share of the bucket the totals cover. */
const bucketShare = (objects: number, t: Totals) => (t.baseline > 0 ? objects / t.baseline : 0);
const changedShare = (t: Totals) => bucketShare(t.modified + t.deleted, t);
const incompressibleShare = (t: Totals) => (t.sampled > 0 ? t.incompressible / t.sampled : 0);

function totals(records: readonly ChangeRecord[]): Totals {
  return {
    modified: records.reduce((sum, r) => sum + r.modified, 0),
    deleted: records.reduce((sum, r) => sum + r.deleted, 0),
    // Each backup of a window saw about the whole bucket: the largest is the bucket's size.
    baseline: Math.max(0, ...records.map((r) => r.baseline)),
    sampled: records.reduce((sum, r) => sum + r.sampled, 0),
    incompressible: records.reduce((sum, r) => sum + r.incompressible, 0),
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * `history`: the bucket's measured backups with a snapshot, newest first. Returns what is far
 * above the median, or null.
 */
export function findMassChange(
  history: readonly ChangeRecord[],
  acknowledgedThrough: string | null,
  limits: MassChangeLimits,
): MassChangeFinding | null {
  const fresh = history.filter((r) => acknowledgedThrough === null || r.backupDate > acknowledgedThrough);
  const newest = fresh[0];
  if (!newest) return null;
  const byBackup = judge(
    [newest],
    history.slice(1, 1 + TRAILING).map((r) => totals([r])),
    limits,
    "backup",
  );
  if (byBackup) return byBackup;
  const window = limits.windowHours * HOUR_MS;
  const end = Date.parse(newest.backupDate);
  const within = (records: readonly ChangeRecord[], k: number) =>
    records.filter((r) => {
      const at = Date.parse(r.backupDate);
      return at > end - (k + 1) * window && at <= end - k * window;
    });
  const earlier = Array.from({ length: TRAILING }, (_, k) => within(history, k + 1))
    .filter((records) => records.length > 0)
    .map(totals);
  return judge(within(fresh, 0), earlier, limits, "window");
}

function judge(
  records: readonly ChangeRecord[],
  earlier: readonly Totals[],
  limits: MassChangeLimits,
  scope: MassChangeFinding["scope"],
): MassChangeFinding | null {
  if (earlier.length < MIN_HISTORY) return null;
  const now = totals(records);
  const changedMedian = median(earlier.map(changedShare));
  const incompressibleMedian = median(earlier.filter((t) => t.sampled > 0).map(incompressibleShare));
  const measures: MassChangeFinding["measures"] = [];
  if (
    now.modified + now.deleted >= limits.minObjects &&
    changedShare(now) >= limits.sharePercent / 100 &&
    changedShare(now) >= limits.factor * changedMedian
  )
    measures.push("changes");
  // New content that does not compress must also be a large part of the bucket: a text bucket
  // receiving a batch of photos or archives is not an attack.
  if (
    now.incompressible >= limits.minObjects &&
    bucketShare(now.incompressible, now) >= limits.sharePercent / 100 &&
    incompressibleShare(now) >= incompressibleMedian + limits.incompressibleRisePercent / 100
  )
    measures.push("incompressible");
  if (measures.length === 0) return null;
  // The oldest backup of what was judged: from it on the bucket looks attacked.
  const first = records.at(-1)!;
  const round = (share: number) => Math.round(share * 1000) / 1000;
  return {
    backupId: first.id,
    backupDate: first.backupDate,
    scope,
    measures,
    backups: records.map((r) => r.id),
    ...now,
    changedShare: round(changedShare(now)),
    changedMedian: round(changedMedian),
    incompressibleShare: round(incompressibleShare(now)),
    incompressibleMedian: round(incompressibleMedian),
    topPrefixes: topPrefixes(sumSignals(records).prefixes, 5),
  };
}
