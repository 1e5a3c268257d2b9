/**
 * The real system as the simulation acts on it: the source buckets, the API, the cron and the
 * queue, each call answering what the model needs to know.
 */
import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  env,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { expect } from "vitest";
import worker from "../../workers/index";
import { clock } from "../../durable-objects/engine/clock";
import type { BackupCheckpoint } from "../../durable-objects/engine/backup/backup-checkpoint";
import { NO_FILTER } from "../../durable-objects/engine/restore/restore-filter";
import { api } from "../helpers/api";
import { emptyBucket, listAll } from "../helpers/buckets";
import { drain, plans, stubOf } from "./jobs";
import { bucketName, bytesOf, type SimObject } from "./model";
import type { BucketId } from "./keys";
import type { CallPlan } from "../helpers/interpose";
import { armPlan } from "../helpers/interpose";
import { writeFirstFromNow } from "../helpers/jobs";

export const sourceOf = (bucket: BucketId): R2Bucket => (bucket === "cutty" ? env.R2_BUCKET : env.R2_MEDIA_BUCKET!);
export const scratch = (): R2Bucket => env.R2_SCRATCH_BUCKET!;
/** Backups of media-files run its template; cutty-files is the default's. */
const templateOf = (bucket: BucketId) => (bucket === "media" ? { template: "media" } : {});

export async function putObject(bucket: BucketId, key: string, object: SimObject): Promise<void> {
  await sourceOf(bucket).put(key, bytesOf(object), {
    httpMetadata: { contentType: object.contentType },
    customMetadata: object.custom,
  });
}

export async function deleteObjects(bucket: BucketId, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) await sourceOf(bucket).delete(keys.slice(i, i + 1000));
}

/** Backups this file has started through the API, and those of them made to write first. */
export const writingFirst = { started: 0, backups: 0 };

/** Starts a backup through the API; null when the bucket is busy (409). */
export async function createBackup(bucket: BucketId, type: "full" | "incremental" | "auto"): Promise<string | null> {
  const created = await api("POST", "/api/backup/create", { body: { type, ...templateOf(bucket) } });
  if (created.status === 409) return null;
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  const id: string = created.body.backup.id;
  // Every second one writes small content before asking the store from its first step
  // (engine/backup/write-first.ts; the month's buckets are too small to get there on their own),
  // so that cleanups, faults and interleavings meet that path too.
  if (writingFirst.started++ % 2 === 1) {
    await writeFirstFromNow(stubOf({ kind: "backup", id }));
    writingFirst.backups += 1;
  }
  return id;
}

export interface CleanupPolicy {
  retentionDays: number;
  keep: { last: number; daily: number };
}

/** Starts a cleanup of the bucket's template; null when the bucket is busy. */
export async function createCleanup(bucket: BucketId, policy: CleanupPolicy): Promise<string | null> {
  const started = await api("POST", "/api/backup/cleanup", { body: { ...policy, ...templateOf(bucket) } });
  if (started.status === 409) return null;
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return started.body.job.id;
}

export async function arm(ref: { kind: "backup" | "cleanup"; id: string }, plan: CallPlan): Promise<void> {
  plans.set(ref.id, plan);
  await armPlan(stubOf(ref), plan);
}

export async function backupRow(id: string) {
  return (await api("GET", `/api/backup/status/${id}`)).body.backup as {
    id: string;
    status: string;
    bucketName: string;
    parentId: string | null;
    snapshotFileCount: number;
    replicaStatus: string | null;
    checksum: string | null;
  };
}

/** What the backup's own checkpoint says it read: the keys events named (null: it listed). */
export async function targetKeysOf(id: string): Promise<string[] | null> {
  const checkpoint = await runInDurableObject(stubOf({ kind: "backup", id }), (_job, state) =>
    state.storage.get<BackupCheckpoint>("checkpoint"),
  );
  return checkpoint?.targetKeys ?? null;
}

/** The snapshot as the API lists it: path, size, checksum and content type, in key order. */
type ListedFile = { path: string; size: number; checksum: string; contentType: string | null };
export async function listing(id: string): Promise<ListedFile[]> {
  const files: ListedFile[] = [];
  let cursor: string | null = null;
  do {
    const page: { status: number; body: { files: ListedFile[]; nextCursor: string | null } } = await api(
      "GET",
      `/api/backup/files/${id}?limit=1000${cursor ? `&cursor=${cursor}` : ""}`,
    );
    expect(page.status, `the files of backup ${id}: ${JSON.stringify(page.body)}`).toBe(200);
    files.push(...page.body.files);
    cursor = page.body.nextCursor;
  } while (cursor);
  return files;
}

