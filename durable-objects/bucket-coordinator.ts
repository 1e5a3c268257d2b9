/**
 * BucketCoordinator: one Durable Object per source bucket (`getByName(bucketName)`).
 *
 * Owns: the bucket's lease (storage key "lease"), which lets only one backup, restore into the
 * source or cleanup run at a time, and the choice of backup type for `auto`. Alarm: a watchdog that
 * fires every WATCHDOG_INTERVAL_MS while a lease is held; it asks the holder whether it is still
 * working (which re-arms a lost alarm) and releases the lease of a holder that is finished, or that
 * has not answered for LEASE_TTL_MS, so a crashed job never blocks the bucket forever. A holder
 * whose `start` failed keeps the lease until it is known not to run: `start` may have saved its
 * state and armed its alarm before failing, and releasing then would let two jobs run at once.
 * The same alarm also sweeps D1 for rows left `in_progress` with no job behind them (watchdog.ts).
 *
 * Also owns the bucket's pending changes (pending-changes.ts): object-change events recorded by the
 * queue consumer. The alarm starts an event backup (a targeted incremental, trigger "event") once
 * BACKUP_EVENT_THRESHOLD keys are pending or the oldest has waited BACKUP_EVENT_MAX_DELAY_SECONDS,
 * never while the lease is held: the changes wait, and the holder's release re-arms the alarm.
 */
import { DurableObject } from "cloudflare:workers";
import { auditEvents, type BackupRow, type BackupTrigger } from "../schema";
import type { StartCleanup } from "./cleanup-job";
import type { StartRestore } from "./restore-job";
import { getConfig } from "./engine/settings/config";
import { newId } from "./engine/ids";
import { resolveBackupType, type RequestedBackupType } from "./engine/coordinator/backup-type";
import { openDatabase } from "./engine/records";
import { jobStub, reconcileOrphans } from "./oversight/watchdog";
import {
  eventBackupDue,
  fitsTargetedBackup,
  PendingChanges,
  TARGETED_MAX_KEYS,
  TARGETED_MAX_KEY_BYTES,
  type ChangeSummary,
} from "./engine/coordinator/pending-changes";
import { normalizeTargetKeys } from "./engine/backup/targeted-listing";
import { keyProblem } from "./engine/object-keys";
import { EventBackoff } from "./engine/coordinator/event-backoff";
import { failedKeysOf, findBackupRow } from "../schema/queries";
import { DEFAULT_TEMPLATE, defaultTemplate, templateRun, type TemplateRun } from "./engine/settings/templates";
import { clock } from "./engine/clock";

const LEASE_KEY = "lease";
/** Scheduled runs of templates waiting for the bucket (StartBackupRequest[]). */
const QUEUE_KEY = "queued-runs";
export const WATCHDOG_INTERVAL_MS = 60_000;
export const LEASE_TTL_MS = 30 * 60_000;
/** How long after a release a queued scheduled run starts (see `release`). */
export const QUEUED_START_DELAY_MS = 10_000;
/** A new holder is given this long to record its start before "unknown" means "gone". */
const START_GRACE_MS = 5 * 60_000;

interface Lease {
  holderId: string;
  /** A backup, a restore that writes into the source bucket, or a cleanup. */
  kind: "backup" | "restore" | "cleanup";
  acquiredAt: number;
  /** The last time the holder answered the watchdog. */
  lastSeenAt: number;
}

export interface StartBackupRequest {
  type: RequestedBackupType;
  trigger: BackupTrigger;
  requestedBy: string;
  /** Only these keys are read (an event backup); kept only if the backup is an incremental with a parent. */
  targetKeys?: string[] | null;
  /** The backup template to run; absent: the default (the environment variables). */
  template?: TemplateRun;
  /**
   * A scheduled run of a template: when the bucket is busy, it waits in the coordinator's queue and
   * starts once the bucket is free (one entry per template), instead of being skipped.
   */
  queueIfBusy?: boolean;
  /** Tests and benches: this backup's fan-out limits instead of the environment's (BACKUP_MAX_SHARDS, BACKUP_SHARD_MIN_OBJECTS). */
  maxShards?: number;
  minObjectsPerShard?: number;
}

/** Who the coordinator names as requesting event backups. */
export const EVENT_REQUESTER = "events";

export type StartBackupResult =
  | { ok: true; backup: BackupRow }
  /** `queued`: it waits in the queue; `alreadyQueued`: a run of its template was waiting already (this one is merged into it). */
  | { ok: false; reason: "busy"; holderId: string; kind: Lease["kind"]; queued?: boolean; alreadyQueued?: boolean }
  | { ok: false; reason: "incremental_disabled" };

export type StartRestoreResult =
  { ok: true; jobId: string } | { ok: false; reason: "busy"; holderId: string; kind: Lease["kind"] };
