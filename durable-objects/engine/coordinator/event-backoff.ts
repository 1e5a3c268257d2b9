/**
 * Event backups that do not complete back off exponentially, so that one change that keeps
 * failing (an object that cannot be read, a bucket that is down) does not take the bucket's lease
 * again and again: scheduled and requested backups get the bucket between two attempts. Kept in
 * the coordinator's storage; a completed backup of the default template (which covers the changes
 * events name) ends the backoff.
 *
 * Bounds: the first retry waits EVENT_BACKOFF_BASE_MS (1 minute), each further failure doubles
 * the wait, up to EVENT_BACKOFF_MAX_MS (1 hour); the pending changes are kept all along
 * (docs/invariants.md, 13), and the `changes_pending` alert opens when they pile up or grow old.
 */
import type { BackupRow } from "../../../schema/index";

const BACKOFF_KEY = "event-backoff";
export const EVENT_BACKOFF_BASE_MS = 60_000;
export const EVENT_BACKOFF_MAX_MS = 60 * 60_000;

export interface Backoff {
  /** Event backups in a row that did not complete. */
  failures: number;
  /** No event backup starts before this (ms). */
  retryAt: number;
}

export const eventBackoffDelay = (failures: number) =>
  Math.min(EVENT_BACKOFF_MAX_MS, EVENT_BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 30));

export class EventBackoff {
  constructor(private readonly storage: DurableObjectStorage) {}

  async current(): Promise<Backoff | null> {
    return (await this.storage.get<Backoff>(BACKOFF_KEY)) ?? null;
  }

  /** What a backup's end means for the next event backup: it ended the backoff, or extended it. */
  async afterBackup(backup: Pick<BackupRow, "status" | "trigger">, coversEvents: boolean, now: number): Promise<void> {
    if (backup.status === "completed" && coversEvents) return this.storage.delete(BACKOFF_KEY).then(() => undefined);
    if (backup.trigger !== "event" || backup.status === "completed") return;
    const failures = ((await this.current())?.failures ?? 0) + 1;
    await this.storage.put(BACKOFF_KEY, { failures, retryAt: now + eventBackoffDelay(failures) } satisfies Backoff);
  }
}