export async function failedKeys(id: string): Promise<Set<string>> {
  const rows = await env.DB.prepare("SELECT file_path FROM backup_files WHERE backup_id = ? AND status = 'failed'")
    .bind(id)
    .all<{ file_path: string }>();
  return new Set(rows.results.map((r) => r.file_path));
}

export async function verifyBackup(id: string, body: Record<string, unknown>) {
  const started = await api("POST", `/api/backup/verify/${id}`, { body });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  await drain();
  return (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
}

/** Verifications started by the checks, for their job ids. */
let verifications = 0;

/**
 * The checks' own full verification of a kept backup, in one job object whatever its size: an
 * oracle with the fewest moving parts (a fanned-out one costs about half a second more here). The
 * system's verifications, fanned out when large, are the VerifySome commands' (through the API).
 */
export async function verifyInOneObject(id: string) {
  const jobId = `job-sim-verify-${id}-${(verifications += 1)}`;
  await env.VERIFY_JOB.getByName(jobId).start({
    jobId,
    backupId: id,
    requestedBy: "simulation",
    mode: "full",
    sample: null,
    recordedChecksum: (await backupRow(id)).checksum,
    maxShards: 1,
  });
  await drain();
  return (await api("GET", `/api/backup/jobs/${jobId}`)).body.job;
}

/**
 * Restores a backup into the scratch bucket (bound only in the simulation's configuration, so
 * never read by a later backup), under `prefix`, optionally only `pathPrefix`; returns the job.
 */
export async function restoreToScratch(id: string, prefix: string, pathPrefix = "") {
  const jobId = `job-sim-restore-${id}-${prefix.replaceAll("/", "")}`;
  await env.RESTORE_JOB.getByName(jobId).start({
    jobId,
    backupId: id,
    bucketName: "sim-scratch",
    sourceBinding: "R2_SCRATCH_BUCKET",
    requestedBy: "simulation",
    options: {
      overwriteExisting: false,
      verifyAfterRestore: true,
      dryRun: false,
      targetPrefix: prefix,
      filter: { ...NO_FILTER, pathPrefix },
    },
    holdsLease: false,
  });
  await drain();
  return (await api("GET", `/api/backup/jobs/${jobId}`)).body.job;
}

export async function scratchObjects(prefix: string) {
  const objects = [];
  for (const object of await listAll(scratch(), prefix)) {
    const body = new Uint8Array(await (await scratch().get(object.key))!.arrayBuffer());
    objects.push({
      key: object.key.slice(prefix.length),
      body,
      contentType: object.httpMetadata?.contentType ?? "",
      custom: object.customMetadata ?? {},
    });
  }
  await emptyBucket(scratch());
  return objects;
}

/** The next 02:00 UTC `days` days on (the daily schedule's slot), the clock moved there. */
export function slotAfter(days: number): number {
  const now = clock.now();
  const today = Math.floor(now / 86_400_000) * 86_400_000 + 2 * 3_600_000;
  return (today > now ? today : today + 86_400_000) + (days - 1) * 86_400_000;
}

export async function fireCron(at: number): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "0 * * * *", scheduledTime: at }), env, ctx);
  await waitOnExecutionContext(ctx);
}

/** Delivers change notifications of cutty-files to the Worker's queue handler. */
export async function deliverEvents(bodies: unknown[]): Promise<void> {
  if (bodies.length === 0) return;
  const batch = createMessageBatch(
    "cutty-files-events",
    bodies.map((body, i) => ({ id: `sim-${clock.now()}-${i}`, timestamp: clock.date(), attempts: 1, body })),
  );
  await worker.queue(batch, {
    ...env,
    OBJECT_EVENTS_DEAD_LETTERS: { send: async () => undefined, sendBatch: async () => undefined } as unknown as Queue,
  });
}

export const notification = (key: string, deleted: boolean) => ({
  account: "simulation",
  action: deleted ? "DeleteObject" : "PutObject",
  bucket: bucketName.cutty,
  object: { key },
  eventTime: clock.date().toISOString(),
});
