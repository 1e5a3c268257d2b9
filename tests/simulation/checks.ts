/**
 * What must hold after every cleanup and at the end of every simulated history: every finished
 * backup matches the model when it finishes; every kept backup verifies and restores byte for byte
 * with its metadata; expired backups are gone from the API, D1 and both buckets; the store holds
 * what kept snapshots need and nothing else beyond the collection ledger's stated margin; nothing
 * is left running.
 */
import { env } from "cloudflare:test";
import { expect } from "vitest";
import { api } from "../helpers/api";
import { listAll } from "../helpers/buckets";
import { chunkKeysOf, snapshotEntries } from "../helpers/manifest";
import { COORDINATED, runningJobs } from "./jobs";
import { bucketOfName, bytesOf, sha256Of, type BucketState, type Model, type SimObject } from "./model";
import {
  backupRow,
  failedKeys,
  listing,
  restoreToScratch,
  scratchObjects,
  targetKeysOf,
  verifyInOneObject,
} from "./world";

/** What a run did, for the closing summary. */
export const tally = {
  runs: 0,
  operations: 0,
  faults: 0,
  cleanups: 0,
  backups: 0,
  /** Backups that fanned out over shards (the simulation's full backups of 24 objects or more). */
  fannedOut: 0,
  /** Restores, verifications and replications that fanned out over runs of their snapshot's leaves. */
  fannedOutJobs: { restore: 0, verify: 0, replicate: 0 } as Record<string, number>,
  restoresCompared: 0,
  bytesCompared: 0,
  verifications: 0,
  interleavings: 0,
};

const keptRows = async () =>
  (
    await env.DB.prepare(
      "SELECT id, bucket_name AS bucket FROM r2_backups WHERE status IN ('completed', 'partial') ORDER BY id",
    ).all<{
      id: string;
      bucket: string;
    }>()
  ).results;

/** Counts the jobs of this history that fanned out (their D1 rows list shards), by kind. */
export async function countFannedOutJobs(): Promise<void> {
  const rows = await env.DB.prepare(
    "SELECT kind, count(*) AS n FROM backup_jobs WHERE shards IS NOT NULL GROUP BY kind",
  ).all<{ kind: string; n: number }>();
  for (const { kind, n } of rows.results) tally.fannedOutJobs[kind] = (tally.fannedOutJobs[kind] ?? 0) + n;
}

/** Records every backup that finished since the last call, after checking its listing against the model. */
export async function recordFinishedBackups(model: Model): Promise<void> {
  const rows = await env.DB.prepare(
    "SELECT id, status, bucket_name AS bucket, parent_id AS parentId, error, shards IS NOT NULL AS fanned FROM r2_backups WHERE status IN ('completed', 'partial', 'failed', 'cancelled') ORDER BY id",
  ).all<{
    id: string;
    status: string;
    bucket: string;
    parentId: string | null;
    error: string | null;
    fanned: number;
  }>();
  for (const row of rows.results) {
    if (model.seen.has(row.id)) continue;
    model.seen.add(row.id);
    tally.backups += 1;
    if (row.fanned) tally.fannedOut += 1;
    if (row.status === "failed" || row.status === "cancelled") {
      expect(row.error?.trim(), `backup ${row.id} ended ${row.status} and says why`).toBeTruthy();
      continue;
    }
    const bucket = bucketOfName(row.bucket);
    const targets = await targetKeysOf(row.id);
    let expected: BucketState;
    if (targets) {
      const parent = model.snapshots.get(row.parentId ?? "");
      expect(parent, `the parent ${row.parentId} of targeted backup ${row.id} is a known snapshot`).toBeDefined();
      expected = new Map(parent!.state);
      for (const key of targets) {
        const now = model.buckets[bucket].get(key);
        if (now) expected.set(key, now);
        else expected.delete(key);
      }
    } else expected = model.copyOf(bucket);
    if (row.status === "partial") for (const key of await failedKeys(row.id)) expected.delete(key);
    await settleMidBackupVersions(model, row.id, expected);
    await expectListing(row.id, expected);
    model.snapshots.set(row.id, { bucket, state: expected });
  }
  if ((await runningJobs()).length === 0) model.midBackupVersions.clear();
}

