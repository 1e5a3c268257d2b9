#!/usr/bin/env node
// `npm run bench [-- --files 2000 --large 3]`: measures the engine on the local stack and prints
// figures (not a test: shared machines are noisy, so compare the ratios of one run).
//
// It uses its own throw-away state folder (your .wrangler/state is untouched) and port:
//   1. seeds the source bucket, 2. full backup into an empty store, 3. full backup again (every
//   object re-read and re-hashed, nothing uploaded), 4. changes 3% of the objects, 5. incremental
//   backup, 6. restore of everything into an emptied bucket, 7. a plain get→put copy loop between
//   two local buckets through Miniflare's Node API, for reference; 8. on a second state, a full
//   backup of objects above the multipart threshold while 200 status reads are timed (p50/p99);
//   9. on a third state, manifest sharing over 30 daily incrementals of 50,000 objects and the
//   cleanup's time per 1,000 objects (bench-manifest.mjs).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Miniflare } from "miniflare";
import { manifestSharing } from "./bench-manifest.mjs";
import { adminToken, apiClient, openLocalBucket, percentile, runNode, startServer, stopServer } from "./local-stack.mjs";

const { values } = parseArgs({
  options: {
    files: { type: "string", default: "2000" },
    large: { type: "string", default: "3" },
    port: { type: "string", default: "8791" },
    // The status-latency run: this many objects of this size (above the 64 MiB threshold).
    "latency-large": { type: "string", default: "3" },
    "latency-mib": { type: "string", default: "100" },
    "status-reads": { type: "string", default: "200" },
    // The manifest-sharing run: this many small objects, and this many daily incrementals.
    "manifest-files": { type: "string", default: "50000" },
    days: { type: "string", default: "30" },
    // `--only status` or `--only manifest`: just that run.
    only: { type: "string", default: "" },
  },
});
const state = mkdtempSync(join(tmpdir(), "r2-backup-bench-"));
const port = Number(values.port);
const api = apiClient(port, await adminToken());
const results = [];

const seconds = (from, to) => (Date.parse(to) - Date.parse(from)) / 1000;
function recordBackup(name, b) {
  results.push({
    name,
    status: b.status,
    seconds: seconds(b.startedAt, b.completedAt),
    objects: b.snapshotFileCount,
    mb: b.snapshotSize / 1e6,
    note: `${b.fileCount} read, ${(b.bytesUploaded / 1e6).toFixed(1)} MB uploaded`,
  });
}

let server;
try {
  if (values.only === "") await throughput();
  if (values.only === "" || values.only === "status") await statusLatency();
  if (values.only === "" || values.only === "manifest")
    await manifestSharing({ port, api, files: Number(values["manifest-files"]), days: Number(values.days), log: (line) => console.log(line) });
} finally {
  if (server) await stopServer(server);
  rmSync(state, { recursive: true, force: true });
}

