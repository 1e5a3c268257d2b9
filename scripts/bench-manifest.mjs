// Manifest sharing and cleanup cost, for `npm run bench` (see bench.mjs): on its own throw-away
// state, seeds `files` small objects (folders of 100), takes a full backup, then `days` daily
// incremental backups each after a 1% change, measuring the manifest bytes each one adds to the
// backup bucket; then one incremental after a 1% change scattered over random keys (the worst case
// for any chunking); then a cleanup that keeps only the newest, timed.
//
// The daily change is clustered the way file storage usually changes: half of it new uploads under
// a new dated prefix, 40% rewrites of two whole folders, 10% deletions within one folder.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openLocalBucket, randomGenerator, startServer, stopServer, withSource } from "./local-stack.mjs";

const FOLDER_SIZE = 100;

const folderName = (f) => `projects/p${String(f).padStart(4, "0")}`;
const fileKey = (f, i) => `${folderName(f)}/notes-${String(i).padStart(3, "0")}.txt`;

async function putAll(bucket, objects) {
  for (let i = 0; i < objects.length; i += 64)
    await Promise.all(objects.slice(i, i + 64).map((o) => bucket.put(o.key, o.body, { customMetadata: o.meta })));
}

/** Every manifest object in the backup bucket (shared chunks and per-backup indexes): key → size. */
async function manifestObjects(state) {
  const local = openLocalBucket(state, "cutty-backups");
  try {
    const bucket = await local.bucket;
    const sizes = new Map();
    for (const prefix of ["chunks/", "manifests/"]) {
      let cursor;
      do {
        const page = await bucket.list({ prefix, cursor, limit: 1000 });
        for (const o of page.objects) sizes.set(o.key, o.size);
        cursor = page.truncated ? page.cursor : undefined;
      } while (cursor);
    }
    return sizes;
  } finally {
    await local.mf.dispose();
  }
}

const total = (sizes) => [...sizes.values()].reduce((a, b) => a + b, 0);
const added = (before, after) =>
  [...after].filter(([key]) => !before.has(key)).reduce((sum, [, size]) => sum + size, 0);

