/** The jobs the fault matrix runs, each with how to start it, reset it and read its outcome. */
import { env } from "cloudflare:test";
import { expect } from "vitest";
import { api } from "../helpers/api";
import { emptyBucket, listAll, putObjects, sha256Hex, variedObjects, type SeedObject } from "../helpers/buckets";
import { completedBackup } from "../helpers/flows";
import { runDurableObjectAlarm } from "cloudflare:test";
import { shardJobName } from "../../durable-objects/engine/backup/fan-out";
import {
  backupJobStub,
  coordinatorStub,
  restoreJobStub,
  runFannedOutToEnd,
  runLeafFannedOutToEnd,
  verifyJobStub,
  writeFirstFromNow,
} from "../helpers/jobs";
import { leafShardName } from "../../durable-objects/engine/leaf-fan-out";
import type { Scenario } from "./harness";
import { readKeyring } from "../../durable-objects/engine/settings/engine-settings";
import { chunkKeysOf } from "../helpers/manifest";
import { StoreSnapshot } from "../helpers/store-snapshot";

/** Which storage settings this project runs with (the matrix runs in two vitest projects). */
export const settings = (env.BACKUP_ENCRYPTION_ENABLED as string) === "true" ? "compressed+encrypted" : "plain";
export const MATRIX_TIMEOUT = 900_000;
/**
 * Which calls are faulted. By default every call, in both modes: that is what `npm test` and CI
 * run, so a commit's outcome depends on the commit alone. `FAULT_MATRIX_SAMPLE=<n>` (the quick
 * loop, `npm run test:quick`) tries at most n calls per scenario, the first, the last and one in
 * each even gap between, placed by `FAULT_MATRIX_SEED` (default 0, printed with every summary):
 * `FAULT_MATRIX_SAMPLE=<n> FAULT_MATRIX_SEED=<s> npm test` repeats a sampled run exactly.
 */
const sample = env.FAULT_MATRIX_SAMPLE ? Number(env.FAULT_MATRIX_SAMPLE) : Infinity;
export const MATRIX_SEED = Number(env.FAULT_MATRIX_SEED ?? 0);
if (!(sample >= 2) || !Number.isInteger(MATRIX_SEED))
  throw new Error("FAULT_MATRIX_SAMPLE must be at least 2 and FAULT_MATRIX_SEED an integer");
const rotation = (MATRIX_SEED * 0.6180339887) % 1;
export const FAULT_POINTS = { maxPoints: sample, rotation };
/** Describes the points tried, for the summaries. */
export const MATRIX_POINTS = Number.isFinite(sample) ? `at most ${sample} points, seed ${MATRIX_SEED}` : "every call";

/** A few small objects of every kind, and optionally one above the (test) multipart threshold. */
export function seedObjects(options: { large?: boolean } = {}): SeedObject[] {
  const objects = variedObjects(7);
  if (options.large) {
    const body = new Uint8Array(6 * 1024 * 1024 + 12_345);
    for (let i = 0; i < body.length; i += 4096) body[i] = (i / 4096) % 251;
    objects.push({
      key: "media/large.bin",
      body,
      contentType: "application/octet-stream",
      customMetadata: { kind: "large" },
    });
  }
  return objects;
}

export async function freshSource(objects: readonly SeedObject[]): Promise<void> {
  await emptyBucket(env.R2_BUCKET);
  await emptyBucket(env.R2_BACKUP_BUCKET);
  await env.DB.batch(
    ["r2_backups", "backup_files", "backup_logs", "backup_jobs", "job_findings"].map((t) =>
      env.DB.prepare(`DELETE FROM ${t}`),
    ),
  );
  await putObjects(objects);
}

/** Removes every backup but `keep` (rows, manifests, and the blobs they first stored). */
async function forgetBackupsExcept(keep: readonly string[]): Promise<void> {
  const kept = new Set(keep);
  const placeholders = keep.map(() => "?").join(", ") || "''";
  await env.DB.batch([
    env.DB.prepare(`DELETE FROM r2_backups WHERE id NOT IN (${placeholders})`).bind(...keep),
    env.DB.prepare(`DELETE FROM backup_files WHERE backup_id NOT IN (${placeholders})`).bind(...keep),
    env.DB.prepare(`DELETE FROM backup_logs WHERE backup_id NOT IN (${placeholders})`).bind(...keep),
  ]);
  // Manifest chunks are shared, so they belong to no one backup: those the kept backups name stay.
  const keptChunks = await chunkKeysOf(env.R2_BACKUP_BUCKET, keep, await readKeyring(env));
  const stale = (await listAll(env.R2_BACKUP_BUCKET)).filter((o) =>
    o.key.startsWith("manifests/")
      ? !kept.has(o.key.split("/")[1]!)
      : o.key.startsWith("chunks/")
        ? !keptChunks.has(o.key)
        : !kept.has(o.customMetadata?.backupId ?? ""),
  );
  for (let i = 0; i < stale.length; i += 1000)
    await env.R2_BACKUP_BUCKET.delete(stale.slice(i, i + 1000).map((o) => o.key));
  expect(await coordinatorStub().currentLease()).toBeNull();
}

