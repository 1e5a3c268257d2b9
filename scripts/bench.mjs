#!/usr/bin/env node
// `npm run bench [-- --quick] [--huge] [--scale] [--manifest]`: measures the engine on the local
// stack against the runtime's own ceiling and prints one table (figures, not a test: shared
// machines are noisy, so compare the ratios of one run).
//
// The ceiling (scripts/bench/ceiling-worker.mjs) is a plain Worker run inside the same workerd
// through Miniflare, on the same state: get→put at the engine's concurrency, the same with every
// body also hashed by crypto.DigestStream, and get→hash (what a full verify reads). Each data set
// (small: 10,000 objects of 1–16 KiB; mix: the seed's mix; large: 3 × 256 MiB; `--quick` shrinks
// them to run in about 3 minutes) gets a throw-away state folder and these runs: full backup into
// an empty store (status reads timed meanwhile), full backup of unchanged content, incremental
// after a 1% change, full verify, restore into an emptied bucket. The peak resident memory of the
// dev server's workerd is read per data set, and for one 16 MiB and (with `--huge`) one 1 GiB
// object. `--scale` times full and incremental backups at 2,000, 10,000 and 50,000 small
// objects; `--manifest` runs the manifest-sharing measurement (bench-manifest.mjs, ~30 min).
// The recovery point of event-driven backups (how soon a write is in a completed backup,
// bench/rpo.mjs, ~2 min with the default event settings) is measured by the default run;
// `--rpo` adds it to `--quick` or `--sets` runs, `--no-rpo` leaves it out. `--change` measures what a
// small change costs as the bucket grows (bench/change.mjs: event backups by path edit and by the
// old walk, and diffs, at 10,000, 50,000 and 200,000 objects; about 40 minutes, most of it seeding
// and full backups); `--sets none --change` runs only that. `--fan-out` measures full backups fanned
// out over 1, 2, 4 and 8 shards under production-shaped latency (bench/fan-out.mjs).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scriptArgs } from "./script-args.mjs";
import { manifestSharing } from "./bench-manifest.mjs";
import { openCeiling } from "./bench/ceiling.mjs";
import { peakMemoryMiB } from "./bench/memory.mjs";
import { measureRpo } from "./bench/rpo.mjs";
import { changeCost } from "./bench/change.mjs";
import { fanOutScaling } from "./bench/fan-out.mjs";
import { adminToken, apiClient, emptySource, percentile, seedState, startServer, stopServer } from "./local-stack.mjs";

const USAGE = `Usage: npm run bench -- [options]
Measures the engine on the local stack against the runtime's own ceiling; prints one table.

  --quick              smaller data sets (about 3 minutes)
  --huge               also one 1 GiB object
  --scale              full and incremental backups at 2,000, 10,000 and 50,000 objects
  --manifest           the manifest-sharing measurement (about 30 minutes)
  --rpo / --no-rpo     the event backups' recovery point (default: in the default run)
  --change             what a small change costs at 10,000, 50,000 and 200,000 objects
  --change-sizes LIST  object counts for --change (default 10000,50000,200000)
  --fan-out            full backups with 1, 2, 4 and 8 shards under production-shaped latency
                       (bench/fan-out.mjs; --latency defaults to production×2 for it)
  --fan-out-set NAME   small (default: --fan-out-files objects of 1–16 KiB) or mix (the mix set)
  --fan-out-files N    objects for --fan-out's small set (default 20000)
  --fan-out-d1 LIST    these shard counts again with D1 shaped too (--d1-ms a call): D1's share
  --d1-ms MS           D1's latency a call for --fan-out-d1 (default 30)
  --fan-out-shards L   shard counts for --fan-out (default 1,2,4,8)
  --no-fan-out-restore leave out the restores after each backup
  --profile RUNS       CPU profiles of these fan-out runs' backups and restores (C,R8: by
                       name), saved under .bench/profiles/ and summarized (bench/profile.mjs)
  --sets LIST          only these data sets: small, mix, large, huge (one 1 GiB object; not in the
                       default all; none: no data set)
  --latency SPEC       production-shaped R2 latency on every job object (BACKUP_TEST_R2_LATENCY:
                       production, production×N, or JSON over the defaults; docs/performance.md)
  --port N             the server's port (default 8791)
  --manifest-files N   objects for --manifest (default 50000)
  --days N             backups for --manifest (default 30)`;

