/**
 * The fault matrix: a job is run once clean while every call it makes to R2, D1, its own storage
 * and the coordinator is counted; then, for every k, it is run again with the k-th call throwing,
 * and with the job dying right after the k-th call (later calls fail, the object is evicted, and
 * the alarm fires again as the runtime would retry it). Every run must end in one of two states:
 * exactly the clean run's outcome, or `failed`/`partial` with a non-empty error on which the
 * object and D1 agree. Never a wrong success, never a job left in progress.
 */
import { abortAllDurableObjects, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import type { StepState } from "../../durable-objects/engine/lifecycle";
import { armPlan, CallPlan, type FaultMode } from "../helpers/interpose";

export interface Scenario {
  name: string;
  /** Undoes what a previous run wrote, so that every run starts from the same place. */
  reset(): Promise<void>;
  /** Starts the job without faults; `run` numbers the runs (for unique targets). */
  start(run: number): Promise<{ stub: DurableObjectStub; id: string }>;
  /** What must equal the clean run's, normalised (no ids, no times). */
  outcome(id: string, run: number): Promise<unknown>;
  /** The status and error D1 shows for the job. */
  recorded(id: string): Promise<{ status: string; error: string | null }>;
  /**
   * A fanned-out backup: the other job objects of the run (its shards, or its parent and the
   * other shards), one alarm each before every alarm of the faulted one, and run to their end
   * after it. `id` is the backup's.
   */
  others?(id: string): DurableObjectStub[];
  finish?(id: string): Promise<void>;
  /**
   * How a job that dies is brought down: its object alone is evicted (the default), or every
   * object is reset, as when the machine fails; a fanned-out backup's parent holds connections to
   * its shards, and an object with connections to it cannot be evicted alone.
   */
  crash?: "evict" | "everything";
  /** A fresh stub of the faulted job's object (needed after a reset of every object). */
  stubOf?(id: string): DurableObjectStub;
}

export interface RunReport {
  mode: FaultMode;
  at: number;
  result: "identical" | "failed_cleanly";
  injected: number;
}

/** D1 status the job's outcome must show (jobs have no `partial`). */
const AGREEING_STATUSES: Record<string, string[]> = {
  completed: ["completed"],
  partial: ["partial", "completed"],
  failed: ["failed"],
  cancelled: ["cancelled"],
};

async function jobState(stub: DurableObjectStub): Promise<StepState | undefined> {
  return runInDurableObject(stub, (_job, state) => state.storage.get<StepState>("checkpoint"));
}

/** The objects of one run: the faulted job's, and (a fanned-out backup) the others beside it. */
interface RunObjects {
  main: DurableObjectStub;
  others: DurableObjectStub[];
}

/**
 * Drives the job's alarms to the end as the runtime would, including retries of failed alarms;
 * `others` (a fanned-out backup's other objects) run one alarm each before each of the job's.
 * `objects` is asked again after every alarm: stubs made before a reset of every object are dead.
 */
async function driveToEnd(
  objects: () => RunObjects,
  plan: CallPlan,
  crash: Scenario["crash"] = "evict",
): Promise<void> {
  for (let alarms = 0; ; alarms++) {
    if (alarms > 200) throw new Error(`job did not finish within 200 alarms (${plan.mode} at ${plan.at})`);
    for (const other of objects().others) await runDurableObjectAlarm(other);
    let threw = false;
    try {
      await runDurableObjectAlarm(objects().main);
    } catch {
      threw = true;
    }
    if (plan.dead) {
      // The isolate is gone: memory is lost with it (and the plan with the instance), and the
      // runtime retries an alarm whose handler did not complete.
      threw = true;
      plan.dead = false;
      if (crash === "everything") await abortAllDurableObjects();
      else await evictDurableObject(objects().main);
    }
    const stub = objects().main;
    const { state, alarm } = await runInDurableObject(stub, async (_job, storage) => ({
      state: await storage.storage.get<StepState>("checkpoint"),
      alarm: await storage.storage.getAlarm(),
    }));
    if (state?.stage === "done") return;
    if (alarm !== null) continue;
    // An alarm whose handler threw is retried by the runtime; a job that merely stopped is stuck.
    if (!threw) throw new Error(`job stuck: stage ${state?.stage}, no alarm (${plan.mode} at ${plan.at})`);
    // Far ahead, so that only this loop (not the clock) runs it.
    await runInDurableObject(stub, (_job, storage) => storage.storage.setAlarm(Date.now() + 3_600_000));
  }
}

async function runOnce(scenario: Scenario, plan: CallPlan, run: number) {
  await scenario.reset();
  const started = await scenario.start(run);
  const { id } = started;
  const objects = (): RunObjects => ({
    main: scenario.stubOf?.(id) ?? started.stub,
    others: scenario.others?.(id) ?? [],
  });
  await armPlan(started.stub, plan);
  await driveToEnd(objects, plan, scenario.crash);
  await scenario.finish?.(id).catch((error: unknown) => {
    throw new Error(`${scenario.name}, ${plan.mode} at ${plan.at}: ${String(error)}`);
  });
  const state = (await jobState(objects().main))!;
  const recorded = await scenario.recorded(id);
  return { state, recorded, outcome: await scenario.outcome(id, run) };
}

/**
 * Runs the matrix; `maxPoints` samples the fault positions evenly when a clean run makes more
 * calls than that (large objects), always including the first and the last call.
 */
export async function runMatrix(scenario: Scenario, options: { maxPoints?: number; rotation?: number } = {}) {
  const clean = new CallPlan("count");
  const expected = await runOnce(scenario, clean, 0);
  expect(expected.state.outcome, `${scenario.name}: the clean run must complete`).toBe("completed");
  const total = clean.calls.length;
  const points = pointsToTry(total, options.maxPoints ?? Infinity, options.rotation ?? 0);
  const reports: RunReport[] = [];
  let run = 1;
  for (const mode of ["throw", "die"] as const) {
    for (const at of points) {
      const plan = new CallPlan(mode, at);
      const got = await runOnce(scenario, plan, run++);
      const where = `${scenario.name}: ${mode} at call ${at} of ${total} (${clean.calls[at - 1]})`;
      expect(got.state.stage, where).toBe("done");
      expect(AGREEING_STATUSES[got.state.outcome!], `${where}: D1 says ${got.recorded.status}`).toContain(
        got.recorded.status,
      );
      if (got.state.outcome === "completed") {
        if (JSON.stringify(got.outcome) !== JSON.stringify(expected.outcome))
          console.error(where, JSON.stringify(got.outcome), JSON.stringify(expected.outcome));
        expect(got.outcome, where).toEqual(expected.outcome);
        reports.push({ mode, at, result: "identical", injected: plan.injected });
      } else {
        expect(["failed", "partial"], where).toContain(got.state.outcome);
        expect(got.recorded.error?.trim(), `${where}: a failed job names its error`).toBeTruthy();
        reports.push({ mode, at, result: "failed_cleanly", injected: plan.injected });
      }
    }
  }
  return { calls: total, points: points.length, reports, callKinds: [...new Set(clean.calls)] };
}

/**
 * Every call when there are at most `maxPoints`; otherwise the first, the last, and one call in
 * each of the evenly spaced gaps between, placed by `rotation` (0 to 1): successive runs with
 * other rotations (FAULT_MATRIX_SEED) try other calls.
 */
function pointsToTry(total: number, maxPoints: number, rotation: number): number[] {
  if (total <= maxPoints) return Array.from({ length: total }, (_, i) => i + 1);
  const step = (total - 1) / (maxPoints - 1);
  const inner = Array.from({ length: maxPoints - 2 }, (_, i) =>
    Math.min(total - 1, Math.max(2, Math.round(1 + (i + 0.5 + rotation) * step))),
  );
  return [...new Set([1, ...inner, total])];
}