/** A key rewritten while the backup ran holds one of the versions it had meanwhile: the one read. */
async function settleMidBackupVersions(model: Model, id: string, expected: BucketState): Promise<void> {
  if (model.midBackupVersions.size === 0) return;
  const actual = new Map((await listing(id)).map((f) => [f.path, f.checksum]));
  for (const [key, versions] of model.midBackupVersions) {
    if (!expected.has(key) && !actual.has(key)) continue;
    for (const version of versions)
      if ((await sha256Of(bytesOf(version))) === actual.get(key)) expected.set(key, version);
  }
}

async function expectListing(id: string, expected: BucketState): Promise<void> {
  const files = await listing(id);
  expect(
    files.map((f) => f.path),
    `backup ${id} holds exactly the keys of its point in time`,
  ).toEqual([...expected.keys()].sort(compareUtf8));
  for (const file of files) {
    const object = expected.get(file.path)!;
    const bytes = bytesOf(object);
    expect(
      { size: file.size, checksum: file.checksum, contentType: file.contentType },
      `backup ${id}: ${file.path}`,
    ).toEqual({
      size: bytes.length,
      checksum: await sha256Of(bytes),
      contentType: object.contentType,
    });
  }
}

/** R2's (and the manifest's) key order: UTF-8 bytes. */
const compareUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * Every kept backup verifies in full mode (in one job object: verifyInOneObject); `restore` decides which are restored and compared byte
 * for byte, metadata included (all of them at the end of a history).
 */
export async function checkKept(model: Model, restore: (id: string, index: number) => boolean): Promise<void> {
  for (const [index, { id }] of (await keptRows()).entries()) {
    const snapshot = model.snapshots.get(id);
    expect(snapshot, `kept backup ${id} is one the simulation saw finish`).toBeDefined();
    const verified = await verifyInOneObject(id);
    tally.verifications += 1;
    expect(verified.result, `kept backup ${id} verifies`).toMatchObject({
      valid: true,
      filesChecked: snapshot!.state.size,
    });
    if (restore(id, index)) await compareRestore(model, id, snapshot!.state);
  }
}

export async function compareRestore(model: Model, id: string, state: BucketState, pathPrefix = ""): Promise<void> {
  const prefix = `r${++model.restores}/`;
  const job = await restoreToScratch(id, prefix, pathPrefix);
  const expected = [...state].filter(([key]) => key.startsWith(pathPrefix));
  expect(job, `restore of ${id}`).toMatchObject({
    status: "completed",
    result: { filesRestored: expected.length, filesFailed: 0, verifyFailures: 0 },
  });
  const restored = new Map((await scratchObjects(prefix)).map((o) => [o.key, o]));
  expect([...restored.keys()].sort(compareUtf8), `restore of ${id} holds its keys`).toEqual(
    expected.map(([key]) => key).sort(compareUtf8),
  );
  for (const [key, object] of expected) {
    const got = restored.get(key)!;
    expectSame(id, key, object, got);
    tally.bytesCompared += got.body.length;
  }
  tally.restoresCompared += 1;
}

function expectSame(
  id: string,
  key: string,
  object: SimObject,
  got: { body: Uint8Array; contentType: string; custom: Record<string, string> },
): void {
  const bytes = bytesOf(object);
  const equal = bytes.length === got.body.length && bytes.every((b, i) => b === got.body[i]);
  expect(equal, `restore of ${id}: ${key} byte for byte`).toBe(true);
  expect({ contentType: got.contentType, custom: got.custom }, `restore of ${id}: ${key} metadata`).toEqual({
    contentType: object.contentType,
    custom: object.custom,
  });
}

