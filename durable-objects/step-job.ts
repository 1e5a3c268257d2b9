/**
 * The one lifecycle every long job follows (backup, verify, restore, cleanup). A job's state lives
 * in its object's own storage (key "checkpoint") and moves through three stages:
 *
 *   running     one step per alarm; a failed step is retried with capped backoff, and after
 *               BACKUP_MAX_STEP_ATTEMPTS failures in a row the job's outcome is `failed`;
 *   finishing   the outcome is decided and saved; the final recording (the D1 row, the closing
 *               log line, the lease release) is a step of its own, retried by the alarm and by
 *               `heartbeat` until its idempotent writes succeed, however long D1 is down;
 *   done        recorded and released. Nothing runs any more.
 *
 * The state is saved before the D1 row is first written (`begin`), and the D1 row is written
 * from the state (set, never incremented), so D1 always converges to what the object decided.
 * A cancellation request is kept under its own key, so a step that is running cannot overwrite
 * it; it takes effect at the next step boundary. Subclasses supply the work and the recordings.
 */
import { DurableObject } from "cloudflare:workers";
import { getConfig } from "./engine/settings/config";
import { withD1Latency } from "./engine/d1-latency";
import { ConnectionGate, withLatency } from "./engine/r2-latency";
import { sourceFor } from "./engine/settings/templates";
import { isCollectionConflict } from "./engine/collection/ledger";
import { errorMessage, isRetryable } from "./engine/errors";
import { ended, type CancelRequest, type StepState } from "./engine/lifecycle";
import { cappedBackoff } from "./engine/retry";
import { openDatabase, runBatch, type Statement } from "./engine/records";
import { checkAlerts, describeAlertChanges, wakeDispatcher } from "./oversight/monitor";
import { clock } from "./engine/clock";

const CHECKPOINT_KEY = "checkpoint";
const CANCEL_KEY = "cancel";
/** First delay after a failed step; doubled per failure up to MAX_RETRY_DELAY_MS. */
const STEP_RETRY_BASE_MS = 2_000;
/** The final recording is retried forever, but never less often than this. */
const MAX_RETRY_DELAY_MS = 5 * 60_000;
/** A step that met a cleanup's sweep page runs again after this: a page is one sweep step. */
export const COLLECTION_WAIT_MS = 2_000;

export type Heartbeat = "running" | "finished" | "unknown";

/** What a job reaches through the `interpose` seam: its bindings and its own storage. */
export type Interposed =
  | "DB"
  | "R2_BUCKET"
  | "R2_BACKUP_BUCKET"
  | "R2_REPLICA_BUCKET"
  | "BUCKET_COORDINATOR"
  | "WEBHOOK_DISPATCHER"
  | "storage";

/** The bucket whose alerts a job's end may change, and how the check is logged on the job. */
export interface AlertScope {
  bucketName: string;
  log(message: string): Statement;
}

export abstract class StepJob<S extends StepState> extends DurableObject<Env> {
  /** True while this instance runs a step or a recording: the alarm is evidently not lost then. */
  private busy = false;
  private finishing: Promise<void> | null = null;

  /** Runs one step from `state` and returns the state to save (`ended(...)` to finish). */
  protected abstract step(state: S): Promise<S>;
  /** Writes the job's start to D1 (idempotent). */
  protected abstract recordStart(state: S): Promise<void>;
  /** Writes the job's outcome to D1 and anything else that ends it (idempotent). */
  protected abstract recordEnd(state: S): Promise<void>;
  /** Logs a failed step that will be retried (best effort: D1 may be what fails). */
  protected abstract recordRetry(state: S, failures: number, message: string): Promise<void>;
  /** Logs a step that runs again because a cleanup's sweep page was deleting what it found (best effort). */
  protected async recordCollectionWait(state: S, message: string): Promise<void> {
    await this.recordRetry(state, 0, message);
  }
  /** What follows the job once its end is recorded and its lease released (idempotent). */
  protected async afterEnd(_state: S): Promise<void> {}
  /** The bucket whose alerts this job's end may change (a backup's, a verification's, a cleanup's). */
  protected async alertScope(_state: S): Promise<AlertScope | null> {
    return null;
  }
  /**
   * Whether this job is a shard of a fanned-out one (a backup's, restore's, verification's or
   * replication's): its end is only recorded. It holds no lease, starts nothing, changes no alert
   * and queues no webhook: its parent's end does all of that for the job.
   */
  protected isShard(_state: S): boolean {
    return false;
  }
  /** The bucket lease this job holds, released once its end is recorded. */
  protected abstract leaseOf(state: S): { bucketName: string; holderId: string } | null;

  /**
   * Test seam: wraps the bindings and the storage this job uses, so a fault test can make the k-th
   * call fail or "die" (tests/helpers/interpose.ts). Never set in production code.
   */
  interpose: (<T extends object>(name: Interposed, target: T) => T) | null = null;

