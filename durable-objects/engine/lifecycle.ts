/**
 * The state every job shares, as plain data (StepJob drives it; steps only read and return it):
 * `stage` is the one notion of "done" (running, finishing, done) and `outcome` says how it ended.
 */
import { clock } from "./clock";
export type JobStage = "running" | "finishing" | "done";
export type JobOutcome = "completed" | "partial" | "failed" | "cancelled";

export interface StepState {
  stage: JobStage;
  /** Set when the stage leaves `running`. */
  outcome: JobOutcome | null;
  /** Why the job failed or was cancelled; never empty when the outcome is `failed`. */
  error: string | null;
  /** When the outcome was decided: the job's completion time, stable across retried recordings. */
  endedAt: string | null;
  /** Whether the D1 row of the start has been written (the first alarm writes it if not). */
  startRecorded: boolean;
  /** Consecutive failed attempts of the current step (or of the final recording). */
  stepFailures: number;
  lastError: string | null;
  /** Steps completed and failed attempts retried, for the performance figures (absent: 0). */
  steps?: number;
  retries?: number;
  /** Set by a step that waits for something outside the job: the next step runs this much later. */
  waitMs?: number | null;
  /** Steps run again because a cleanup's sweep was deleting what they found present (absent: 0). */
  collectionWaits?: number;
}

export const RUNNING: Pick<
  StepState,
  "stage" | "outcome" | "error" | "endedAt" | "startRecorded" | "stepFailures" | "lastError"
> = {
  stage: "running",
  outcome: null,
  error: null,
  endedAt: null,
  startRecorded: false,
  stepFailures: 0,
  lastError: null,
};

/** The state that ends a job with `outcome` (used by steps and by the lifecycle alike). */
export function ended<S extends StepState>(state: S, outcome: JobOutcome, error: string | null, at = clock.date()): S {
  return { ...state, stage: "finishing", outcome, error, endedAt: at.toISOString(), stepFailures: 0, lastError: null };
}

export interface CancelRequest {
  requestedBy: string;
  at: string;
}