const values = scriptArgs({
  usage: USAGE,
  allowNegative: true,
  options: {
    quick: { type: "boolean", default: false },
    huge: { type: "boolean", default: false },
    scale: { type: "boolean", default: false },
    manifest: { type: "boolean", default: false },
    change: { type: "boolean", default: false },
    "change-sizes": { type: "string", default: "10000,50000,200000" },
    "fan-out": { type: "boolean", default: false },
    "fan-out-files": { type: "string", default: "20000" },
    "fan-out-set": { type: "string", default: "small" },
    "fan-out-d1": { type: "string", default: "" },
    "d1-ms": { type: "string", default: "30" },
    "fan-out-shards": { type: "string", default: "1,2,4,8" },
    "fan-out-restore": { type: "boolean", default: true },
    latency: { type: "string" },
    profile: { type: "string" },
    rpo: { type: "boolean" },
    // `--sets large` (or `small,mix`): only those data sets.
    sets: { type: "string", default: "small,mix,large" },
    port: { type: "string", default: "8791" },
    "manifest-files": { type: "string", default: "50000" },
    days: { type: "string", default: "30" },
  },
});
if (values.profile && !values["fan-out"]) throw new Error("--profile names runs of --fan-out (C, R1, R4, ...)");
if (values.profile && typeof WebSocket !== "function") {
  // The profiler speaks to the inspector over a WebSocket, which Node 20 has behind a flag.
  const again = spawnSync(
    process.execPath,
    [...process.execArgv, "--experimental-websocket", ...process.argv.slice(1)],
    { stdio: "inherit" },
  );
  process.exit(again.status ?? 1);
}
const quick = values.quick;
const port = Number(values.port);
const api = apiClient(port, await adminToken());
/** The server's variables for the production-shaped latency layer (engine/r2-latency.ts), if asked for. */
const latencyVars = values.latency ? ["--var", `BACKUP_TEST_R2_LATENCY:${values.latency}`] : [];
/** The engine's concurrency (durable-objects/engine/settings/defaults.ts), which the ceiling uses too. */
const CONCURRENCY = 6;
/**
 * How the engine moves an object above the multipart threshold: parts of BACKUP_PART_SIZE_BYTES'
 * default (settings/config.ts), PARTS_IN_FLIGHT (engine/multipart.ts) at a time.
 */
const PARTS = "partBytes=16777216&partsInFlight=3";

// `mutate`: whether the incremental follows a 1% change (a set of a few large objects has none to
// make: its incremental runs over unchanged content).
const SETS = [
  { name: "small", mutate: true, seed: ["--files", quick ? "1000" : "10000", "--large", "0", "--sizes", "1024-16384"] },
  {
    name: "mix",
    mutate: true,
    seed: ["--files", quick ? "200" : "2000", "--large", quick ? "1" : "3", "--large-mib", quick ? "8" : "12"],
  },
  {
    name: "large",
    mutate: false,
    seed: ["--files", quick ? "1" : "3", "--large", quick ? "1" : "3", "--large-mib", quick ? "32" : "256"],
  },
  // Opt-in only (`--sets huge`): one 1 GiB object, the issue 23 target for one large object.
  { name: "huge", mutate: false, seed: generatedOne(quick ? 256 : 1024) },
];

const rows = [];
const memory = [];
const started = Date.now();
const seconds = (from, to) => (Date.parse(to) - Date.parse(from)) / 1000;
const mb = (bytes) => bytes / 1e6;

function row(set, run, secs, objects, bytes, ceiling, note = "") {
  rows.push({ set, run, secs, objects, bytes, ceiling, note });
}

/**
 * A state folder seeded by seed.mjs with `seed` arguments (or by `seed(state)`); `session(work)`
 * runs work against a dev server on it.
 */
