#!/usr/bin/env node
// `npm run drill [-- --files 500 --large-mib 3] [--retention]`: the disaster-recovery procedure end to end, on a throw-away local stack:
// seed, back up, find the latest completed backup, verify it, empty the source bucket, restore
// with overwriteExisting and verifyAfterRestore, and compare every object byte for byte, with
// its metadata, against the bucket as it was. Exits non-zero if anything differs.
//
// `--retention` first takes a full and two incremental backups with 3% changes in between, then
// runs a cleanup with `{"retentionDays": 0, "keep": {"last": 1}}` and checks that all but the
// newest expired and that exactly the space only they used was freed; the drill then goes on with
// the newest backup.
//
// `--replica` runs with R2_REPLICA_BUCKET bound (wrangler.toml's commented block, in a config of
// its own for the drill): after the backup's replication completes, it deletes some of the
// backup's blobs from the backup bucket and damages one, and the restore must still bring every
// object back byte for byte, reading those from the replica.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scriptArgs } from "./script-args.mjs";
import {
  adminToken,
  apiClient,
  emptySource,
  openLocalBucket,
  seedState,
  sourceDigest,
  startServer,
  stopServer,
} from "./local-stack.mjs";

const USAGE = `Usage: npm run drill -- [options]
A disaster-recovery drill on a throw-away local server: seed, back up, verify, empty the bucket,
restore, compare every object.

  --files N       objects to seed (default 500)
  --large-mib N   the size of the large object in MiB (default 3)
  --port N        the server's port (default 8792)
  --retention     also run a cleanup and check what it keeps
  --replica       with a replica bucket bound, restore from it`;

const values = scriptArgs({
  usage: USAGE,
  options: {
    files: { type: "string", default: "500" },
    "large-mib": { type: "string", default: "3" },
    port: { type: "string", default: "8792" },
    retention: { type: "boolean", default: false },
    replica: { type: "boolean", default: false },
  },
});
const REPLICA_CONFIG = ".wrangler-replica.toml";
const serverArgs = ["--var", "BACKUP_GC_GRACE_HOURS:0", ...(values.replica ? ["--config", REPLICA_CONFIG] : [])];
if (values.replica) writeFileSync(REPLICA_CONFIG, withReplicaBound(readFileSync("wrangler.toml", "utf8")));
const state = mkdtempSync(join(tmpdir(), "r2-backup-drill-"));
const port = Number(values.port);
const api = apiClient(port, await adminToken());
let server;
let failed = false;
try {
  seedState(state, ["--files", values.files, "--large", "1", "--large-mib", values["large-mib"]]);
  let before = await sourceDigest(state);

  server = await startServer(port, state, serverArgs);
  await api.backup("full");
  if (values.retention) {
    for (const round of [1, 2]) {
      await stopServer(server);
      seedState(state, ["--mutate", "3", "--seed", String(round + 1)]);
      before = await sourceDigest(state); // the bucket as the newest backup sees it
      server = await startServer(port, state, serverArgs);
      await api.backup("incremental");
    }
    failed = !(await cleanupKeepsOnlyTheNewest()) || failed;
  }
  const { backups } = await api.call("GET", "/backup/list?status=completed&limit=1");
  const latest = backups[0];
  console.log(`latest completed backup: ${latest.id} (${latest.snapshotFileCount} files)`);
  const verified = await api.job(`/backup/verify/${latest.id}`);
  console.log(`verify: valid=${verified.result.valid}, ${verified.result.filesChecked} files checked`);
  const damaged = values.replica ? await replicatedThenDamaged(latest.id) : 0;
  await stopServer(server);
  if (values.replica) await damagePrimary(damaged);

  await emptySource(state);
  console.log(`emptied the source bucket: ${(await sourceDigest(state)).size} objects left`);

  server = await startServer(port, state, serverArgs);
  const restored = await api.job(`/backup/restore/${latest.id}`, { overwriteExisting: true, verifyAfterRestore: true });
  const seconds = (Date.parse(restored.completedAt) - Date.parse(restored.startedAt)) / 1000;
  console.log(
    `restore: ${JSON.stringify({ ...restored.result, failures: restored.result.failures.length })} in ${seconds.toFixed(2)} s = ${(restored.result.filesRestored / seconds).toFixed(0)} objects/s, ${(restored.result.bytesRestored / 1e6 / seconds).toFixed(1)} MB/s`,
  );
  await stopServer(server);
  server = undefined;

  const after = await sourceDigest(state);
  const differing = [...before.keys()].filter((key) => after.get(key) !== before.get(key));
  const extra = [...after.keys()].filter((key) => !before.has(key));
  console.log(`compared ${before.size} objects: ${differing.length} differ, ${extra.length} unexpected`);
  if (values.replica) {
    console.log(
      `replica: ${restored.result.filesFromReplica} object(s) restored from the replica (${damaged} blobs were taken from the backup bucket)`,
    );
    failed = failed || restored.result.filesFromReplica < damaged || restored.result.filesFailed > 0;
  }
  failed =
    failed || differing.length > 0 || extra.length > 0 || !verified.result.valid || restored.result.verifyFailures > 0;
  console.log(failed ? "DRILL FAILED" : "DRILL PASSED: every object is back byte for byte with its metadata");
} finally {
  if (server) await stopServer(server);
  rmSync(state, { recursive: true, force: true });
  if (values.replica) rmSync(REPLICA_CONFIG, { force: true });
}
process.exit(failed ? 1 : 0);