export type StartCleanupResult = StartRestoreResult;

export class BucketCoordinator extends DurableObject<Env> {
  /**
   * Takes the lease for `holderId` unless a live holder has it. A holder that has finished (or
   * stopped answering for LEASE_TTL_MS) loses the lease here rather than at the next watchdog run;
   * asking it also re-arms its alarm if that was lost, so every create and cron doubles as a
   * watchdog. The lease is re-read after that call and written with no I/O in between, so two
   * requests can never both win.
   */
  private async acquire(holderId: string, kind: Lease["kind"]): Promise<Lease | null> {
    const held = await this.ctx.storage.get<Lease>(LEASE_KEY);
    if (held && (await this.holderActive(held))) return held;
    const current = await this.ctx.storage.get<Lease>(LEASE_KEY);
    if (current && current.holderId !== held?.holderId) return current;
    const now = clock.now();
    await this.ctx.storage.put(LEASE_KEY, { holderId, kind, acquiredAt: now, lastSeenAt: now } satisfies Lease);
    await this.ctx.storage.setAlarm(now + WATCHDOG_INTERVAL_MS);
    return null;
  }

  /** A restore into the source bucket runs alone, like a backup. */
  async startRestore(request: Omit<StartRestore, "holdsLease">): Promise<StartRestoreResult> {
    const held = await this.acquire(request.jobId, "restore");
    if (held) return { ok: false, reason: "busy", holderId: held.holderId, kind: held.kind };
    // If `start` throws, the lease stays: the watchdog releases it once the job says "unknown"
    // after START_GRACE_MS, i.e. once it is known not to run.
    const jobId = await this.env.RESTORE_JOB.getByName(request.jobId).start({ ...request, holdsLease: true });
    return { ok: true, jobId };
  }

  /** A cleanup runs alone too: what it deletes must not be what a backup is writing. */
  async startCleanup(request: StartCleanup): Promise<StartCleanupResult> {
    const held = await this.acquire(request.jobId, "cleanup");
    if (held) return { ok: false, reason: "busy", holderId: held.holderId, kind: held.kind };
    // As for restores: a start that throws keeps the lease until the job is known not to run.
    const jobId = await this.env.CLEANUP_JOB.getByName(request.jobId).start(request);
    return { ok: true, jobId };
  }

  async startBackup(request: StartBackupRequest): Promise<StartBackupResult> {
    const config = getConfig(this.env);
    if (request.type === "incremental" && !config.BACKUP_INCREMENTAL_ENABLED)
      return { ok: false, reason: "incremental_disabled" };

    // The input gate keeps a concurrent request out while the lease is read and taken, so two
    // creates can never both win.
    const now = clock.date();
    const backupId = newId("bk", now);
    const held = await this.acquire(backupId, "backup");
    if (held) {
      const queued = request.queueIfBusy ? { queued: true, alreadyQueued: !(await this.queue(request)) } : {};
      return { ok: false, reason: "busy", holderId: held.holderId, kind: held.kind, ...queued };
    }

    {
      const template = request.template ?? templateRun(defaultTemplate(config));
      const bucketName = template.bucketName;
      const db = openDatabase(this.env.DB);
      const { type, parentId, note } = await resolveBackupType(db, {
        bucketName,
        template: template.name,
        requested: request.type,
        incrementalEnabled: config.BACKUP_INCREMENTAL_ENABLED,
        fullIntervalDays: config.BACKUP_FULL_INTERVAL_DAYS,
        now,
      });
      // Events name the default template's keys only.
      let targetKeys =
        type === "incremental" && parentId !== null && request.targetKeys && !request.template
          ? normalizeTargetKeys(request.targetKeys)
          : null;
      const notes = note ? [note] : [];
      // A partial parent's unreadable objects are in no manifest: they are named too (D1 lists
      // them), so they are read again; only when they do not fit does the backup list the bucket.
      if (targetKeys && (await findBackupRow(db, parentId!))?.status === "partial") {
        const failed = await failedKeysOf(db, parentId!, TARGETED_MAX_KEYS + 1);
        const named = normalizeTargetKeys([...targetKeys, ...failed]);
        targetKeys = fitsTargetedBackup(named) ? named : null;
        notes.push(
          targetKeys
            ? `Its parent ${parentId} ended partial: this event backup also reads again the ${failed.length} object(s) the parent could not read.`
            : `Its parent ${parentId} ended partial with more unread objects than an event backup can name (${TARGETED_MAX_KEYS} keys or ${TARGETED_MAX_KEY_BYTES / 1024} KiB of names with the changes): this event backup lists the bucket to read them again.`,
        );
      }
      // If `start` throws, the lease stays until the job is known not to run (see the header).
      const backup = await this.env.BACKUP_JOB.getByName(backupId).start(
        {
          backupId,
          bucketName,
          type,
          trigger: request.trigger,
          requestedBy: request.requestedBy,
          parentId,
          backupDate: now.toISOString(),
          targetKeys,
          // The default's checkpoint carries none: its options stay the environment's, read each step.
          template: request.template ?? null,
          fanOut: {
            maxShards: request.maxShards ?? config.BACKUP_MAX_SHARDS,
            minObjectsPerShard: request.minObjectsPerShard ?? config.BACKUP_SHARD_MIN_OBJECTS,
            pollMs: config.BACKUP_SHARD_POLL_MS,
          },
        },
        notes,
      );
      return { ok: true, backup };
    }
  }