async function dataSet(seed) {
  const state = mkdtempSync(join(tmpdir(), "r2-backup-bench-"));
  if (typeof seed === "function") await seed(state);
  else seedState(state, seed);
  let peak = 0;
  return {
    state,
    async session(work, extraArgs = []) {
      const server = await startServer(port, state, ["--var", "BACKUP_GC_GRACE_HOURS:0", ...latencyVars, ...extraArgs]);
      try {
        return await work();
      } finally {
        peak = Math.max(peak, peakMemoryMiB(server.pid) ?? 0);
        await stopServer(server);
      }
    },
    async ceiling(path) {
      // Under the same latency layer as the server's job objects, so "× ceiling" compares like with like.
      const ceiling = openCeiling(state, { latency: values.latency });
      try {
        await ceiling.run("/clear");
        return await ceiling.run(path);
      } finally {
        await ceiling.dispose();
      }
    },
    peak: () => peak,
    dispose: () => rmSync(state, { recursive: true, force: true }),
  };
}

/** The five runs of one data set, each against its ceiling. */
async function throughput(set) {
  const data = await dataSet(set.seed);
  try {
    const copy = await data.ceiling(`/copy?from=SOURCE&hash=0&concurrency=${CONCURRENCY}`);
    const copyHash = await data.ceiling(`/copy?from=SOURCE&hash=1&concurrency=${CONCURRENCY}`);
    const readSource = await data.ceiling(`/read?from=SOURCE&concurrency=${CONCURRENCY}`);
    row(set.name, "ceiling: get→put", copy.seconds, copy.objects, copy.bytes, null);
    // Large objects only: the same copy made the way the engine moves them (multipart, by parts).
    const inParts = set.mutate
      ? null
      : await data.ceiling(`/copy?from=SOURCE&hash=0&concurrency=${CONCURRENCY}&${PARTS}`);
    if (inParts)
      row(
        set.name,
        "ceiling: get→put in 16 MiB parts, 3 at a time",
        inParts.seconds,
        inParts.objects,
        inParts.bytes,
        null,
      );
    row(set.name, "ceiling: get→put + SHA-256", copyHash.seconds, copyHash.objects, copyHash.bytes, null);
    row(set.name, "ceiling: get + SHA-256", readSource.seconds, readSource.objects, readSource.bytes, null);
    const backupRow = (run, b, ceiling, note) =>
      row(set.name, run, seconds(b.startedAt, b.completedAt), b.snapshotFileCount, b.snapshotSize, ceiling, note);

    // The full backup, again over unchanged content, its verify, and status reads timed during a
    // third full backup (timed apart: the reads compete with the backup for the same isolate).
    const { full, verified } = await data.session(async () => {
      const first = await api.backup("full");
      const firstRatio = ratioOf(first.snapshotSize, seconds(first.startedAt, first.completedAt), copy).toFixed(2);
      const partsRatio = inParts
        ? `; vs get→put in parts: ${ratioOf(first.snapshotSize, seconds(first.startedAt, first.completedAt), inParts).toFixed(2)}`
        : "";
      backupRow(
        "full backup, empty store",
        first,
        copyHash,
        `vs get→put + SHA-256; ${first.performance.steps} steps; vs get→put: ${firstRatio}${partsRatio}`,
      );
      backupRow(
        "full backup, unchanged content",
        await api.backup("full"),
        readSource,
        "vs get + SHA-256: every object re-read and hashed, nothing uploaded",
      );
      const verifiedFirst = await api.job(`/backup/verify/${first.id}`, { mode: "full" });
      const created = await api.call("POST", "/backup/create", { type: "full" });
      const { latencies, duringRun } = await api.timedStatusReads(created.backup.id, quick ? 60 : 200, {
        concurrency: 2,
        gapMs: 20,
      });
      await api.waitForBackup(created.backup.id);
      const fmt = (ms) => `${ms.toFixed(1)} ms`;
      status.push(
        `${set.name}: ${latencies.length} status reads (${duringRun} while it ran): p50 ${fmt(percentile(latencies, 50))}, p99 ${fmt(percentile(latencies, 99))}`,
      );
      return { full: first, verified: verifiedFirst };
    });
    const readBlobs = await data.ceiling(`/read?from=BACKUP&prefix=blobs/&concurrency=${CONCURRENCY}`);
    row(
      set.name,
      "full verify",
      seconds(verified.startedAt, verified.completedAt),
      verified.result.filesChecked,
      full.snapshotSize,
      readBlobs,
      "vs get + SHA-256 of the blobs",
    );

    if (set.mutate) seedState(data.state, ["--mutate", "1"]);
    await data.session(async () => {
      const inc = await api.backup("incremental");
      const ratio = seconds(inc.startedAt, inc.completedAt) / seconds(full.startedAt, full.completedAt);
      backupRow(
        set.mutate ? "incremental after 1% change" : "incremental, unchanged content",
        inc,
        null,
        `${ratio.toFixed(3)}× the full backup's time`,
      );
    });

    await emptySource(data.state);
    const copyBlobs = await data.ceiling(`/copy?from=BACKUP&prefix=blobs/&hash=0&concurrency=${CONCURRENCY}`);
    const copyChecked = await data.ceiling(`/copy?from=BACKUP&prefix=blobs/&hash=0&check=1&concurrency=${CONCURRENCY}`);
    const blobsInParts = set.mutate
      ? null
      : await data.ceiling(`/copy?from=BACKUP&prefix=blobs/&hash=0&concurrency=${CONCURRENCY}&${PARTS}`);
    if (blobsInParts)
      row(
        set.name,
        "ceiling: get→put of the blobs in 16 MiB parts, 3 at a time",
        blobsInParts.seconds,
        blobsInParts.objects,
        blobsInParts.bytes,
        null,
      );
    row(set.name, "ceiling: get→put of the blobs", copyBlobs.seconds, copyBlobs.objects, copyBlobs.bytes, null);
    row(
      set.name,
      "ceiling: get→put of the blobs, R2 checks SHA-256",
      copyChecked.seconds,
      copyChecked.objects,
      copyChecked.bytes,
      null,
    );
    await data.session(async () => {
      const restored = await api.job(`/backup/restore/${full.id}`, { overwriteExisting: true });
      const secs = seconds(restored.startedAt, restored.completedAt);
      const checked = ratioOf(restored.result.bytesRestored, secs, copyChecked).toFixed(2);
      row(
        set.name,
        "restore into an empty bucket",
        secs,
        restored.result.filesRestored,
        restored.result.bytesRestored,
        copyBlobs,
        `vs get→put of the blobs; vs the same with R2's SHA-256 check, as every restored object gets: ${checked}` +
          (blobsInParts
            ? `; vs get→put in parts: ${ratioOf(restored.result.bytesRestored, secs, blobsInParts).toFixed(2)}`
            : ""),
      );
    });
    memory.push({ what: `${set.name} set (all runs)`, mib: data.peak() });
  } finally {
    data.dispose();
  }
}