  protected bound<K extends Exclude<Interposed, "storage">>(name: K): Env[K] {
    const target = this.env[name];
    // An optional binding that is absent stays absent.
    const seen = this.interpose && target ? this.interpose(name, target) : target;
    if (seen && name.startsWith("R2_")) return this.shaped(seen as R2Bucket) as Env[K];
    if (seen && name === "DB") return this.shapedDatabase(seen as D1Database) as Env[K];
    return seen;
  }

  /** This object's R2 connections (engine/r2-latency.ts), made when production-shaped latency is on. */
  private connections: ConnectionGate | null = null;

  /** The bucket as production would serve it, when BACKUP_TEST_R2_LATENCY is set (benches, tests); else itself. */
  protected shaped(bucket: R2Bucket): R2Bucket {
    const profile = getConfig(this.env).BACKUP_TEST_R2_LATENCY;
    if (!profile) return bucket;
    this.connections ??= new ConnectionGate(profile.maxInFlight);
    return withLatency(bucket, profile, this.connections);
  }

  /** Each binding's shaped D1, kept so that openDatabase's one Drizzle instance a binding holds for it too. */
  private readonly shapedDatabases = new WeakMap<D1Database, D1Database>();

  /** D1 with production's round trip per call, when BACKUP_TEST_R2_LATENCY asks for it (benches); else itself. */
  private shapedDatabase(db: D1Database): D1Database {
    const latency = getConfig(this.env).BACKUP_TEST_R2_LATENCY?.d1;
    if (!latency || latency.fixedMs <= 0) return db;
    let shaped = this.shapedDatabases.get(db);
    if (!shaped) {
      shaped = withD1Latency(db, latency);
      this.shapedDatabases.set(db, shaped);
    }
    return shaped;
  }

  /** A job's source bucket: the default's binding (interposed for tests), or a template's. */
  protected sourceBucket(binding: string | undefined): R2Bucket {
    return binding === undefined || binding === "R2_BUCKET"
      ? this.bound("R2_BUCKET")
      : this.shaped(sourceFor(this.env, binding, this.env.R2_BUCKET));
  }

  protected storage(): DurableObjectStorage {
    return this.interpose ? this.interpose("storage", this.ctx.storage) : this.ctx.storage;
  }

  protected loadState(): Promise<S | undefined> {
    return this.storage().get<S>(CHECKPOINT_KEY);
  }

  protected saveState(state: S): Promise<void> {
    return this.storage().put(CHECKPOINT_KEY, state);
  }

  protected armNextStep(extraDelayMs = 0): Promise<void> {
    return this.storage().setAlarm(clock.now() + getConfig(this.env).BACKUP_STEP_DELAY_MS + extraDelayMs);
  }

  /**
   * Saves the first state and arms the first step, then records the start in D1. If that write
   * fails, the error reaches the caller, but the job exists and its first alarm records the start
   * before working, so the D1 row can never be missing for a job that runs.
   */
  protected async begin(state: S): Promise<void> {
    if (await this.loadState()) return;
    await this.saveState(state);
    await this.armNextStep();
    await this.recordStart(state);
    // Re-read: the first alarm may already have run (and saved progress) during recordStart.
    const saved = await this.loadState();
    if (saved && !saved.startRecorded) await this.saveState({ ...saved, startRecorded: true });
  }

  /**
   * Whether the job is running, finished, or unknown here (never started, or not yet: `start` may
   * still be on its way). A running job whose alarm was lost is re-armed (docs/invariants.md, 4); a job
   * whose final recording is pending tries it again now.
   */
  async heartbeat(): Promise<Heartbeat> {
    const state = await this.loadState();
    if (!state) return "unknown";
    if (state.stage === "done") return "finished";
    if (this.busy) return "running";
    if (state.stage === "finishing") {
      await this.finish(state);
      return (await this.loadState())?.stage === "done" ? "finished" : "running";
    }
    if ((await this.storage().getAlarm()) === null) await this.armNextStep();
    return "running";
  }

  /**
   * The job's state for the job that started it (a fanned-out job's parent asking a shard), with a
   * lost alarm of a running job re-armed. Unlike `heartbeat` it never runs the final recording
   * itself: that stays the shard's own alarm's work, so a failure there is the shard's, retried by
   * its alarm, never its parent's.
   */
  protected async stateForParent(): Promise<S | undefined> {
    const state = await this.loadState();
    if (state?.stage === "running" && !this.busy && (await this.storage().getAlarm()) === null)
      await this.armNextStep();
    return state;
  }

  /**
   * Asks the job to stop at its next step boundary. Returns false when it has already ended (or
   * never started here), so the caller can answer 409.
   */
  protected async requestCancel(requestedBy: string): Promise<boolean> {
    const state = await this.loadState();
    if (!state || state.stage !== "running") return false;
    await this.storage().put(CANCEL_KEY, { requestedBy, at: clock.date().toISOString() } satisfies CancelRequest);
    // Take effect soon even when steps are paced slowly.
    if (!this.busy) await this.armNextStep();
    return true;
  }