/** Every entry of a snapshot through the API (it decrypts, so encrypted manifests compare too). */
async function snapshotListing(backupId: string): Promise<unknown[]> {
  const files: unknown[] = [];
  let cursor: string | null = null;
  do {
    const page: { files: unknown[]; nextCursor: string | null } = (
      await api("GET", `/api/backup/files/${backupId}?limit=1000${cursor ? `&cursor=${cursor}` : ""}`)
    ).body;
    files.push(...page.files);
    cursor = page.nextCursor;
  } while (cursor);
  return files;
}

async function backupOutcome(id: string) {
  const { backup } = (await api("GET", `/api/backup/status/${id}`)).body;
  const { id: _id, backupDate: _d, startedAt: _s, completedAt: _c, parentId: _p, performance, ...rest } = backup;
  // Timings vary from run to run, and an injected fault adds a retry (and maybe a step); what the
  // backup read, uploaded and stored must not change.
  const { bytesRead, bytesUploaded, storedBytes } = performance;
  // A fanned-out backup's shards: their ranges and what they did, not how many steps it took.
  const shards = rest.progress.shards?.map(
    ({ steps: _steps, retries: _retries, ...shard }: Record<string, unknown>) => shard,
  );
  const row = {
    ...rest,
    progress: { ...rest.progress, ...(shards ? { shards } : {}) },
    performance: { bytesRead, bytesUploaded, storedBytes },
  };
  const files = (
    await env.DB.prepare(
      "SELECT file_path, backup_path, file_size, checksum, status, error FROM backup_files WHERE backup_id = ? ORDER BY file_path",
    )
      .bind(id)
      .all()
  ).results;
  const blobs = (await listAll(env.R2_BACKUP_BUCKET, "blobs/")).map((b) => `${b.key}:${b.size}`);
  return { row, files, listing: await snapshotListing(id), blobs };
}

async function backupRecorded(id: string) {
  const row = await env.DB.prepare("SELECT status, error FROM r2_backups WHERE id = ?")
    .bind(id)
    .first<{ status: string; error: string | null }>();
  return row!;
}

async function jobRecorded(id: string) {
  const row = await env.DB.prepare("SELECT status, error FROM backup_jobs WHERE id = ?")
    .bind(id)
    .first<{ status: string; error: string | null }>();
  return row!;
}

async function createBackup(type: "full" | "incremental") {
  const created = await api("POST", "/api/backup/create", { body: { type } });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  const id: string = created.body.backup.id;
  return { stub: backupJobStub(id), id };
}

/**
 * A full backup fanned out over 2 shards (the 7 seed objects, at least 3 a shard). `faulted`:
 * which object the fault is put in, the parent (while its shards run) or shard `n` (mid-range);
 * the others run beside it, one alarm each per alarm of the faulted one.
 */
export function fannedOutScenario(name: string, faulted: "parent" | number): Scenario {
  const SHARDS = 2;
  const shards = (id: string) => Array.from({ length: SHARDS }, (_, i) => backupJobStub(shardJobName(id, i)));
  return {
    name,
    reset: () => forgetBackupsExcept([]),
    async start() {
      const started = await coordinatorStub().startBackup({
        type: "full",
        trigger: "api",
        requestedBy: "fault-matrix",
        maxShards: SHARDS,
        minObjectsPerShard: 3,
      });
      if (!started.ok) throw new Error(`not started: ${JSON.stringify(started)}`);
      const id = started.backup.id;
      if (faulted === "parent") return { stub: backupJobStub(id), id };
      // The parent plans and starts its shards; the fault goes into one of them from its first step.
      await runDurableObjectAlarm(backupJobStub(id));
      await runDurableObjectAlarm(backupJobStub(id));
      return { stub: shards(id)[faulted]!, id };
    },
    outcome: backupOutcome,
    recorded: backupRecorded,
    others: (id) =>
      faulted === "parent" ? shards(id) : [backupJobStub(id), ...shards(id).filter((_, i) => i !== faulted)],
    finish: async (id) => {
      await runFannedOutToEnd(id, SHARDS);
    },
    crash: "everything",
    stubOf: (id) => (faulted === "parent" ? backupJobStub(id) : shards(id)[faulted]!),
  };
}

