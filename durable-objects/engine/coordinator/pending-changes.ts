/**
 * The bucket's changes that no completed backup has covered yet, as object-change events named
 * them, kept in the coordinator's storage: one entry per key (`change:<key>` → when its latest
 * event arrived) and a summary (how many, since when). Bounded: past MAX_PENDING_KEYS keys the
 * set stops growing and is marked `overflow`, and the next event backup lists the whole bucket.
 *
 * A completed backup that was requested at S covers every change received up to S: a listing
 * backup lists after S, and an event backup reads every key pending at S. So its end clears the
 * entries received up to S; a key changed again after S keeps its entry (its time is the latest
 * event's), and so does everything when the backup did not complete.
 */

const ENTRY_PREFIX = "change:";
const SUMMARY_KEY = "changes";

/** Keys kept at most; beyond, the next event backup lists the bucket instead. */
export const MAX_PENDING_KEYS = 10_000;
/**
 * A targeted backup carries its keys in its checkpoint: at most this many, and this many bytes.
 * Since event backups edit the parent's tree by path, a named key costs a `head`, its leaf and the
 * pages above it, whatever the bucket's size (docs/performance.md, "What a small change costs"),
 * so every key the coordinator keeps can be named; the bytes keep the checkpoint, which holds the
 * list, far below a Durable Object value's 2 MB.
 */
export const TARGETED_MAX_KEYS = MAX_PENDING_KEYS;
export const TARGETED_MAX_KEY_BYTES = 512 * 1024;

/** Whether a backup can carry these named keys in its checkpoint, or must list the bucket instead. */
export function fitsTargetedBackup(keys: readonly string[]): boolean {
  if (keys.length > TARGETED_MAX_KEYS) return false;
  const bytes = keys.reduce((sum, key) => sum + new TextEncoder().encode(key).length, 0);
  return bytes <= TARGETED_MAX_KEY_BYTES;
}

export interface ChangeSummary {
  count: number;
  /** When the oldest pending change arrived (ms), or null when nothing is pending. */
  firstReceivedAt: number | null;
  /** Set when more keys changed than are kept: only a listing backup covers them. */
  overflowSince: number | null;
}

const EMPTY: ChangeSummary = { count: 0, firstReceivedAt: null, overflowSince: null };

export class PendingChanges {
  constructor(private readonly storage: DurableObjectStorage) {}

  summary(): Promise<ChangeSummary> {
    return this.storage.get<ChangeSummary>(SUMMARY_KEY).then((s) => s ?? EMPTY);
  }

  /** Records that `keys` changed at `receivedAt` (ms); duplicates only move a key's time forward. */
  async record(keys: Iterable<string>, receivedAt: number): Promise<ChangeSummary> {
    const summary = await this.summary();
    const unique = [...new Set(keys)];
    const known = await this.entries(unique);
    let { count, overflowSince } = summary;
    const writes: Record<string, number> = {};
    for (const key of unique) {
      if (known.has(key)) writes[ENTRY_PREFIX + key] = Math.max(known.get(key)!, receivedAt);
      else if (count < MAX_PENDING_KEYS) {
        writes[ENTRY_PREFIX + key] = receivedAt;
        count += 1;
      } else overflowSince ??= receivedAt;
    }
    const next: ChangeSummary = {
      count,
      firstReceivedAt: summary.firstReceivedAt ?? (unique.length ? receivedAt : null),
      overflowSince,
    };
    // put(entries) takes at most 128 pairs a call.
    const pairs = Object.entries(writes);
    for (let i = 0; i < pairs.length; i += 127) await this.storage.put(Object.fromEntries(pairs.slice(i, i + 127)));
    await this.storage.put(SUMMARY_KEY, next);
    return next;
  }

  /**
   * The keys for an event backup, or null when it must list the bucket instead (the set
   * overflowed, or is too large to carry in a checkpoint).
   */
  async targetKeys(): Promise<string[] | null> {
    const summary = await this.summary();
    if (summary.overflowSince !== null || summary.count > TARGETED_MAX_KEYS) return null;
    const keys = [...(await this.storage.list<number>({ prefix: ENTRY_PREFIX })).keys()].map((k) =>
      k.slice(ENTRY_PREFIX.length),
    );
    return fitsTargetedBackup(keys) ? keys : null;
  }

  /** Forgets the changes a completed backup requested at `coveredThrough` (ms) has covered. */
  async clearThrough(coveredThrough: number): Promise<ChangeSummary> {
    const entries = await this.storage.list<number>({ prefix: ENTRY_PREFIX });
    const covered = [...entries].filter(([, at]) => at <= coveredThrough).map(([key]) => key);
    for (let i = 0; i < covered.length; i += 128) await this.storage.delete(covered.slice(i, i + 128));
    const left = [...entries].filter(([, at]) => at > coveredThrough).map(([, at]) => at);
    const summary = await this.summary();
    const overflowSince =
      summary.overflowSince !== null && summary.overflowSince > coveredThrough ? summary.overflowSince : null;
    const next: ChangeSummary = {
      count: left.length,
      firstReceivedAt: left.length ? Math.min(...left) : overflowSince,
      overflowSince,
    };
    await this.storage.put(SUMMARY_KEY, next);
    return next;
  }

  private async entries(keys: string[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    for (let i = 0; i < keys.length; i += 128) {
      const page = await this.storage.get<number>(keys.slice(i, i + 128).map((key) => ENTRY_PREFIX + key));
      for (const [key, at] of page) found.set(key.slice(ENTRY_PREFIX.length), at);
    }
    return found;
  }
}

/** Whether an event backup is due: enough changes, an overflow, or the oldest waited long enough. */
export function eventBackupDue(
  summary: ChangeSummary,
  limits: { threshold: number; maxDelayMs: number },
  now: number,
): boolean {
  if (summary.firstReceivedAt === null) return false;
  return (
    summary.overflowSince !== null ||
    summary.count >= limits.threshold ||
    now >= summary.firstReceivedAt + limits.maxDelayMs
  );
}
