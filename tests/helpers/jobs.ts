import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { shardJobName } from "../../durable-objects/engine/backup/fan-out";
import { leafShardName } from "../../durable-objects/engine/leaf-fan-out";
import type { BackupCheckpoint } from "../../durable-objects/engine/backup/backup-checkpoint";
import type { VerifyState } from "../../durable-objects/engine/verify/verify-step";

export function backupJobStub(backupId: string) {
  return env.BACKUP_JOB.getByName(backupId);
}

export function coordinatorStub(bucketName = "cutty-files") {
  return env.BUCKET_COORDINATOR.getByName(bucketName);
}

/** Runs the job's alarms until none is scheduled; returns how many steps ran. */
export async function runBackupToEnd(backupId: string, maxSteps = 1000): Promise<number> {
  const stub = backupJobStub(backupId);
  let steps = 0;
  while (await runDurableObjectAlarm(stub)) {
    if (++steps > maxSteps) throw new Error(`backup ${backupId} did not finish within ${maxSteps} steps`);
  }
  return steps;
}

export function verifyJobStub(jobId: string) {
  return env.VERIFY_JOB.getByName(jobId);
}

export function restoreJobStub(jobId: string) {
  return env.RESTORE_JOB.getByName(jobId);
}

/** Runs a verify or restore job's alarms until none is scheduled. */
export async function runJobToEnd(stub: DurableObjectStub, maxSteps = 1000): Promise<number> {
  let steps = 0;
  while (await runDurableObjectAlarm(stub)) {
    if (++steps > maxSteps) throw new Error(`job did not finish within ${maxSteps} steps`);
  }
  return steps;
}

/**
 * Runs the job's next step, then makes the job forget it ran (its checkpoint rolled back, its
 * alarm re-armed): what a crash after the step's writes but before its checkpoint looks like.
 * The next alarm replays the step. Only for steps that save their checkpoint once, at their end:
 * a step that saves within itself (a large restore marks its upload `completing` before it
 * completes it) is rolled back past a save no crash can undo; evict the object instead.
 */
export async function runStepAndForget(stub: DurableObjectStub): Promise<void> {
  const before = await runInDurableObject(stub, (_job, state) => state.storage.get("checkpoint"));
  await runDurableObjectAlarm(stub);
  await runInDurableObject(stub, async (_job, state) => {
    await state.storage.put("checkpoint", before);
    await state.storage.setAlarm(Date.now() + 3_600_000);
  });
}

/**
 * Makes a backup not yet stepped write small content before asking the store, as one whose
 * earlier steps found their content new does (engine/backup/write-first.ts).
 */
export async function writeFirstFromNow(stub: DurableObjectStub): Promise<void> {
  await runInDurableObject(stub, async (_job, state) => {
    const checkpoint = await state.storage.get<BackupCheckpoint>("checkpoint");
    if (!checkpoint) throw new Error("the backup has no checkpoint yet");
    await state.storage.put("checkpoint", { ...checkpoint, newContentShare: 1 });
  });
}

export function cleanupJobStub(jobId: string) {
  return env.CLEANUP_JOB.getByName(jobId);
}

/**
 * Runs a fanned-out backup to its end as production's alarms would interleave them: each round,
 * one step of every shard, then one of the parent, until the parent has no step left; then the
 * shards' own ends (a cancelled shard's last step). Returns the rounds.
 */
export function runFannedOutToEnd(backupId: string, shardCount: number, maxRounds = 2000): Promise<number> {
  const shards = Array.from({ length: shardCount }, (_, i) => backupJobStub(shardJobName(backupId, i)));
  return runShardedToEnd(`fanned-out backup ${backupId}`, backupJobStub(backupId), shards, maxRounds);
}

/** The same for a restore, verification or replication fanned out over the snapshot's leaves. */
export function runLeafFannedOutToEnd(
  stubOf: (name: string) => DurableObjectStub,
  jobId: string,
  shardCount: number,
  maxRounds = 2000,
): Promise<number> {
  const shards = Array.from({ length: shardCount }, (_, i) => stubOf(leafShardName(jobId, i)));
  return runShardedToEnd(`fanned-out job ${jobId}`, stubOf(jobId), shards, maxRounds);
}

async function runShardedToEnd(
  name: string,
  parent: DurableObjectStub,
  shards: DurableObjectStub[],
  maxRounds: number,
): Promise<number> {
  for (let rounds = 1; rounds <= maxRounds; rounds++) {
    for (const shard of shards) await runDurableObjectAlarm(shard);
    if (!(await runDurableObjectAlarm(parent))) {
      for (const shard of shards) while (await runDurableObjectAlarm(shard));
      return rounds;
    }
  }
  const states = [];
  for (const stub of [parent, ...shards])
    states.push(
      await runInDurableObject(stub, async (_job, state) => {
        const { stage, outcome, phase, fanOut, lastError, stepFailures } =
          (await state.storage.get<Record<string, unknown>>("checkpoint")) ?? {};
        return {
          stage,
          outcome,
          phase,
          fanOut: (fanOut as { stage?: string })?.stage,
          lastError,
          stepFailures,
          alarm: await state.storage.getAlarm(),
        };
      }),
    );
  throw new Error(`${name} did not finish within ${maxRounds} rounds: ${JSON.stringify(states)}`);
}

/**
 * Runs a verification to its end, evicting its object after every step, and returns how far its
 * large entry was hashed at each step's end (null: no large entry in progress).
 */
export async function verifyHashedBySteps(jobId: string): Promise<(number | null)[]> {
  const stub = verifyJobStub(jobId);
  const hashed: (number | null)[] = [];
  while (await runDurableObjectAlarm(stub)) {
    const state = await runInDurableObject(stub, (_job, storage) => storage.storage.get<VerifyState>("checkpoint"));
    hashed.push(state?.largeEntry?.hashed ?? null);
    await evictDurableObject(stub);
  }
  return hashed;
}