export function backupScenario(name: string, type: "full" | "incremental", keep: () => string[]): Scenario {
  return {
    name,
    reset: () => forgetBackupsExcept(keep()),
    start: () => createBackup(type),
    outcome: backupOutcome,
    recorded: backupRecorded,
  };
}

/**
 * A full backup that found the content of its earlier steps new to the store, so that it writes
 * small content before asking (engine/backup/write-first.ts): the seed is one step, which would
 * otherwise ask. A replay's write is refused and followed by the check that asking makes.
 */
export function writeFirstBackupScenario(): Scenario {
  return {
    ...backupScenario("full backup writing first", "full", () => []),
    async start() {
      const started = await createBackup("full");
      await writeFirstFromNow(started.stub);
      return started;
    },
  };
}

/** A parent backup, then a change of about a third of the objects for an incremental to capture. */
export async function parentThenChanges(objects: readonly SeedObject[]): Promise<string> {
  const parent = await completedBackup("full");
  await env.R2_BUCKET.delete(objects[1]!.key);
  await putObjects([
    { key: objects[2]!.key, body: "modified content", contentType: "text/plain" },
    { key: "new/added-1.txt", body: "added one" },
    { key: "new/added-2.csv", body: "a,b\n1,2\n", contentType: "text/csv" },
  ]);
  return parent.id;
}

export function verifyScenario(backupId: () => string): Scenario {
  return {
    name: "full verify",
    reset: async () => undefined,
    async start() {
      const started = await api("POST", `/api/backup/verify/${backupId()}`, { body: { mode: "full" } });
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      return { stub: verifyJobStub(started.body.job.id), id: started.body.job.id };
    },
    async outcome(id) {
      const { job } = (await api("GET", `/api/backup/jobs/${id}`)).body;
      const backup = (await api("GET", `/api/backup/status/${backupId()}`)).body.backup;
      return {
        status: job.status,
        result: job.result,
        progress: job.progress,
        lastVerificationValid: backup.lastVerificationValid,
      };
    },
    recorded: jobRecorded,
  };
}

/**
 * A restore fanned out over 2 shards: the 7 seed objects are one leaf, so the shards split it
 * (4 objects and 3). `faulted`: the parent (while its shards run) or shard `n` (mid-range); the
 * others run beside it, as in a fanned-out backup.
 */
export function fannedOutRestoreScenario(name: string, faulted: "parent" | number, backupId: () => string): Scenario {
  const SHARDS = 2;
  const shards = (id: string) => Array.from({ length: SHARDS }, (_, i) => restoreJobStub(leafShardName(id, i)));
  return {
    ...restoreScenario(name, backupId),
    async start(run) {
      const jobId = `job-matrix-restore-${run}-${Math.random().toString(36).slice(2, 8)}`;
      const started = await coordinatorStub().startRestore({
        jobId,
        backupId: backupId(),
        bucketName: "cutty-files",
        requestedBy: "fault-matrix",
        options: {
          overwriteExisting: false,
          verifyAfterRestore: true,
          dryRun: false,
          targetPrefix: restoredPrefix(run),
          filter: { pathPrefix: "", extensions: [], modifiedFrom: null, modifiedTo: null },
        },
        maxShards: SHARDS,
        minObjectsPerShard: 3,
      });
      if (!started.ok) throw new Error(`not started: ${JSON.stringify(started)}`);
      if (faulted === "parent") return { stub: restoreJobStub(jobId), id: jobId };
      await runDurableObjectAlarm(restoreJobStub(jobId)); // starts the shards
      return { stub: shards(jobId)[faulted]!, id: jobId };
    },
    others: (id) =>
      faulted === "parent" ? shards(id) : [restoreJobStub(id), ...shards(id).filter((_, i) => i !== faulted)],
    finish: async (id) => {
      await runLeafFannedOutToEnd(restoreJobStub, id, SHARDS);
    },
    crash: "everything",
    stubOf: (id) => (faulted === "parent" ? restoreJobStub(id) : shards(id)[faulted]!),
  };
}

/** Where a run of a restore scenario writes (each run its own prefix of the source bucket). */
const restoredPrefix = (run: number) => `restored-${run}/`;

