// `npm run bench -- --change`: what a small change costs as the bucket grows (issue 22). For each
// size (10,000, 50,000 and 200,000 small objects by default, `--change-sizes`), on a throw-away
// state: seeds the objects through Miniflare (timed), takes a full backup (timed), then measures
// event backups of 1 and of 100 changed keys, each made by path edits of the parent's tree and
// again the way the engine made them before (BACKUP_PATH_EDITS=false: a walk of the parent's
// whole manifest), and the diff between two snapshots 1% apart, clustered the way `--manifest`
// clusters a day's change and spread uniformly (GET /api/dev/diff-cost counts the chunks read).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { randomGenerator, withServer, withSource } from "../local-stack.mjs";

const FOLDER = 100;
// The same function runs in the seeding Worker below (as source text) and here.
const keyOf = (i) =>
  `files/f${String(Math.floor(i / FOLDER)).padStart(5, "0")}/n-${String(i % FOLDER).padStart(2, "0")}.txt`;

/**
 * Seeds `n` objects from inside a Worker on the state's source bucket, a thousand per request:
 * from Node, each put is a round trip to workerd (about 250 objects a second); inside, several
 * times that.
 */
async function seedObjects(state, n) {
  const mf = new Miniflare({
    modules: true,
    script: `const FOLDER = ${FOLDER};
      const keyOf = ${keyOf.toString()};
      export default {
        async fetch(request, env) {
          const url = new URL(request.url);
          const [from, to] = [Number(url.searchParams.get("from")), Number(url.searchParams.get("to"))];
          for (let i = from; i < to; i += 100) {
            const batch = [];
            for (let j = i; j < Math.min(to, i + 100); j++) batch.push(keyOf(j));
            await Promise.all(batch.map((key) => env.BUCKET.put(key, key + " version 1\\n")));
          }
          return new Response("ok");
        },
      };`,
    r2Buckets: { BUCKET: "cutty-files" },
    defaultPersistRoot: `${state}/v3`,
  });
  try {
    for (let from = 0; from < n; from += 1000) {
      const response = await mf.dispatchFetch(`http://seed/?from=${from}&to=${Math.min(n, from + 1000)}`);
      if (!response.ok) throw new Error(`seeding failed: ${response.status} ${await response.text()}`);
      await response.text();
    }
  } finally {
    await mf.dispose();
  }
}

async function putAll(bucket, keys, body) {
  for (let i = 0; i < keys.length; i += 256)
    await Promise.all(keys.slice(i, i + 256).map((key) => bucket.put(key, body(key))));
}

/** The manifest figures of a backup's closing log line: chunks stored and (for a path edit) read. */
async function manifestFigures(api, id) {
  // Every page: a full backup's closing line comes after one line per step.
  const lines = [];
  let cursor = null;
  do {
    const page = await api.call("GET", `/backup/logs/${id}?limit=1000${cursor ? `&cursor=${cursor}` : ""}`);
    lines.push(...page.logs.map((l) => l.message));
    cursor = page.nextCursor;
  } while (cursor);
  const text = lines.join("\n");
  const stored = /, (\d+) chunks stored \((\d+) bytes\)(?:, (\d+) read)?/.exec(text);
  return { written: Number(stored?.[1] ?? NaN), read: stored?.[3] === undefined ? null : Number(stored[3]) };
}

/** Writes `keys` through the local event route and waits for the event backup they start; its status. */
async function eventBackup(api, keys) {
  const since = Date.now();
  await api.call("POST", "/dev/source-writes", {
    writes: keys.map((key) => ({ key, content: `changed at ${since}` })),
  });
  for (const started = Date.now(); Date.now() - started < 30 * 60_000;) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const { backups } = await api.call("GET", "/backup/list?limit=5");
    const done = backups.find(
      (b) => b.trigger === "event" && Date.parse(b.backupDate) >= since - 1000 && b.status !== "in_progress",
    );
    if (done) return (await api.call("GET", `/backup/status/${done.id}`)).backup;
  }
  throw new Error(`no event backup of ${keys.length} key(s) completed within 30 minutes`);
}

const secondsOf = (b) => (Date.parse(b.completedAt) - Date.parse(b.startedAt)) / 1000;