/** Expired backups are gone: refused by the API, their rows and (once finished) their manifests deleted. */
export async function checkExpired(finished: boolean): Promise<void> {
  const rows = await env.DB.prepare(
    "SELECT id, manifest_key AS manifestKey FROM r2_backups WHERE status = 'expired'",
  ).all<{
    id: string;
    manifestKey: string | null;
  }>();
  for (const row of rows.results) {
    const files = await api("GET", `/api/backup/files/${row.id}`);
    expect(files.status, `expired ${row.id}: files refused`).toBeGreaterThanOrEqual(400);
    expect(files.status).toBeLessThan(500);
    if (finished) expect(row.manifestKey, `expired ${row.id}: its expiry finished`).toBeNull();
    if (row.manifestKey !== null) continue;
    const fileRows = await env.DB.prepare("SELECT count(*) AS n FROM backup_files WHERE backup_id = ?")
      .bind(row.id)
      .first<{ n: number }>();
    expect(fileRows!.n, `expired ${row.id}: file rows deleted`).toBe(0);
    for (const bucket of [env.R2_BACKUP_BUCKET, env.R2_REPLICA_BUCKET!]) {
      expect(
        (await bucket.list({ prefix: `manifests/${row.id}/` })).objects,
        `expired ${row.id}: manifest deleted`,
      ).toEqual([]);
    }
  }
}

/**
 * The store holds every blob and chunk a kept snapshot names, and nothing more than what the
 * collection ledger keeps for backups that ran since the last collection registered (its margin:
 * the references still in `gc_refs`). The replica never holds more, and holds all of a backup
 * whose replica is complete.
 */
export async function checkStore(): Promise<{ needed: number; margin: number }> {
  const needed = new Set<string>();
  const neededBy = new Map<string, Set<string>>();
  for (const { id } of await keptRows()) {
    const own = new Set([
      ...(await chunkKeysOf(env.R2_BACKUP_BUCKET, [id], null)),
      ...(await snapshotEntries(env.R2_BACKUP_BUCKET, id)).map((e) => e.blob),
    ]);
    neededBy.set(id, own);
    for (const key of own) needed.add(key);
  }
  const margin = new Set(
    (await env.DB.prepare("SELECT DISTINCT key FROM gc_refs").all<{ key: string }>()).results.map((r) => r.key),
  );
  const stored = async (bucket: R2Bucket) =>
    new Set([...(await listAll(bucket, "blobs/")), ...(await listAll(bucket, "chunks/"))].map((o) => o.key));
  const primary = await stored(env.R2_BACKUP_BUCKET);
  expect(
    [...needed].filter((key) => !primary.has(key)),
    "nothing a kept snapshot names is missing from the store",
  ).toEqual([]);
  expect(
    [...primary].filter((key) => !needed.has(key) && !margin.has(key)),
    "the store holds nothing no kept snapshot needs, beyond the ledger's margin",
  ).toEqual([]);
  const replica = await stored(env.R2_REPLICA_BUCKET!);
  expect(
    [...replica].filter((key) => !needed.has(key) && !margin.has(key)),
    "the replica holds nothing more",
  ).toEqual([]);
  for (const [id, own] of neededBy) {
    if ((await backupRow(id)).replicaStatus !== "complete") continue;
    expect(
      [...own].filter((key) => !replica.has(key)),
      `the replica of ${id} is whole`,
    ).toEqual([]);
  }
  return { needed: needed.size, margin: margin.size };
}

/** Nothing runs, nothing holds a bucket. */
export async function checkQuiet(): Promise<void> {
  expect(await runningJobs(), "no job is left running").toEqual([]);
  for (const name of COORDINATED)
    expect(await env.BUCKET_COORDINATOR.getByName(name).currentLease(), `${name} is free`).toBeNull();
}
