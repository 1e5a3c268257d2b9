/**
 * The lifecycle every long job shares (backup, verify, restore): state in the object's own
 * storage (key "checkpoint"), one step per alarm, the alarm re-armed until the job is done, a
 * failed step retried with backoff up to BACKUP_MAX_STEP_ATTEMPTS times before the job is marked
 * failed, and `heartbeat` to re-arm a lost alarm. Subclasses supply the step and what to record.
 */
import { DurableObject } from "cloudflare:workers";
import { getConfig } from "../workers/config";
import { backoffDelay } from "./engine/retry";

const CHECKPOINT_KEY = "checkpoint";
const STEP_RETRY_BASE_MS = 2_000;

export interface StepState {
  /** True once the job has finished, whatever its outcome. */
  finished: boolean;
  /** Consecutive failed attempts of the current step. */
  stepFailures: number;
  lastError: string | null;
}

export abstract class StepJob<S extends StepState> extends DurableObject<Env> {
  /** True while this instance runs a step: the alarm is evidently not lost then. */
  private stepRunning = false;

  /** Runs one step from `state` and returns the state to save. */
  protected abstract step(state: S): Promise<S>;
  /** Called once after the step that finished the job was saved. */
  protected abstract onFinished(state: S): Promise<void>;
  /** Records a failed step (log row); `finalState` is set when the job gives up. */
  protected abstract onStepFailure(state: S, failures: number, message: string, finalState: S | null): Promise<void>;
  /** The state of a job that gave up after too many failed steps. */
  protected abstract asFailed(state: S, message: string): S;

  protected loadState(): Promise<S | undefined> {
    return this.ctx.storage.get<S>(CHECKPOINT_KEY);
  }

  protected saveState(state: S): Promise<void> {
    return this.ctx.storage.put(CHECKPOINT_KEY, state);
  }

  protected armNextStep(extraDelayMs = 0): Promise<void> {
    return this.ctx.storage.setAlarm(Date.now() + getConfig(this.env).BACKUP_STEP_DELAY_MS + extraDelayMs);
  }

  /** Saves the first state and arms the first step. */
  protected async begin(state: S): Promise<void> {
    await this.saveState(state);
    await this.armNextStep();
  }

  /**
   * Whether the job is running, finished, or unknown here (never started, or not yet: `start` may
   * still be on its way); a running job whose alarm was lost is re-armed (invariant 4).
   */
  async heartbeat(): Promise<"running" | "finished" | "unknown"> {
    const state = await this.loadState();
    if (!state) return "unknown";
    if (state.finished) return "finished";
    // While a step runs, reading the alarm waits for that step to end (the alarm is in flight), so
    // a status read would stall for the whole step; a running step needs no re-arming anyway.
    if (!this.stepRunning && (await this.ctx.storage.getAlarm()) === null) await this.armNextStep();
    return "running";
  }

  override async alarm(): Promise<void> {
    const state = await this.loadState();
    if (!state || state.finished) return;
    let next: S;
    this.stepRunning = true;
    try {
      next = await this.step(state);
    } catch (error) {
      // The step may have saved progress midway (a large object's finished parts): keep it.
      await this.recordStepFailure((await this.loadState()) ?? state, error);
      return;
    } finally {
      this.stepRunning = false;
    }
    await this.saveState({ ...next, stepFailures: 0, lastError: null });
    if (next.finished) await this.onFinished(next);
    else await this.armNextStep();
  }

  private async recordStepFailure(state: S, error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`${this.constructor.name} step failed`, error);
    const failures = state.stepFailures + 1;
    const giveUp = failures >= getConfig(this.env).BACKUP_MAX_STEP_ATTEMPTS;
    const next: S = giveUp ? { ...this.asFailed(state, message), finished: true, stepFailures: failures, lastError: message } : { ...state, stepFailures: failures, lastError: message };
    // The state first: the failure count must survive even if D1 is what is failing.
    await this.saveState(next);
    if (!giveUp) await this.armNextStep(backoffDelay(STEP_RETRY_BASE_MS, failures));
    await this.onStepFailure(state, failures, message, giveUp ? next : null);
    if (giveUp) await this.onFinished(next);
  }
}