/** `serverVars`: more variables for every server started (the bench's `--latency`). */
export async function changeCost({ port, api, sizes, log, serverVars = {} }) {
  const rows = [];
  const diffs = [];
  const setup = [];
  for (const n of sizes) {
    const state = mkdtempSync(join(tmpdir(), "r2-backup-bench-change-"));
    const random = randomGenerator(n);
    const keys = Array.from({ length: n }, (_, i) => keyOf(i));
    const session = (vars, work) => withServer(port, state, { BACKUP_DEV_ROUTES: true, ...serverVars, ...vars }, work);
    try {
      const seeding = Date.now();
      await seedObjects(state, n);
      const seedSeconds = (Date.now() - seeding) / 1000;
      const full = await session({}, () => api.backup("full"));
      const fullChunks = (await session({}, () => manifestFigures(api, full.id))).written;
      setup.push({ n, seedSeconds, fullSeconds: secondsOf(full), fullChunks, steps: full.performance.steps });
      log(
        `${n} objects: seeded in ${seedSeconds.toFixed(1)} s; full backup ${secondsOf(full).toFixed(1)} s, ${fullChunks} manifest chunks`,
      );

      for (const pathEdits of [true, false]) {
        for (const count of [1, 100]) {
          // Spread over the bucket: each key in a leaf of its own (the expensive case for an edit).
          const changed = Array.from({ length: count }, (_, i) => keys[Math.floor(((i + random()) * n) / count)]);
          const vars = { BACKUP_EVENT_THRESHOLD: count, BACKUP_PATH_EDITS: pathEdits };
          const backup = await session(vars, () => eventBackup(api, changed));
          const figures = await session({}, () => manifestFigures(api, backup.id));
          rows.push({
            n,
            run: `${count}-key event backup, ${pathEdits ? "path edit" : "walk (before)"}`,
            status: backup.status,
            seconds: secondsOf(backup),
            steps: backup.performance.steps,
            // A walk reads every chunk of its parent's tree once (its pages are cached).
            read: figures.read ?? fullChunks,
            readNote: figures.read === null ? " (the parent's tree)" : "",
            written: figures.written,
          });
          log(`${n}: ${rows.at(-1).run}: ${rows.at(-1).seconds.toFixed(2)} s, ${rows.at(-1).steps} steps`);
        }
      }

      for (const spread of ["clustered", "uniform"]) {
        const change = Math.round(n / 100);
        await withSource(state, async (bucket) => {
          if (spread === "uniform") {
            const picked = new Set();
            while (picked.size < change) picked.add(keys[Math.floor(random() * n)]);
            return putAll(bucket, [...picked], (key) => `${key} ${spread}\n`);
          }
          // As --manifest's day: half new uploads under a new prefix, 40% rewrites of whole folders, 10% deletions in one.
          const uploads = Array.from({ length: Math.round(change * 0.5) }, (_, i) => `uploads/${spread}/scan-${i}.txt`);
          const folder = Math.floor(random() * (n / FOLDER - 2));
          const rewrites = keys.slice(folder * FOLDER, folder * FOLDER + Math.round(change * 0.4));
          const deletions = keys.slice(
            (folder + 1) * FOLDER,
            (folder + 1) * FOLDER + (change - uploads.length - rewrites.length),
          );
          await putAll(bucket, [...uploads, ...rewrites], (key) => `${key} ${spread}\n`);
          await bucket.delete(deletions);
        });
        const cost = await session({}, async () => {
          const { backups } = await api.call("GET", "/backup/list?status=completed&limit=1");
          const next = await api.backup("incremental");
          return api.call("GET", `/dev/diff-cost?from=${backups[0].id}&to=${next.id}`);
        });
        diffs.push({ n, spread, ...cost });
        log(`${n}: diff of a 1% ${spread} change: ${cost.chunksRead} of ${cost.chunksInBothTrees} chunks`);
      }
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  }

  console.log(`\n## What a small change costs (issue 22)\n`);
  console.log(
    `| objects | seeding s | full backup s | full backup steps | manifest chunks |\n| ---: | ---: | ---: | ---: | ---: |`,
  );
  for (const s of setup)
    console.log(
      `| ${s.n} | ${s.seedSeconds.toFixed(1)} | ${s.fullSeconds.toFixed(1)} | ${s.steps} | ${s.fullChunks} |`,
    );
  console.log(
    `\n| objects | run | status | seconds | steps | manifest chunks read | chunks written |\n| ---: | --- | --- | ---: | ---: | ---: | ---: |`,
  );
  for (const r of rows)
    console.log(
      `| ${r.n} | ${r.run} | ${r.status} | ${r.seconds.toFixed(2)} | ${r.steps} | ${r.read}${r.readNote} | ${r.written} |`,
    );
  console.log(
    `\n| objects | diff between snapshots 1% apart | changes | seconds | chunks read | chunks of both trees | share |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: |`,
  );
  for (const d of diffs)
    console.log(
      `| ${d.n} | ${d.spread} | ${d.changes} | ${(d.milliseconds / 1000).toFixed(2)} | ${d.chunksRead} | ${d.chunksInBothTrees} | ${((100 * d.chunksRead) / d.chunksInBothTrees).toFixed(1)}% |`,
    );
}