export async function manifestSharing({ port, api, files, days, log }) {
  const state = mkdtempSync(join(tmpdir(), "r2-backup-bench-manifest-"));
  const folders = Math.max(3, Math.floor(files / FOLDER_SIZE));
  const random = randomGenerator(7);
  const body = (key, version) => `${key} version ${version}\n`;
  let server;
  const session = async (work) => {
    server = await startServer(port, state, ["--var", "BACKUP_GC_GRACE_HOURS:0"]);
    try {
      return await work();
    } finally {
      await stopServer(server);
      server = undefined;
    }
  };
  try {
    const seeded = Date.now();
    const objects = [];
    for (let f = 0; f < folders; f++)
      for (let i = 0; i < FOLDER_SIZE; i++)
        objects.push({ key: fileKey(f, i), body: body(fileKey(f, i), 1), meta: { owner: `team-${f % 7}` } });
    await withSource(state, (bucket) => putAll(bucket, objects));
    log(`seeded ${objects.length} objects in ${((Date.now() - seeded) / 1000).toFixed(1)} s`);

    const full = await session(() => api.backup("full"));
    const afterFull = await manifestObjects(state);
    const fullBytes = total(afterFull);
    const fullSeconds = (Date.parse(full.completedAt) - Date.parse(full.startedAt)) / 1000;
    log(
      `full backup: ${full.status}, ${full.snapshotFileCount} objects, ${fullSeconds.toFixed(1)} s, manifest ${fullBytes} bytes`,
    );

    const changeCount = Math.round(objects.length / 100);
    let previous = afterFull;
    const daily = [];
    for (let day = 1; day <= days; day++) {
      await withSource(state, async (bucket) => {
        const uploads = Math.round(changeCount * 0.5);
        const [a, b, c] = [0, 1, 2].map(() => Math.floor(random() * folders));
        const rewrites = [a, b]
          .flatMap((f) => Array.from({ length: FOLDER_SIZE }, (_, i) => fileKey(f, i)))
          .slice(0, Math.round(changeCount * 0.4));
        const deletions = Array.from({ length: FOLDER_SIZE }, (_, i) => fileKey(c, i)).slice(
          0,
          changeCount - uploads - rewrites.length,
        );
        await putAll(bucket, [
          ...Array.from({ length: uploads }, (_, i) => ({
            key: `uploads/day-${String(day).padStart(3, "0")}/scan-${i}.txt`,
            body: `day ${day} upload ${i}\n`,
            meta: {},
          })),
          ...rewrites.map((key) => ({ key, body: body(key, day + 1), meta: { owner: "rewritten" } })),
        ]);
        await bucket.delete(deletions);
      });
      const incremental = await session(() => api.backup("incremental"));
      const now = await manifestObjects(state);
      daily.push({
        day,
        status: incremental.status,
        bytes: added(previous, now),
        seconds: (Date.parse(incremental.completedAt) - Date.parse(incremental.startedAt)) / 1000,
      });
      log(
        `day ${day}: incremental ${incremental.status} in ${daily.at(-1).seconds.toFixed(1)} s, ${daily.at(-1).bytes} manifest bytes added`,
      );
      previous = now;
    }
    const allDays = total(previous);

    // The worst case: 1% of the objects rewritten at random, spread over every folder.
    await withSource(state, async (bucket) => {
      const keys = new Set();
      while (keys.size < changeCount)
        keys.add(fileKey(Math.floor(random() * folders), Math.floor(random() * FOLDER_SIZE)));
      await putAll(
        bucket,
        [...keys].map((key) => ({ key, body: body(key, "scattered"), meta: {} })),
      );
    });
    const scattered = await session(() => api.backup("incremental"));
    const afterScattered = await manifestObjects(state);
    const scatteredBytes = added(previous, afterScattered);

    const cleaned = await session(() => api.job("/backup/cleanup", { retentionDays: 0, keep: { last: 1 } }));
    const cleanupSeconds = (Date.parse(cleaned.completedAt) - Date.parse(cleaned.startedAt)) / 1000;
    const afterCleanup = total(await manifestObjects(state));

    const first = daily[0];
    const pct = (part, whole) => `${((100 * part) / whole).toFixed(2)}%`;
    console.log(`\n## Manifest sharing on ${objects.length} objects (${folders} folders of ${FOLDER_SIZE})\n`);
    console.log(
      `| run | status | seconds | manifest bytes written | of a full backup's |\n| --- | --- | ---: | ---: | ---: |`,
    );
    console.log(`| full backup | ${full.status} | ${fullSeconds.toFixed(1)} | ${fullBytes} | 100% |`);
    if (first)
      console.log(
        `| incremental after a 1% clustered change (day 1) | ${first.status} | ${first.seconds.toFixed(1)} | ${first.bytes} | ${pct(first.bytes, fullBytes)} |`,
      );
    const worst = daily.reduce((w, d) => (d.bytes > w.bytes ? d : w), daily[0] ?? { bytes: 0, day: 0 });
    if (daily.length > 1)
      console.log(
        `| largest of ${daily.length} daily incrementals (day ${worst.day}) | ${worst.status} | ${worst.seconds.toFixed(1)} | ${worst.bytes} | ${pct(worst.bytes, fullBytes)} |`,
      );
    console.log(
      `| incremental after a 1% scattered change (worst case) | ${scattered.status} | ${((Date.parse(scattered.completedAt) - Date.parse(scattered.startedAt)) / 1000).toFixed(1)} | ${scatteredBytes} | ${pct(scatteredBytes, fullBytes)} |`,
    );
    console.log(
      `\n${days + 1} snapshots (a full and ${days} daily incrementals) occupy ${allDays} manifest bytes: ${(allDays / fullBytes).toFixed(2)}× one snapshot's (target ≤ 2×).` +
        (first
          ? ` Day 1's incremental wrote ${pct(first.bytes, fullBytes)} of a full backup's manifest bytes (target ≤ 5%).`
          : ""),
    );
    console.log(
      `cleanup keeping only the newest of ${days + 2} backups: ${cleaned.status}, ${cleanupSeconds.toFixed(1)} s = ${((cleanupSeconds / objects.length) * 1000).toFixed(3)} s per 1,000 objects; ` +
        `${cleaned.result.backupsExpired} expired, ${cleaned.result.blobsDeleted} blobs and ${cleaned.result.chunksDeleted} chunks deleted, ${cleaned.result.bytesFreed} bytes freed; manifest bytes left ${afterCleanup}.`,
    );
  } finally {
    if (server) await stopServer(server);
    rmSync(state, { recursive: true, force: true });
  }
}