export function restoreScenario(name: string, backupId: () => string): Scenario {
  const prefix = restoredPrefix;
  return {
    name,
    reset: async () => expect(await coordinatorStub().currentLease()).toBeNull(),
    async start(run) {
      const started = await api("POST", `/api/backup/restore/${backupId()}`, {
        body: { targetPrefix: prefix(run), verifyAfterRestore: true },
      });
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      return { stub: restoreJobStub(started.body.job.id), id: started.body.job.id };
    },
    async outcome(id, run) {
      const { job } = (await api("GET", `/api/backup/jobs/${id}`)).body;
      const restored = [];
      for (const object of await listAll(env.R2_BUCKET, prefix(run))) {
        const body = await (await env.R2_BUCKET.get(object.key))!.arrayBuffer();
        restored.push({
          key: object.key.slice(prefix(run).length),
          size: object.size,
          sha256: await sha256Hex(body),
          contentType: object.httpMetadata?.contentType ?? null,
          custom: object.customMetadata,
        });
      }
      const lease = await coordinatorStub().currentLease();
      return { status: job.status, result: job.result, restored, leaseReleased: lease === null };
    },
    recorded: jobRecorded,
  };
}

/** One line for the CI log: the size of the matrix and what it found. */
export function summarise(
  settings: string,
  name: string,
  report: { calls: number; points: number; reports: { result: string }[]; callKinds: string[] },
): void {
  const identical = report.reports.filter((r) => r.result === "identical").length;
  const failed = report.reports.length - identical;
  console.log(
    `fault matrix [${settings}] ${name}: ${report.calls} calls (${report.callKinds.length} kinds), ${report.points} fault points x 2 modes = ${report.reports.length} runs (${MATRIX_POINTS}): ${identical} identical to the clean run, ${failed} failed cleanly`,
  );
}

/** A history of three backups with changes in between, rebuilt before every run of a cleanup. */
async function cleanupHistory(): Promise<void> {
  await freshSource(seedObjects());
  await completedBackup("full");
  await putObjects([
    { key: "changed/a.txt", body: "first version" },
    { key: "gone.txt", body: "deleted next" },
  ]);
  await completedBackup("incremental");
  await env.R2_BUCKET.delete("gone.txt");
  await putObjects([{ key: "changed/a.txt", body: "second version" }]);
  await completedBackup("incremental");
}

export function cleanupScenario(): Scenario {
  // The history is built once and put back before every run (a saved copy of the store and its
  // D1 rows): building it again is three backups a run, hundreds of runs.
  let history: StoreSnapshot | null = null;
  let chunksBefore = 0;
  return {
    name: "cleanup",
    async reset() {
      if (!history) {
        await cleanupHistory();
        history = await StoreSnapshot.take();
      } else await history.restore();
      expect(await coordinatorStub().currentLease()).toBeNull();
      chunksBefore = (await listAll(env.R2_BACKUP_BUCKET, "chunks/")).length;
    },
    async start() {
      const started = await api("POST", "/api/backup/cleanup", { body: { retentionDays: 0, keep: { last: 1 } } });
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      return { stub: env.CLEANUP_JOB.getByName(started.body.job.id), id: started.body.job.id };
    },
    async outcome(id) {
      const { job } = (await api("GET", `/api/backup/jobs/${id}`)).body;
      const { backupIdsExpired, bytesFreed, chunkBytesFreed, chunksDeleted, storeBytes, storeObjects, ...figures } =
        job.result;
      figures.blobBytesFreed = bytesFreed - chunkBytesFreed;
      // Likewise the store's size: the cleanup's measurement must be what the bucket holds after it.
      const everything = await listAll(env.R2_BACKUP_BUCKET);
      figures.storeMeasuredExactly =
        storeObjects === everything.length && storeBytes === everything.reduce((sum, o) => sum + o.size, 0);
      const chunksLeft = (await listAll(env.R2_BACKUP_BUCKET, "chunks/")).map((o) => o.key);
      const kept = (
        await env.DB.prepare("SELECT id FROM r2_backups WHERE status = 'completed'").all<{ id: string }>()
      ).results.map((r) => r.id);
      const needed = await chunkKeysOf(env.R2_BACKUP_BUCKET, kept, await readKeyring(env));
      figures.chunksDeletedAsCounted = chunksDeleted === chunksBefore - chunksLeft.length;
      figures.chunksLeftAreTheKeptOnes =
        chunksLeft.length === needed.size && chunksLeft.every((key) => needed.has(key));
      const statuses = (await env.DB.prepare("SELECT status FROM r2_backups ORDER BY backup_date").all()).results;
      // Manifests compare by name within the backup.
      const stored = (await listAll(env.R2_BACKUP_BUCKET, "blobs/"))
        .concat(await listAll(env.R2_BACKUP_BUCKET, "manifests/"))
        .map((o) => (o.key.startsWith("manifests/") ? o.key.split("/").slice(2).join("/") : o.key))
        .sort();
      const lease = await coordinatorStub().currentLease();
      return {
        status: job.status,
        figures,
        expired: backupIdsExpired.length,
        statuses,
        stored,
        leaseReleased: lease === null,
      };
    },
    recorded: jobRecorded,
  };
}
