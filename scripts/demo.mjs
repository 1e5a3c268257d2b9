#!/usr/bin/env node
// `npm run demo [-- --files 500 --port 8793 --exit]`: the disaster-recovery story in one command, on
// a throw-away local state: seed demo data, full backup, change 5% of it, incremental backup,
// verify, empty the source bucket, restore, compare every object byte for byte; then one file:
// delete it, find its versions, download it back and check it; and print a short report with
// timings. The server then keeps running for the dashboard (Ctrl-C ends it and
// removes the state) unless `--exit` is given.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scriptArgs } from "./script-args.mjs";
import {
  adminToken,
  apiClient,
  emptySource,
  seedState,
  sourceDigest,
  startServer,
  stopServer,
} from "./local-stack.mjs";
import { bytes } from "../workers/dashboard/js/format.js";

const USAGE = `Usage: npm run demo -- [options]
Runs the whole story on a throw-away local server: seed, backups, verify, restore, cleanup.

  --files N    objects to seed (default 500)
  --port N     the server's port (default 8793)
  --exit       stop the server at the end instead of leaving it running`;

const values = scriptArgs({
  usage: USAGE,
  options: {
    files: { type: "string", default: "500" },
    port: { type: "string", default: "8793" },
    exit: { type: "boolean", default: false },
  },
});
const port = Number(values.port);
const state = mkdtempSync(join(tmpdir(), "r2-backup-demo-"));
const token = await adminToken();
const api = apiClient(port, token);
const report = [];
let server;

const elapsed = (from, to) => (Date.parse(to) - Date.parse(from)) / 1000;

async function step(title, work) {
  process.stdout.write(`• ${title} … `);
  const started = performance.now();
  const detail = await work();
  const seconds = (performance.now() - started) / 1000;
  console.log(`${seconds.toFixed(1)} s`);
  report.push({ title, seconds, detail });
}

/** Runs `work` with the server stopped (seeding and inspecting the local state need it stopped). */
async function offline(work) {
  await stopServer(server);
  try {
    return await work();
  } finally {
    server = await startServer(port, state);
  }
}

async function removeState() {
  if (server) await stopServer(server);
  server = undefined;
  rmSync(state, { recursive: true, force: true });
}

let failed = false;
try {
  await step(`Seed ${values.files} demo objects and start the server on port ${port}`, async () => {
    seedState(state, ["--files", values.files, "--large", "1", "--large-mib", "8"]);
    server = await startServer(port, state);
    return "nested folders, text, images, PDFs, archives, one 8 MiB object, odd and unicode keys";
  });

  let full;
  await step("Full backup", async () => {
    full = await api.backup("full");
    const s = elapsed(full.startedAt, full.completedAt);
    return `${full.id}: ${full.status}, ${full.fileCount} objects, ${bytes(full.totalSize)} in ${s.toFixed(1)} s (${(full.fileCount / s).toFixed(0)} objects/s)`;
  });

  let incremental;
  await step("Change 5% of the bucket (modify, add, delete), then an incremental backup", async () => {
    await offline(() => seedState(state, ["--mutate", "5", "--seed", "2"]));
    incremental = await api.backup("incremental");
    const s = elapsed(incremental.startedAt, incremental.completedAt);
    return `${incremental.id}: ${incremental.status}, ${incremental.fileCount} new or changed, ${incremental.deletedCount} deleted, ${bytes(incremental.bytesUploaded)} uploaded in ${s.toFixed(1)} s (the full one: ${elapsed(full.startedAt, full.completedAt).toFixed(1)} s)`;
  });

  await step("Verify the incremental backup (every blob read and hashed)", async () => {
    const job = await api.job(`/backup/verify/${incremental.id}`, { mode: "full" });
    failed ||= !job.result.valid;
    return `valid: ${job.result.valid}, ${job.result.filesChecked} objects checked, ${job.result.filesMissing} missing, ${job.result.checksumMismatches} mismatched`;
  });

  let before;
  await step("Disaster: empty the source bucket", async () => {
    await offline(async () => {
      before = await sourceDigest(state);
      await emptySource(state);
    });
    return `${before.size} objects deleted`;
  });

  await step("Restore the incremental backup (the bucket as it was), verifying each object", async () => {
    const job = await api.job(`/backup/restore/${incremental.id}`, { verifyAfterRestore: true });
    const s = elapsed(job.startedAt, job.completedAt);
    failed ||= job.status !== "completed" || job.result.filesFailed > 0 || job.result.verifyFailures > 0;
    return `${job.status}: ${job.result.filesRestored} objects, ${bytes(job.result.bytesRestored)} in ${s.toFixed(1)} s, ${job.result.verifyFailures} verify failures`;
  });

  await step("Compare every object with the bucket before the disaster", async () => {
    const after = await offline(() => sourceDigest(state));
    const differing = [...before.keys()].filter((key) => after.get(key) !== before.get(key)).length;
    const extra = [...after.keys()].filter((key) => !before.has(key)).length;
    failed ||= differing > 0 || extra > 0;
    return `${before.size} objects compared (content, size, HTTP and custom metadata): ${differing} differ, ${extra} unexpected`;
  });

  await step("One file: delete it, find its versions, download it back", async () => {
    // A key the 5% change modified: it has two versions, one in each backup.
    const { changes } = await api.call("GET", `/backup/diff?from=${full.id}&to=${incremental.id}&limit=1000`);
    const key = changes.find((c) => c.change === "modified").path;
    await api.call("POST", "/dev/source-writes", { writes: [{ key, delete: true }] });
    const { versions } = await api.call("GET", `/backup/history?key=${encodeURIComponent(key)}`);
    const [newest] = versions;
    const response = await fetch(
      `http://127.0.0.1:${port}/api/backup/object/${newest.lastBackupId}?key=${encodeURIComponent(key)}`,
      { headers: { authorization: `Bearer ${token}` } },
    );
    const content = new Uint8Array(await response.arrayBuffer());
    const sha256 = createHash("sha256").update(content).digest("hex");
    failed ||= response.status !== 200 || sha256 !== newest.checksum || versions.length !== 2;
    return `${key}: ${versions.length} versions (${versions.map((v) => bytes(v.size)).join(", ")}); the newest downloaded from ${newest.lastBackupId}, ${bytes(content.length)}, SHA-256 ${sha256 === newest.checksum ? "matches" : "DIFFERS"} (r2-backup history / get do the same)`;
  });
} catch (error) {
  failed = true;
  console.log(`\nThe demo stopped: ${error.message}`);
}

console.log(`\n${failed ? "DEMO FAILED" : "Every object is back, byte for byte, with its metadata."}\n`);
for (const { title, seconds, detail } of report)
  console.log(`${seconds.toFixed(1).padStart(6)} s  ${title}\n          ${detail}`);
const total = report.reduce((sum, r) => sum + r.seconds, 0);
console.log(`${total.toFixed(1).padStart(6)} s  in all\n`);

if (values.exit || failed || !server) {
  await removeState();
  process.exit(failed ? 1 : 0);
}
console.log(`Dashboard:  http://127.0.0.1:${port}/  (sign in with the token below; it is valid for 2 hours)`);
console.log(`Token:      ${token}`);
console.log(`CLI:        R2_BACKUP_URL=http://127.0.0.1:${port} R2_BACKUP_TOKEN=<token> npx r2-backup list`);
console.log(`API:        http://127.0.0.1:${port}/api/openapi.json`);
console.log("\nThe server keeps running on this throw-away state; Ctrl-C stops it and removes the state.");
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await removeState();
    process.exit(0);
  });
}
