// Helpers for scripts that drive a throw-away local stack: a wrangler dev server on its own
// state folder and port, an admin token, and API calls that wait for backups and jobs to finish.
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { createServer } from "node:net";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { signLocalToken } from "./local-token.mjs";

export function runNode(args) {
  const result = spawnSync(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"] });
  if (result.status !== 0) throw new Error(`${args.join(" ")} failed`);
}

/** Runs the seed (scripts/seed.mjs) with `args` on a throw-away state folder made for startServer. */
export function seedState(state, args) {
  runNode(["scripts/seed.mjs", ...args, "--persist", join(state, "v3")]);
}

/** A port nothing listens on right now, on the loopback. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

export async function startServer(port, state, extraArgs = []) {
  // Its own devtools port too: two servers started at once (the local-server tests run in
  // parallel) would otherwise both ask for wrangler's default, 9229, and one would exit.
  const inspectorPort = await freePort();
  const args = [
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--inspector-port",
    String(inspectorPort),
    "--persist-to",
    state,
    ...extraArgs,
  ];
  const server = spawn(process.execPath, ["scripts/start.mjs", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.inspectorPort = inspectorPort; // for a bench's CPU profile (bench/profile.mjs)
  // Its stderr is read (an unread pipe would stall the server once full) and its tail kept for
  // the error if it never becomes ready. wrangler's offline noise (it cannot reach Cloudflare for
  // Request.cf data) lands here and stays out of the way.
  let stderrTail = "";
  server.stderr.on("data", (chunk) => (stderrTail = (stderrTail + chunk).slice(-4000)));
  // R2_BACKUP_SERVER_LOG=file keeps everything the server prints (its job logs), to see what a
  // bench's server was doing when a run stalled.
  const log = process.env.R2_BACKUP_SERVER_LOG;
  if (log)
    for (const stream of [server.stdout, server.stderr]) stream.on("data", (chunk) => appendFileSync(log, chunk));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dev server did not start within 90 s:\n${stderrTail}`)), 90_000);
    server.stdout.on("data", (chunk) => {
      if (String(chunk).includes("Ready on")) {
        clearTimeout(timer);
        resolve();
      }
    });
    server.on("exit", (code) => reject(new Error(`dev server exited with ${code}:\n${stderrTail}`)));
  });
  return server;
}

export async function stopServer(server) {
  const exited = new Promise((resolve) => server.on("exit", resolve));
  server.kill("SIGTERM");
  await exited;
}

/**
 * Runs `work` against a dev server on `state` with `vars` set (`wrangler dev --var`; a grace
 * period of 0 unless `vars` says otherwise), and stops the server after it, whatever happens.
 */
export async function withServer(port, state, vars, work) {
  const settings = { BACKUP_GC_GRACE_HOURS: 0, ...vars };
  const args = Object.entries(settings).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const server = await startServer(port, state, args);
  try {
    return await work(server);
  } finally {
    await stopServer(server);
  }
}

export function adminToken() {
  return signLocalToken({ scope: "backup:admin", sub: "local-script", ttl: 7200 });
}

export function apiClient(port, token) {
  const base = `http://127.0.0.1:${port}/api`;
  // Observed on wrangler dev with a 1 GiB object: a status read sent while a job object read the
  // whole object in one call was never answered (its connection stayed open, idle, with no line in
  // the server's log), while the same read sent after that call was answered in 30 ms. A read is
  // therefore given 30 s and sent again, up to 5 times; a write is sent once.
  const sent = async (method, path, body) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}` },
          body: body === undefined ? undefined : JSON.stringify(body),
          ...(method === "GET" ? { signal: AbortSignal.timeout(30_000) } : {}),
        });
      } catch (error) {
        if (method !== "GET" || error.name !== "TimeoutError" || attempt === 5) throw error;
        console.error(`(${method} ${path} unanswered for 30 s: sent again, attempt ${attempt + 1})`);
      }
    }
  };
  const call = async (method, path, body) => {
    const response = await sent(method, path, body);
    const json = await response.json();
    if (response.status >= 400) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  /**
   * Starts a job, asking again for up to a minute while the bucket's lease is held: a backup's
   * row says completed a moment before its job releases the lease (it checks the alerts first),
   * and a bench that restarts the server right after a backup cuts that moment short, leaving the
   * release to the job's next alarm.
   */
  const startJob = async (path, body) => {
    for (let waited = 0; ; waited += 500) {
      const response = await sent("POST", path, body);
      const json = await response.json();
      if (response.status < 400) return json;
      if (response.status !== 409 || json.error?.code !== "conflict" || waited >= 60_000)
        throw new Error(`POST ${path}: ${response.status} ${JSON.stringify(json)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  /** Reads `path` every 250 ms until what `pick` takes of it has ended; `watch` sees every read. */
  const waitFor = async (path, pick, watch) => {
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      const value = pick(await call("GET", path));
      watch?.(value);
      if (value.status !== "in_progress" && value.status !== "pending") return value;
    }
  };
  /**
   * `count` status reads of a backup spread over its run (`concurrency` at a time, `gapMs` apart),
   * each timed; returns the latencies in ms and how many were answered while it was in progress.
   */
  const timedStatusReads = async (id, count, { concurrency = 2, gapMs = 40 } = {}) => {
    const latencies = [];
    let duringRun = 0;
    let next = 0;
    const worker = async () => {
      while (next < count) {
        next += 1;
        const started = performance.now();
        const { backup } = await call("GET", `/backup/status/${id}`);
        latencies.push(performance.now() - started);
        if (backup.status === "in_progress") duringRun += 1;
        await new Promise((r) => setTimeout(r, gapMs));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { latencies, duringRun };
  };
  return {
    call,
    timedStatusReads,
    waitForBackup: (id) => waitFor(`/backup/status/${id}`, (r) => r.backup),
    backup: async (type, watch) =>
      waitFor(`/backup/status/${(await call("POST", "/backup/create", { type })).backup.id}`, (r) => r.backup, watch),
    job: async (path, body, watch) =>
      waitFor(`/backup/jobs/${(await startJob(path, body)).job.id}`, (r) => r.job, watch),
  };
}

/** Opens the local source bucket of a state folder (the dev server must be stopped). */
export function openLocalBucket(state, bucketName = "cutty-files") {
  const mf = new Miniflare({
    modules: true,
    script: "export default {}",
    r2Buckets: { BUCKET: bucketName },
    defaultPersistRoot: `${state}/v3`,
  });
  return { mf, bucket: mf.getR2Bucket("BUCKET") };
}

/** Runs `change` against the local source bucket of `state` (the server must be stopped). */
export async function withSource(state, change) {
  const local = openLocalBucket(state);
  try {
    return await change(await local.bucket);
  } finally {
    await local.mf.dispose();
  }
}

/** A seeded pseudo-random generator (mulberry32) in [0, 1): benches repeat their choices. */
export function randomGenerator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every object's digest (bucketDigest) in the local source bucket of `state` (the server must be stopped). */
export async function sourceDigest(state) {
  const local = openLocalBucket(state);
  try {
    return await bucketDigest(await local.bucket);
  } finally {
    await local.mf.dispose();
  }
}

/** Deletes every object of the local source bucket of `state` (the server must be stopped). */
export async function emptySource(state) {
  const local = openLocalBucket(state);
  try {
    const bucket = await local.bucket;
    let cursor;
    do {
      const page = await bucket.list({ cursor, limit: 1000 });
      if (page.objects.length) await bucket.delete(page.objects.map((o) => o.key));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
  } finally {
    await local.mf.dispose();
  }
}

/** Every object's key, content hash and metadata, for a byte-for-byte comparison. */
export async function bucketDigest(bucket) {
  const objects = new Map();
  let cursor;
  do {
    const page = await bucket.list({ cursor, limit: 1000, include: ["httpMetadata", "customMetadata"] });
    for (const listed of page.objects) {
      const object = await bucket.get(listed.key);
      const sha256 = createHash("sha256")
        .update(new Uint8Array(await object.arrayBuffer()))
        .digest("hex");
      objects.set(
        listed.key,
        JSON.stringify({ sha256, size: listed.size, http: listed.httpMetadata, custom: listed.customMetadata }),
      );
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return objects;
}

/** The p-th percentile (0–100) of a list of numbers, by nearest rank. */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