  /**
   * Releases the lease if `holderId` holds it; a stale holder cannot release a newer lease. A
   * completed backup's end clears the changes it covered; changes still pending re-arm the alarm.
   */
  async release(holderId: string): Promise<void> {
    const held = await this.ctx.storage.get<Lease>(LEASE_KEY);
    if (held?.holderId !== holderId) return;
    await this.ctx.storage.delete(LEASE_KEY);
    await this.ctx.storage.deleteAlarm();
    // A queued scheduled run starts next, from the alarm (never inside the holder's own call), a
    // little later: what the holder starts after its release (the cron backup's cleanup) goes first.
    if ((await this.queued()).length > 0) await this.ctx.storage.setAlarm(clock.now() + QUEUED_START_DELAY_MS);
    const pending = this.pendingChanges();
    let summary = await pending.summary();
    if (held.kind === "backup") {
      const backup = await findBackupRow(openDatabase(this.env.DB), holderId);
      // Events name the default's keys, so a template's backup, which holds only its own
      // prefixes, covers none of them (docs/invariants.md, 13).
      const coversEvents = backup?.template === DEFAULT_TEMPLATE;
      if (backup) await new EventBackoff(this.ctx.storage).afterBackup(backup, coversEvents, clock.now());
      // A completed backup requested at S covers every change received up to S.
      if (backup?.status === "completed" && coversEvents && summary.firstReceivedAt !== null)
        summary = await pending.clearThrough(Date.parse(backup.backupDate));
    }
    if (summary.firstReceivedAt !== null) await this.armEventCheck(summary);
  }

  /**
   * Records changed keys (from the queue consumer) and arms the alarm for when an event backup is
   * due: at once past the threshold, else when the oldest change has waited long enough.
   */
  async recordChanges(keys: string[]): Promise<ChangeSummary> {
    // A key R2 can never hold would fail every event backup that reads it: never kept.
    const valid = keys.filter((key) => {
      const problem = keyProblem(key);
      if (problem)
        console.error(`object event dropped: R2 can never hold key ${JSON.stringify(key.slice(0, 80))}...: ${problem}`);
      return problem === null;
    });
    const summary = await this.pendingChanges().record(valid, clock.now());
    await this.armEventCheck(summary);
    return summary;
  }

  async changeSummary(): Promise<ChangeSummary> {
    return this.pendingChanges().summary();
  }

  private pendingChanges(): PendingChanges {
    return new PendingChanges(this.ctx.storage);
  }

  private eventLimits() {
    const config = getConfig(this.env);
    return { threshold: config.BACKUP_EVENT_THRESHOLD, maxDelayMs: config.BACKUP_EVENT_MAX_DELAY_SECONDS * 1000 };
  }

  /** Brings the alarm forward to when an event backup is due (never later than it already is). */
  private async armEventCheck(summary: ChangeSummary): Promise<void> {
    if (summary.firstReceivedAt === null) return;
    const now = clock.now();
    const limits = this.eventLimits();
    const retryAt = (await new EventBackoff(this.ctx.storage).current())?.retryAt ?? 0;
    const dueAt = Math.max(
      retryAt,
      eventBackupDue(summary, limits, now) ? now : summary.firstReceivedAt + limits.maxDelayMs,
    );
    const current = await this.ctx.storage.getAlarm();
    if (current === null || dueAt < current) await this.ctx.storage.setAlarm(dueAt);
  }

  /** Starts an event backup if one is due and the bucket is free; a busy bucket's release re-arms this. */
  private async startEventBackupIfDue(): Promise<void> {
    const pending = this.pendingChanges();
    const summary = await pending.summary();
    const backoff = await new EventBackoff(this.ctx.storage).current();
    if (!eventBackupDue(summary, this.eventLimits(), clock.now()) || (backoff && backoff.retryAt > clock.now()))
      return this.armEventCheck(summary);
    const config = getConfig(this.env);
    const result = await this.startBackup({
      type: config.BACKUP_INCREMENTAL_ENABLED ? "incremental" : "full",
      trigger: "event",
      requestedBy: EVENT_REQUESTER,
      targetKeys: await pending.targetKeys(),
    });
    if (!result.ok)
      console.log(
        `event backup of ${config.BACKUP_SOURCE_BUCKET} waits: ${result.reason === "busy" ? `${result.kind} ${result.holderId} holds the bucket` : result.reason}`,
      );
  }