/** Every object in the backup bucket, key → size (the server must be stopped). */
async function storedObjects() {
  const local = openLocalBucket(state, "cutty-backups");
  const bucket = await local.bucket;
  const sizes = new Map();
  let cursor;
  do {
    const page = await bucket.list({ cursor, limit: 1000 });
    for (const o of page.objects) sizes.set(o.key, o.size);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  await local.mf.dispose();
  return sizes;
}

function sum(values) {
  return [...values].reduce((a, b) => a + b, 0);
}

/**
 * Cleanup keeping only the newest: every other backup expires, the backup bucket shrinks by
 * exactly the bytes reported plus the expired manifests' indexes, and the blobs left are exactly
 * the ones the newest snapshot names (its verification and restore follow in the drill).
 */
async function cleanupKeepsOnlyTheNewest() {
  const all = (await api.call("GET", "/backup/list?limit=100")).backups;
  const newest = all[0];
  const needed = new Set();
  let cursor = "";
  do {
    const page = await api.call("GET", `/backup/files/${newest.id}?limit=1000${cursor}`);
    for (const f of page.files) needed.add(`blobs/${f.checksum}`);
    cursor = page.nextCursor ? `&cursor=${page.nextCursor}` : "";
  } while (cursor);
  await stopServer(server);
  const before = await storedObjects();
  server = await startServer(port, state, serverArgs);
  const job = await api.job("/backup/cleanup", { retentionDays: 0, keep: { last: 1 } });
  const left = (await api.call("GET", "/backup/list?limit=100")).backups;
  await stopServer(server);
  const after = await storedObjects();
  server = await startServer(port, state, serverArgs);
  const { result } = job;
  const expiredIndexes = sum(
    [...before]
      .filter(([key]) => key.startsWith("manifests/") && !key.startsWith(`manifests/${newest.id}/`))
      .map(([, size]) => size),
  );
  const blobsLeft = [...after.keys()].filter((key) => key.startsWith("blobs/"));
  console.log(
    `cleanup: ${job.status}, ${result.backupsExpired} of ${all.length} backups expired; ${result.blobsDeleted} blobs and ${result.chunksDeleted} manifest chunks deleted, ` +
      `${result.bytesFreed} bytes freed; the backup bucket went from ${sum(before.values())} to ${sum(after.values())} bytes; ` +
      `${blobsLeft.length} blobs left, the newest snapshot names ${needed.size}`,
  );
  const ok =
    job.status === "completed" &&
    left.length === 1 &&
    left[0].id === newest.id &&
    result.backupsExpired === all.length - 1 &&
    sum(before.values()) - sum(after.values()) === result.bytesFreed + expiredIndexes &&
    blobsLeft.length === needed.size &&
    blobsLeft.every((key) => needed.has(key));
  if (!ok) console.log("CLEANUP CHECK FAILED");
  return ok;
}

/** wrangler.toml with its commented R2_REPLICA_BUCKET block bound. */
function withReplicaBound(config) {
  const block = /^# \[\[r2_buckets\]\]\n# binding = "R2_REPLICA_BUCKET".*\n# bucket_name = .*$/m;
  if (!block.test(config)) throw new Error("wrangler.toml has no commented R2_REPLICA_BUCKET block to bind");
  return config.replace(block, (text) => text.replaceAll(/^# /gm, ""));
}

/** Waits for the backup's replication to end; returns how many blobs to take from the backup bucket. */
async function replicatedThenDamaged(backupId) {
  let backup;
  do {
    await new Promise((resolve) => setTimeout(resolve, 250));
    backup = (await api.call("GET", `/backup/status/${backupId}`)).backup;
  } while (backup.replicaStatus === "pending");
  console.log(`replica: ${backup.replicaStatus} at ${backup.replicaCompletedAt}`);
  if (backup.replicaStatus !== "complete")
    throw new Error(`the replication of ${backupId} ended ${backup.replicaStatus}`);
  return 4;
}

/** Deletes `count - 1` blobs from the backup bucket and overwrites one more (the server must be stopped). */
async function damagePrimary(count) {
  const local = openLocalBucket(state, "cutty-backups");
  try {
    const bucket = await local.bucket;
    const blobs = (await bucket.list({ prefix: "blobs/", limit: count })).objects.map((o) => o.key);
    await bucket.delete(blobs.slice(1));
    await bucket.put(blobs[0], "not the bytes this blob is named after");
    console.log(`damaged the backup bucket: deleted ${blobs.length - 1} blobs, overwrote ${blobs[0]}`);
  } finally {
    await local.mf.dispose();
  }
}
