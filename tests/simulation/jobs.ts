/**
 * Driving the system's jobs as the runtime would, but deterministically: the simulation moves the
 * clock forward, so no alarm ever comes due by itself; every step runs because the simulation runs
 * it. A step that throws is retried (the runtime retries alarms); a job that "dies" after a call
 * (a CallPlan) is evicted and its alarm runs again, as after a crash.
 */
import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type fc from "fast-check";
import { clock } from "../../durable-objects/engine/clock";
import type { StepState } from "../../durable-objects/engine/lifecycle";
import type { WatchedKind } from "../../durable-objects/oversight/watchdog";
import { shardJobName } from "../../durable-objects/engine/backup/fan-out";
import { leafShardName } from "../../durable-objects/engine/leaf-fan-out";
import { armPlan, CallPlan } from "../helpers/interpose";

export interface JobRef {
  kind: WatchedKind;
  id: string;
}

export function stubOf(ref: JobRef): DurableObjectStub {
  switch (ref.kind) {
    case "backup":
      return env.BACKUP_JOB.getByName(ref.id);
    case "verify":
      return env.VERIFY_JOB.getByName(ref.id);
    case "restore":
      return env.RESTORE_JOB.getByName(ref.id);
    case "cleanup":
      return env.CLEANUP_JOB.getByName(ref.id);
    case "replicate":
      return env.REPLICATE_JOB.getByName(ref.id);
  }
}

/** Fault plans armed on jobs, by job id (a plan lives with the job object's instance). */
export const plans = new Map<string, CallPlan>();

/**
 * The shards of a fanned-out backup, restore, verification or replication, as its D1 row lists
 * them from its plan on (none while it plans, or when it runs in one object).
 */
async function shardsOf(ref: JobRef): Promise<JobRef[]> {
  const table = ref.kind === "backup" ? "r2_backups" : "backup_jobs";
  const row = await env.DB.prepare(`SELECT shards FROM ${table} WHERE id = ?`)
    .bind(ref.id)
    .first<{ shards: string | null }>();
  const shards: { index: number }[] = row?.shards ? JSON.parse(row.shards) : [];
  const name = ref.kind === "backup" ? shardJobName : leafShardName;
  return shards.map((shard) => ({ kind: ref.kind, id: name(ref.id, shard.index) }));
}

/**
 * Runs one alarm of the job; true once the job is done. A fanned-out job's step
 * runs one step of each of its shards first (a shard its parent has not started yet is passed over), and a
 * shard gets its parent's yield points (an interleaving's `before`), so that a cleanup can run
 * between a shard's presence checks and its commit as it can for the parent's.
 */
export async function stepJob(ref: JobRef): Promise<boolean> {
  if (ref.kind !== "cleanup" && !isShard(ref.id)) {
    const before = plans.get(ref.id)?.before ?? null;
    for (const shard of await shardsOf(ref)) {
      if (before && !plans.has(shard.id)) {
        const plan = new CallPlan("count");
        plan.before = before;
        plans.set(shard.id, plan);
        await armPlan(stubOf(shard), plan);
      }
      await stepOne(shard, true);
    }
  }
  return stepOne(ref, false);
}

const isShard = (id: string) => id.includes("/shard-");

/** One alarm of one job object; `mayBeAbsent`: a shard not started yet has nothing to run. */
async function stepOne(ref: JobRef, mayBeAbsent: boolean): Promise<boolean> {
  const stub = stubOf(ref);
  const plan = plans.get(ref.id);
  let ran = true;
  try {
    ran = await runDurableObjectAlarm(stub);
  } catch {
    // The runtime retries an alarm whose handler threw.
  }
  if (plan?.dead) {
    plan.dead = false;
    plans.delete(ref.id);
    await evictDurableObject(stub);
  }
  const { state, alarm } = await runInDurableObject(stub, async (_job, storage) => ({
    state: await storage.storage.get<StepState>("checkpoint"),
    alarm: await storage.storage.getAlarm(),
  }));
  if (state?.stage === "done") return true;
  if (state === undefined && mayBeAbsent) return false;
  // A job with no alarm (its handler threw before re-arming, or it was evicted) is retried later.
  if (alarm === null)
    await runInDurableObject(stub, (_job, storage) => storage.storage.setAlarm(clock.now() + 3_600_000));
  if (!ran && state === undefined) throw new Error(`${ref.kind} ${ref.id} has no state and no alarm`);
  return false;
}

/** What D1 says is running: backups pending or in progress, and jobs in progress. */
export async function runningJobs(): Promise<JobRef[]> {
  const backups = await env.DB.prepare(
    "SELECT id FROM r2_backups WHERE status IN ('pending', 'in_progress') ORDER BY id",
  ).all<{ id: string }>();
  const jobs = await env.DB.prepare("SELECT id, kind FROM backup_jobs WHERE status = 'in_progress' ORDER BY id").all<{
    id: string;
    kind: WatchedKind;
  }>();
  return [...backups.results.map((r) => ({ kind: "backup" as const, id: r.id })), ...jobs.results];
}

export const COORDINATED = ["cutty-files", "media-files"] as const;

/** Runs each coordinator's alarm that is set (queued runs, due event backups, the watchdog). */
export async function kickCoordinators(): Promise<void> {
  for (const name of COORDINATED) {
    const stub = env.BUCKET_COORDINATOR.getByName(name);
    await runDurableObjectAlarm(stub);
  }
}

/** Runs every job to its end, and whatever their ends start (replications, cleanups, queued runs). */
export async function drain(maxRounds = 3000): Promise<void> {
  for (let round = 0; round < maxRounds; round++) {
    let running = await runningJobs();
    if (running.length === 0) {
      await kickCoordinators();
      running = await runningJobs();
      if (running.length === 0) return;
    }
    for (const ref of running) await stepJob(ref);
  }
  throw new Error(`the system did not come to rest within ${maxRounds} rounds: ${JSON.stringify(await runningJobs())}`);
}

/**
 * Runs jobs side by side, in an order fast-check's scheduler chooses: one segment at a time, a
 * segment being a job's step, or the part of a step up to a yield point inside it (a backup's
 * commit, so a cleanup's sweep can run between a backup's presence checks and its commit).
 */
export class Interleaving {
  private turnEnded: () => void = () => undefined;
  readonly order: string[] = [];

  constructor(private readonly scheduler: fc.Scheduler) {}

  /** Ends the current segment; the caller continues when the scheduler picks it again. */
  yieldPoint(label: string): Promise<void> {
    const released = this.scheduler.schedule(Promise.resolve(label), label).then((picked) => {
      this.order.push(picked);
    });
    this.turnEnded();
    return released;
  }

  async run(jobs: { label: string; run: () => Promise<void> }[]): Promise<void> {
    let active = jobs.length;
    let failure: unknown = null;
    let turn = new Promise<void>((resolve) => (this.turnEnded = resolve));
    const all = jobs.map((job) =>
      job
        .run()
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => {
          active -= 1;
          this.turnEnded();
        }),
    );
    while (active > 0) {
      await turn;
      if (active === 0) break;
      turn = new Promise<void>((resolve) => (this.turnEnded = resolve));
      await this.scheduler.waitNext(1);
    }
    await Promise.all(all);
    if (failure) throw failure;
  }

  /** A job for `run`: its steps, each one segment (yield points inside a step split it further). */
  stepping(ref: JobRef, label: string): { label: string; run: () => Promise<void> } {
    return {
      label,
      run: async () => {
        for (;;) {
          await this.yieldPoint(`${label} step`);
          if (await stepJob(ref)) return;
        }
      },
    };
  }
}