  async currentLease(): Promise<Lease | null> {
    return (await this.ctx.storage.get<Lease>(LEASE_KEY)) ?? null;
  }

  /** The watchdog: keeps the lease of a working holder, releases that of a finished or lost one. */
  override async alarm(): Promise<void> {
    await reconcileOrphans(this.env).catch((error: unknown) => console.error("orphan sweep failed", error));
    const held = await this.ctx.storage.get<Lease>(LEASE_KEY);
    if (held) {
      if (!(await this.holderActive(held))) await this.release(held.holderId);
      else {
        const current = await this.ctx.storage.get<Lease>(LEASE_KEY);
        if (current?.holderId === held.holderId)
          await this.ctx.storage.put(LEASE_KEY, { ...current, lastSeenAt: clock.now() } satisfies Lease);
        await this.ctx.storage.setAlarm(clock.now() + WATCHDOG_INTERVAL_MS);
        return; // the bucket is busy: pending changes and queued runs wait for the release
      }
    }
    await this.startQueuedBackup();
    await this.startEventBackupIfDue();
  }

  private async queued(): Promise<StartBackupRequest[]> {
    return (await this.ctx.storage.get<StartBackupRequest[]>(QUEUE_KEY)) ?? [];
  }

  /**
   * Queues a scheduled run behind the current holder; a template already waiting is not queued
   * twice. Returns false when one was waiting already (the run that waits has missed a slot).
   */
  private async queue(request: StartBackupRequest): Promise<boolean> {
    const queued = await this.queued();
    if (queued.some((q) => templateOf(q) === templateOf(request))) return false;
    await this.ctx.storage.put(QUEUE_KEY, [...queued, request]);
    if ((await this.ctx.storage.getAlarm()) === null)
      await this.ctx.storage.setAlarm(clock.now() + WATCHDOG_INTERVAL_MS);
    return true;
  }

  /** Starts the longest-waiting queued run, if any; it leaves the queue once it has started. */
  private async startQueuedBackup(): Promise<void> {
    const [next] = await this.queued();
    if (!next) return;
    const result = await this.startBackup({ ...next, queueIfBusy: false });
    if (!result.ok && result.reason === "busy") return; // still busy: the release re-arms this
    // Read again: a run may have been queued while this one was starting.
    const rest = (await this.queued()).filter((q) => templateOf(q) !== templateOf(next));
    await this.ctx.storage.put(QUEUE_KEY, rest);
    if (!result.ok) {
      console.warn(`queued backup of template ${templateOf(next)} not started: ${result.reason}`);
      return;
    }
    await this.recordQueuedStart(next, result.backup.id);
    if (rest.length > 0 && (await this.ctx.storage.getAlarm()) === null)
      await this.ctx.storage.setAlarm(clock.now() + WATCHDOG_INTERVAL_MS);
  }

  /**
   * A scheduled run that waited has started: recorded as the schedule's run (accepted), so a
   * streak of missed slots (`schedule_skipped`) ends when the waiting run starts, not at the next slot.
   */
  private async recordQueuedStart(request: StartBackupRequest, backupId: string): Promise<void> {
    const template = templateOf(request);
    await openDatabase(this.env.DB)
      .insert(auditEvents)
      .values({
        at: clock.date().toISOString(),
        actor: "cron",
        action: template === DEFAULT_TEMPLATE ? "schedule.run" : "template.run",
        target: backupId,
        outcome: "accepted",
        status: null,
        detail: `the scheduled run${template === DEFAULT_TEMPLATE ? "" : ` of template ${template}`} that waited for the bucket started backup ${backupId}`,
      })
      .catch((error: unknown) =>
        console.error(`audit: could not record the start of queued backup ${backupId}`, error),
      );
  }

  /**
   * Asks the holder whether it still works (which re-arms its lost alarm). A holder that has not
   * recorded its start yet counts as working for START_GRACE_MS (its `start` may be in flight);
   * an unreachable one until LEASE_TTL_MS after it last answered.
   */
  private async holderActive(held: Lease): Promise<boolean> {
    try {
      const state = await jobStub(this.env, held.kind, held.holderId).heartbeat();
      if (state === "unknown") return clock.now() - held.acquiredAt <= START_GRACE_MS;
      return state === "running";
    } catch (error) {
      console.error(`lease holder ${held.holderId} did not answer`, error);
      return clock.now() - held.lastSeenAt <= LEASE_TTL_MS;
    }
  }
}

const templateOf = (request: StartBackupRequest) => request.template?.name ?? DEFAULT_TEMPLATE;