  override async alarm(): Promise<void> {
    const state = await this.loadState();
    if (!state || state.stage === "done") return;
    if (state.stage === "finishing") return this.finish(state);

    let next: S;
    this.busy = true;
    try {
      let current = state;
      if (!current.startRecorded) {
        await this.recordStart(current);
        current = { ...current, startRecorded: true };
      }
      const cancel = await this.storage().get<CancelRequest>(CANCEL_KEY);
      next = cancel
        ? ended(current, "cancelled", `Cancelled by ${cancel.requestedBy} at ${cancel.at}.`)
        : await this.step(current);
    } catch (error) {
      // The step may have saved progress midway (a large object's finished parts): keep it.
      await this.stepFailed((await this.loadState()) ?? state, error);
      return;
    } finally {
      this.busy = false;
    }
    const saved: S = { ...next, stepFailures: 0, lastError: null, steps: (next.steps ?? 0) + 1, waitMs: null };
    await this.saveState(saved);
    if (saved.stage === "finishing") await this.finish(saved);
    else await this.armNextStep(next.waitMs ?? 0);
  }

  private async checkAlertsAfterEnd(state: S): Promise<void> {
    const scope = await this.alertScope(state);
    if (!scope) return;
    const db = this.bound("DB");
    const coordinators = this.bound("BUCKET_COORDINATOR");
    const changes = await checkAlerts(db, getConfig(this.env), scope.bucketName, (bucket) =>
      coordinators.getByName(bucket).changeSummary(),
    );
    // Logged on the job when it changed something, so the job's log says what its end caused.
    if (changes.opened.length + changes.resolved.length > 0)
      await runBatch(openDatabase(db), [scope.log(describeAlertChanges(changes))]);
  }

  private async stepFailed(state: S, error: unknown): Promise<void> {
    const message = errorMessage(error);
    if (isCollectionConflict(error)) return this.waitForCollection(state, message);
    console.error(`${this.constructor.name} step failed`, error);
    const failures = state.stepFailures + 1;
    const permanent = !isRetryable(error);
    if (permanent || failures >= getConfig(this.env).BACKUP_MAX_STEP_ATTEMPTS) {
      const failed = ended(
        state,
        "failed",
        permanent ? message : `Failed after ${failures} attempts of one step: ${message}`,
      );
      await this.saveState(failed);
      await this.finish(failed);
      return;
    }
    // The state first: the failure count must survive even if D1 is what is failing.
    await this.saveState({ ...state, stepFailures: failures, lastError: message, retries: (state.retries ?? 0) + 1 });
    await this.armNextStep(cappedBackoff(STEP_RETRY_BASE_MS, failures, MAX_RETRY_DELAY_MS));
    await this.recordRetry(state, failures, message).catch((logError: unknown) =>
      console.error(`${this.constructor.name}: could not log the retry`, logError),
    );
  }

  /**
   * A step whose work a cleanup's sweep made void (docs/invariants.md, 16) runs again shortly:
   * not a failure, so it never uses up the step's attempts. The wait is one sweep page.
   */
  private async waitForCollection(state: S, message: string): Promise<void> {
    const waited: S = { ...state, collectionWaits: (state.collectionWaits ?? 0) + 1 };
    await this.saveState(waited);
    await this.armNextStep(COLLECTION_WAIT_MS);
    await this.recordCollectionWait(waited, message).catch((logError: unknown) =>
      console.error(`${this.constructor.name}: could not log the wait`, logError),
    );
  }

  /**
   * The final recording: the D1 outcome, then the alerts, then the lease, then what follows, then `done`. One at a time per object;
   * a failure is counted in the state and retried by the alarm with capped backoff, forever. It
   * throws only when even that retry could not be scheduled, so the alarm handler fails and the
   * runtime retries it.
   */
  private finish(state: S): Promise<void> {
    this.finishing ??= (async () => {
      this.busy = true;
      try {
        await this.recordEnd(state);
        if (!this.isShard(state)) {
          // The alerts before the lease and what follows: a mass_change this end opens must hold
          // the older backups before the cleanup that a scheduled backup's end starts can plan.
          await this.checkAlertsAfterEnd(state);
          const lease = this.leaseOf(state);
          if (lease) await this.bound("BUCKET_COORDINATOR").getByName(lease.bucketName).release(lease.holderId);
          await this.afterEnd(state);
          // Deliveries queued by recordEnd or by the alert check go out now; a wake lost to a
          // crash here is repeated by the retried recording, and by the next cron firing.
          await wakeDispatcher(this.env, this.bound("WEBHOOK_DISPATCHER"));
        }
        await this.saveState({ ...state, stage: "done", stepFailures: 0, lastError: null });
        await this.storage().deleteAlarm();
      } catch (error) {
        const message = errorMessage(error);
        console.error(`${this.constructor.name}: recording the end failed, will retry`, error);
        const failures = state.stepFailures + 1;
        await this.saveState({ ...state, stepFailures: failures, lastError: message });
        await this.armNextStep(cappedBackoff(STEP_RETRY_BASE_MS, failures, MAX_RETRY_DELAY_MS));
      } finally {
        this.busy = false;
        this.finishing = null;
      }
    })();
    return this.finishing;
  }
}
