#!/usr/bin/env node
// `npm run drill [-- --files 500 --large-mib 3]`: the disaster-recovery procedure end to end, on a throw-away local stack:
// seed, back up, find the latest completed backup, verify it, empty the source bucket, restore
// with overwriteExisting and verifyAfterRestore, and compare every object byte for byte, with
// its metadata, against the bucket as it was. Exits non-zero if anything differs.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { adminToken, apiClient, bucketDigest, openLocalBucket, runNode, startServer, stopServer } from "./local-stack.mjs";

const { values } = parseArgs({
  options: { files: { type: "string", default: "500" }, "large-mib": { type: "string", default: "3" }, port: { type: "string", default: "8792" } },
});
const state = mkdtempSync(join(tmpdir(), "r2-backup-drill-"));
const port = Number(values.port);
const api = apiClient(port, await adminToken());
let server;
let failed = false;
try {
  runNode(["scripts/seed.mjs", "--files", values.files, "--large", "1", "--large-mib", values["large-mib"], "--persist", join(state, "v3")]);
  let local = openLocalBucket(state);
  const before = await bucketDigest(await local.bucket);
  await local.mf.dispose();

  server = await startServer(port, state);
  await api.backup("full");
  const { backups } = await api.call("GET", "/backup/list?status=completed&limit=1");
  const latest = backups[0];
  console.log(`latest completed backup: ${latest.id} (${latest.snapshotFileCount} files)`);
  const verified = await api.job(`/backup/verify/${latest.id}`);
  console.log(`verify: valid=${verified.result.valid}, ${verified.result.filesChecked} files checked`);
  await stopServer(server);

  local = openLocalBucket(state);
  const bucket = await local.bucket;
  for (const key of before.keys()) await bucket.delete(key);
  console.log(`emptied the source bucket: ${(await bucketDigest(bucket)).size} objects left`);
  await local.mf.dispose();

  server = await startServer(port, state);
  const restored = await api.job(`/backup/restore/${latest.id}`, { overwriteExisting: true, verifyAfterRestore: true });
  const seconds = (Date.parse(restored.completedAt) - Date.parse(restored.startedAt)) / 1000;
  console.log(
    `restore: ${JSON.stringify({ ...restored.result, failures: restored.result.failures.length })} in ${seconds.toFixed(2)} s = ${(restored.result.filesRestored / seconds).toFixed(0)} objects/s, ${(restored.result.bytesRestored / 1e6 / seconds).toFixed(1)} MB/s`,
  );
  await stopServer(server);
  server = undefined;

  local = openLocalBucket(state);
  const after = await bucketDigest(await local.bucket);
  await local.mf.dispose();
  const differing = [...before.keys()].filter((key) => after.get(key) !== before.get(key));
  const extra = [...after.keys()].filter((key) => !before.has(key));
  console.log(`compared ${before.size} objects: ${differing.length} differ, ${extra.length} unexpected`);
  failed = differing.length > 0 || extra.length > 0 || !verified.result.valid || restored.result.verifyFailures > 0;
  console.log(failed ? "DRILL FAILED" : "DRILL PASSED: every object is back byte for byte with its metadata");
} finally {
  if (server) await stopServer(server);
  rmSync(state, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