/** Steps 1–7: throughput of every run, and the reference copy loop. */
async function throughput() {
  runNode(["scripts/seed.mjs", "--files", values.files, "--large", values.large, "--persist", join(state, "v3")]);
  server = await startServer(port, state);
  recordBackup("full backup, empty store", await api.backup("full"));
  recordBackup("full backup, unchanged (dedup)", await api.backup("full"));
  await stopServer(server);
  runNode(["scripts/seed.mjs", "--mutate", "3", "--persist", join(state, "v3")]);
  server = await startServer(port, state);
  const incremental = await api.backup("incremental");
  recordBackup("incremental after 3% change", incremental);
  await stopServer(server);

  const local = openLocalBucket(state);
  const bucket = await local.bucket;
  let cursor;
  do {
    const page = await bucket.list({ cursor, limit: 1000 });
    if (page.objects.length) await bucket.delete(page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  await local.mf.dispose();
  server = await startServer(port, state, ["--var", "BACKUP_GC_GRACE_HOURS:0"]);
  const restored = await api.job(`/backup/restore/${incremental.id}`, { overwriteExisting: true });
  results.push({
    name: "restore into an empty bucket",
    status: restored.status,
    seconds: seconds(restored.startedAt, restored.completedAt),
    objects: restored.result.filesRestored,
    mb: restored.result.bytesRestored / 1e6,
    note: "",
  });
  // Retention: everything but the incremental expires (the two full backups), and the blobs only
  // they named are deleted (grace 0 on this server); time per 1,000 objects of the kept snapshot.
  const cleaned = await api.job("/backup/cleanup", { retentionDays: 0, keep: { last: 1 } });
  const cleanupSeconds = seconds(cleaned.startedAt, cleaned.completedAt);
  results.push({
    name: "cleanup, keep the newest",
    status: cleaned.status,
    seconds: cleanupSeconds,
    objects: incremental.snapshotFileCount,
    mb: cleaned.result.bytesFreed / 1e6,
    note: `${cleaned.result.backupsExpired} expired, ${cleaned.result.blobsDeleted} of ${cleaned.result.blobsScanned} blobs deleted; ${((cleanupSeconds / incremental.snapshotFileCount) * 1000).toFixed(2)} s per 1,000 objects (MB/s column: MB freed / s)`,
  });
  await stopServer(server);
  server = undefined;

  const mf = new Miniflare({
    modules: true,
    script: "export default {}",
    r2Buckets: { SRC: "cutty-files", DST: "bench-copy" },
    defaultPersistRoot: join(state, "v3"),
  });
  const [src, dst] = [await mf.getR2Bucket("SRC"), await mf.getR2Bucket("DST")];
  const started = Date.now();
  let count = 0;
  let bytes = 0;
  cursor = undefined;
  do {
    const page = await src.list({ cursor, limit: 1000 });
    for (let i = 0; i < page.objects.length; i += 8) {
      await Promise.all(
        page.objects.slice(i, i + 8).map(async (o) => {
          const body = new Uint8Array(await (await src.get(o.key)).arrayBuffer());
          await dst.put(o.key, body);
          count += 1;
          bytes += body.length;
        }),
      );
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  await mf.dispose();
  results.push({
    name: "reference: get→put copy through Miniflare's Node API",
    status: "-",
    seconds: (Date.now() - started) / 1000,
    objects: count,
    mb: bytes / 1e6,
    note: "crosses Node↔workerd for every byte",
  });

  console.log("\n| run | status | seconds | objects/s | MB/s | notes |\n| --- | --- | ---: | ---: | ---: | --- |");
  for (const r of results)
    console.log(`| ${r.name} | ${r.status} | ${r.seconds.toFixed(2)} | ${(r.objects / r.seconds).toFixed(0)} | ${(r.mb / r.seconds).toFixed(1)} | ${r.note} |`);
  const [full, dedup, inc] = results;
  console.log(`\nincremental / full time: ${(inc.seconds / full.seconds).toFixed(3)}; dedup full / full: ${(dedup.seconds / full.seconds).toFixed(3)}`);
}

/**
 * Status reads while a backup of large objects runs: every read must answer from D1 at once,
 * however busy the job is (target: p99 under 250 ms on the local server).
 */
async function statusLatency() {
  const latencyState = mkdtempSync(join(tmpdir(), "r2-backup-bench-latency-"));
  let latencyServer;
  try {
    const large = values["latency-large"];
    runNode([
      "scripts/seed.mjs",
      "--files",
      String(Number(large) + 20),
      "--large",
      large,
      "--large-mib",
      values["latency-mib"],
      "--persist",
      join(latencyState, "v3"),
    ]);
    latencyServer = await startServer(port, latencyState);
    const created = await api.call("POST", "/backup/create", { type: "full" });
    const { latencies, duringRun } = await api.timedStatusReads(created.backup.id, Number(values["status-reads"]));
    const backup = await api.waitForBackup(created.backup.id);
    const fmt = (ms) => `${ms.toFixed(1)} ms`;
    console.log(
      `\nstatus latency during a full backup of ${large} × ${values["latency-mib"]} MiB (${backup.status}, ${seconds(backup.startedAt, backup.completedAt).toFixed(1)} s): ` +
        `${latencies.length} reads (${duringRun} while it ran): p50 ${fmt(percentile(latencies, 50))}, p99 ${fmt(percentile(latencies, 99))}, max ${fmt(Math.max(...latencies))}`,
    );
  } finally {
    if (latencyServer) await stopServer(latencyServer);
    rmSync(latencyState, { recursive: true, force: true });
  }
}