/** Bytes per second against the ceiling's (the same as objects per second when both move the same set). */
function ratioOf(bytes, secs, ceiling) {
  return bytes / secs / (ceiling.bytes / ceiling.seconds);
}

/** A seed of one object of `mib` MiB, generated inside workerd: Miniflare's Node API cannot carry a body of 1 GiB. */
function generatedOne(mib) {
  return async (state) => {
    const ceiling = openCeiling(state);
    await ceiling.run(`/generate?key=media/large/one.bin&bytes=${mib * 1024 * 1024}`).finally(() => ceiling.dispose());
  };
}

/** Peak memory of a full backup of one object of `mib` MiB. */
async function memoryOfOne(mib) {
  const data = await dataSet(generatedOne(mib));
  try {
    const backup = await data.session(() => api.backup("full"));
    memory.push({
      what: `one ${mib} MiB object, full backup (${seconds(backup.startedAt, backup.completedAt).toFixed(1)} s)`,
      mib: data.peak(),
    });
  } finally {
    data.dispose();
  }
}

/** Full and incremental backups at growing sizes: is the cost per object flat? */
async function scaling() {
  const lines = [];
  for (const files of [2000, 10000, 50000]) {
    const data = await dataSet(["--files", String(files), "--large", "0", "--sizes", "1024-16384"]);
    try {
      const full = await data.session(() => api.backup("full"));
      seedState(data.state, ["--mutate", "1"]);
      const inc = await data.session(() => api.backup("incremental"));
      const [fullSecs, incSecs] = [seconds(full.startedAt, full.completedAt), seconds(inc.startedAt, inc.completedAt)];
      const d1Rows = (b) => b.fileCount + b.deletedCount + b.failedCount + b.performance.steps + 2;
      lines.push(
        `| ${files} | ${fullSecs.toFixed(1)} | ${((fullSecs / files) * 1000).toFixed(2)} | ${d1Rows(full)} | ${(full.performance.storedBytes - full.performance.bytesUploaded).toLocaleString("en")} | ` +
          `${incSecs.toFixed(1)} | ${d1Rows(inc)} | ${(incSecs / fullSecs).toFixed(3)} |`,
      );
    } finally {
      data.dispose();
    }
  }
  console.log(
    "\n| objects | full s | full s / 1,000 | full D1 rows | manifest bytes | incremental (1%) s | incremental D1 rows | incremental / full |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const line of lines) console.log(line);
}

const status = [];
for (const set of SETS.filter((s) => values.sets.split(",").includes(s.name))) await throughput(set);
// A failure here is reported in the table rather than losing the figures measured so far.
const measureOne = (mib) =>
  memoryOfOne(mib).catch((error) =>
    memory.push({ what: `one ${mib} MiB object: failed (${error.message})`, mib: Number.NaN }),
  );
const anySet = values.sets !== "none";
if (!quick && anySet) await measureOne(16);
if (!quick && anySet) await measureOne(256);
if (values.huge) await measureOne(1024);

console.log(
  `\nbench${quick ? " --quick" : ""}: ${new Date().toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
console.log(
  "\n| set | run | seconds | objects/s | MB/s | × ceiling | notes |\n| --- | --- | ---: | ---: | ---: | ---: | --- |",
);
for (const r of rows) {
  const ratio = r.ceiling ? ratioOf(r.bytes, r.secs, r.ceiling) : null;
  console.log(
    `| ${r.set} | ${r.run} | ${r.secs.toFixed(2)} | ${(r.objects / r.secs).toFixed(0)} | ${(mb(r.bytes) / r.secs).toFixed(1)} | ${ratio === null ? "" : ratio.toFixed(2)} | ${r.note ?? ""} |`,
  );
}
console.log("\nstatus latency during a full backup of unchanged content of each set:");
for (const line of status) console.log(`  ${line}`);
console.log("\n| peak workerd resident memory | MiB |\n| --- | ---: |");
for (const m of memory) console.log(`| ${m.what} | ${m.mib.toFixed(0)} |`);
if (values.scale) await scaling();
// Part of the default run; opt-in for quick and partial ones.
const defaultRun = !quick && values.sets === "small,mix,large";
if (values.rpo ?? defaultRun) await recoveryPoint();
if (values.change)
  await changeCost({
    port,
    api,
    sizes: values["change-sizes"].split(",").map(Number),
    serverVars: values.latency ? { BACKUP_TEST_R2_LATENCY: values.latency } : {},
    log: (line) => console.log(line),
  });
if (values["fan-out"])
  await fanOutScaling({
    port,
    api,
    seed: fanOutSeed(values["fan-out-set"]),
    shardCounts: values["fan-out-shards"].split(",").map(Number),
    d1Shards: values["fan-out-d1"] ? values["fan-out-d1"].split(",").map(Number) : [],
    d1Ms: Number(values["d1-ms"]),
    latency: values.latency ?? "production×2",
    restores: values["fan-out-restore"],
    profile: values.profile ? { runs: values.profile.split(","), dir: join(".bench", "profiles") } : null,
    log: (line) => console.log(line),
  });
if (values.manifest)
  await manifestSharing({
    port,
    api,
    files: Number(values["manifest-files"]),
    days: Number(values.days),
    log: (line) => console.log(line),
  });

/** The seed arguments of --fan-out's data set. */
function fanOutSeed(name) {
  if (name === "small") return ["--files", values["fan-out-files"], "--large", "0", "--sizes", "1024-16384"];
  const set = SETS.find((s) => s.name === name && Array.isArray(s.seed));
  if (!set) throw new Error(`--fan-out-set: small, mix or large, not ${name}`);
  return set.seed;
}

/** Event-driven backups: the recovery point after a write, with the default event settings. */
async function recoveryPoint() {
  const data = await dataSet(["--files", "200", "--large", "0"]);
  try {
    const results = await data.session(async () => {
      await api.backup("full");
      return measureRpo(api);
    }, ["--var", "BACKUP_DEV_ROUTES:true"]);
    console.log("\n| recovery point (write → in a completed event backup) | seconds | backup |\n| --- | ---: | --- |");
    for (const r of results)
      console.log(
        `| ${r.what} | ${r.seconds.toFixed(1)} | ${r.backup.id}: ${r.backup.fileCount} changed, ${r.backup.snapshotFileCount} in snapshot |`,
      );
  } finally {
    data.dispose();
  }
}
