import { env, runDurableObjectAlarm } from "cloudflare:test";

export function backupJobStub(backupId: string) {
  return env.BACKUP_JOB.get(env.BACKUP_JOB.idFromName(backupId));
}

export function coordinatorStub(bucketName = "cutty-files") {
  return env.BUCKET_COORDINATOR.get(env.BUCKET_COORDINATOR.idFromName(bucketName));
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
  return env.VERIFY_JOB.get(env.VERIFY_JOB.idFromName(jobId));
}

export function restoreJobStub(jobId: string) {
  return env.RESTORE_JOB.get(env.RESTORE_JOB.idFromName(jobId));
}

/** Runs a verify or restore job's alarms until none is scheduled. */
export async function runJobToEnd(stub: DurableObjectStub, maxSteps = 1000): Promise<number> {
  let steps = 0;
  while (await runDurableObjectAlarm(stub)) {
    if (++steps > maxSteps) throw new Error(`job did not finish within ${maxSteps} steps`);
  }
  return steps;
}
