import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";

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
 * The next alarm replays the step.
 */
export async function runStepAndForget(stub: DurableObjectStub): Promise<void> {
  const before = await runInDurableObject(stub, (_job, state) => state.storage.get("checkpoint"));
  await runDurableObjectAlarm(stub);
  await runInDurableObject(stub, async (_job, state) => {
    await state.storage.put("checkpoint", before);
    await state.storage.setAlarm(Date.now() + 3_600_000);
  });
}

export function cleanupJobStub(jobId: string) {
  return env.CLEANUP_JOB.getByName(jobId);
}
