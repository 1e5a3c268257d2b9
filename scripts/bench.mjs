#!/usr/bin/env node
// `npm run bench [-- --files 2000 --large 3]`: measures the engine on the local stack and prints
// figures (not a test: shared machines are noisy, so compare the ratios of one run).
//
// It uses its own throw-away state folder (your .wrangler/state is untouched) and port:
//   1. seeds the source bucket, 2. full backup into an empty store, 3. full backup again (every
//   object re-read and re-hashed, nothing uploaded), 4. changes 3% of the objects, 5. incremental
//   backup, 6. a plain get→put copy loop between two local buckets as the local R2 ceiling.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { Miniflare } from "miniflare";
import { readDevVars } from "./dev-vars.mjs";

const { values } = parseArgs({ options: { files: { type: "string", default: "2000" }, large: { type: "string", default: "3" }, port: { type: "string", default: "8791" } } });
const state = mkdtempSync(join(tmpdir(), "r2-backup-bench-"));
const port = Number(values.port);
const base = `http://127.0.0.1:${port}`;
const results = [];

function run(args) {
  const result = spawnSync(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"] });
  if (result.status !== 0) throw new Error(`${args.join(" ")} failed`);
}

async function startServer() {
  const server = spawn(process.execPath, ["scripts/start.mjs", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", state], { stdio: ["ignore", "pipe", "pipe"] });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("dev server did not start within 90 s")), 90_000);
    server.stdout.on("data", (chunk) => {
      if (String(chunk).includes("Ready on")) {
        clearTimeout(timer);
        resolve();
      }
    });
    server.on("exit", (code) => reject(new Error(`dev server exited with ${code}`)));
  });
  return server;
}

async function stopServer(server) {
  const exited = new Promise((resolve) => server.on("exit", resolve));
  server.kill("SIGTERM");
  await exited;
}

const token = await new SignJWT({ scope: "backup:admin" }).setProtectedHeader({ alg: "HS256" }).setSubject("bench").setExpirationTime("2h").sign(new TextEncoder().encode(readDevVars().JWT_SECRET));

async function backup(type) {
  const created = await fetch(`${base}/api/backup/create`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ type }) });
  if (created.status !== 202) throw new Error(`create ${type}: ${created.status} ${await created.text()}`);
  const { backup: { id } } = await created.json();
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const { backup: b } = await (await fetch(`${base}/api/backup/status/${id}`, { headers: { authorization: `Bearer ${token}` } })).json();
    if (b.status !== "in_progress" && b.status !== "pending") return b;
  }
}

function record(name, b) {
  const seconds = (Date.parse(b.completedAt) - Date.parse(b.startedAt)) / 1000;
  results.push({ name, status: b.status, seconds, objects: b.snapshotFileCount, read: b.fileCount, mb: b.snapshotSize / 1e6, uploadedMb: b.bytesUploaded / 1e6 });
}

let server;
try {
  run(["scripts/seed.mjs", "--files", values.files, "--large", values.large, "--persist", join(state, "v3")]);
  server = await startServer();
  record("full, empty store", await backup("full"));
  record("full, unchanged (dedup)", await backup("full"));
  await stopServer(server);
  run(["scripts/seed.mjs", "--mutate", "3", "--persist", join(state, "v3")]);
  server = await startServer();
  record("incremental after 3% change", await backup("incremental"));
  await stopServer(server);
  server = undefined;

  // The local R2 ceiling: a plain get→put loop between two local buckets, same objects.
  const mf = new Miniflare({ modules: true, script: "export default {}", r2Buckets: { SRC: "cutty-files", DST: "bench-copy" }, defaultPersistRoot: join(state, "v3") });
  const src = await mf.getR2Bucket("SRC");
  const dst = await mf.getR2Bucket("DST");
  const started = Date.now();
  let count = 0;
  let bytes = 0;
  let cursor;
  do {
    const page = await src.list({ cursor, limit: 1000 });
    for (let i = 0; i < page.objects.length; i += 8) {
      await Promise.all(page.objects.slice(i, i + 8).map(async (o) => {
        const object = await src.get(o.key);
        const body = new Uint8Array(await object.arrayBuffer());
        await dst.put(o.key, body);
        count += 1;
        bytes += body.length;
      }));
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  await mf.dispose();
  results.push({ name: "baseline get→put copy (Node ↔ local R2)", status: "-", seconds: (Date.now() - started) / 1000, objects: count, read: count, mb: bytes / 1e6, uploadedMb: bytes / 1e6 });

  const full = results[0];
  console.log("\n| run | status | seconds | objects/s | MB/s | objects read | MB uploaded |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |");
  for (const r of results) {
    console.log(`| ${r.name} | ${r.status} | ${r.seconds.toFixed(2)} | ${(r.objects / r.seconds).toFixed(0)} | ${(r.mb / r.seconds).toFixed(1)} | ${r.read} | ${r.uploadedMb.toFixed(1)} |`);
  }
  console.log(`\nincremental / full time: ${(results[2].seconds / full.seconds).toFixed(3)}; full (dedup) / full: ${(results[1].seconds / full.seconds).toFixed(3)}; engine / baseline throughput (MB/s): ${(full.mb / full.seconds / (results[3].mb / results[3].seconds)).toFixed(2)}`);
} finally {
  if (server) await stopServer(server);
  rmSync(state, { recursive: true, force: true });
}
