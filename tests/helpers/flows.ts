import { expect } from "vitest";
import { api } from "./api";
import { armPlan, CallPlan, disarm } from "./interpose";
import { backupJobStub, cleanupJobStub, restoreJobStub, runBackupToEnd, runJobToEnd, verifyJobStub } from "./jobs";

export async function completedBackup(type: "full" | "incremental" = "full") {
  const created = await api("POST", "/api/backup/create", { body: { type } });
  expect(created.status).toBe(202);
  await runBackupToEnd(created.body.backup.id);
  const status = (await api("GET", `/api/backup/status/${created.body.backup.id}`)).body.backup;
  return status as { id: string; status: string; snapshotFileCount: number; checksum: string };
}

export async function verify(backupId: string, body?: unknown) {
  const started = await api("POST", `/api/backup/verify/${backupId}`, body === undefined ? {} : { body });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  await runJobToEnd(verifyJobStub(started.body.job.id));
  return (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
}

/** A cleanup requested through the API and run to its end; the job as the API shows it. */
export async function cleanup(body: unknown) {
  const started = await api("POST", "/api/backup/cleanup", { body });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  await runJobToEnd(cleanupJobStub(started.body.job.id));
  return (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
}

export async function restore(backupId: string, body: unknown = {}) {
  const started = await api("POST", `/api/backup/restore/${backupId}`, { body });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  await runJobToEnd(restoreJobStub(started.body.job.id));
  return (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
}

/** A backup that dies while finishing: blobs and manifest chunks stored, its index never written. */
export async function crashedBackup(type: "full" | "incremental" = "full"): Promise<string> {
  const id = (await api("POST", "/api/backup/create", { body: { type } })).body.backup.id;
  const plan = new CallPlan("count");
  plan.outage = (label, key) => label === "R2_BACKUP_BUCKET.put" && key.endsWith("/index.json");
  await armPlan(backupJobStub(id), plan);
  await runBackupToEnd(id);
  await disarm(backupJobStub(id));
  expect((await api("GET", `/api/backup/status/${id}`)).body.backup.status).toBe("failed");
  return id;
}
