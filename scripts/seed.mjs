#!/usr/bin/env node
// `npm run seed -- --files 2000 [--large 3] [--seed 1] [--clear]`: fills the local source bucket
// (cutty-files under .wrangler/state) with realistic demo data: nested prefixes, several content
// types and sizes, a few large objects, unicode and odd keys, custom metadata.
//
// `--sizes MIN-MAX` makes every object (but the large ones) a binary object of a size drawn
// uniformly between MIN and MAX bytes, with no odd keys: the bench's small-object set.
//
// `--mutate PERCENT` instead changes an existing seeded bucket: modifies, adds and deletes about
// PERCENT% of its objects (a third each), to demonstrate incremental backups.
//
// It writes the same local state `wrangler dev` reads, through Miniflare's Node API: stop the dev
// server first (two processes must not write the local state at once), then start it again.
import { dirname } from "node:path";
import { scriptArgs } from "./script-args.mjs";
import { serverUsing } from "./state-lock.mjs";
import { Miniflare } from "miniflare";

const USAGE = `Usage: npm run seed -- [options]
Fills the local source bucket (cutty-files under .wrangler/state) with demo data, or changes it.
Stop the local server first: two processes must not write the local state at once.

  --files N          objects to write (default 2000)
  --large N          objects above the multipart threshold among them (default 3)
  --large-mib N      their size in MiB (default 12)
  --sizes MIN-MAX    every other object binary, of a size between MIN and MAX bytes
  --seed N           the random seed (default 1)
  --clear            empty the bucket first
  --mutate PERCENT   instead, modify, add and delete about PERCENT% of the objects
  --send-events URL  with --mutate: send their change notifications to the server at URL once it answers
  --persist DIR      the local state folder (default .wrangler/state/v3)`;

/** Keys --mutate changed, for --send-events. */
let changedKeys = [];

const values = scriptArgs({
  usage: USAGE,
  options: {
    files: { type: "string", default: "2000" },
    large: { type: "string", default: "3" },
    "large-mib": { type: "string", default: "12" },
    seed: { type: "string", default: "1" },
    clear: { type: "boolean", default: false },
    mutate: { type: "string" },
    "send-events": { type: "string" },
    sizes: { type: "string" },
    persist: { type: "string", default: ".wrangler/state/v3" },
  },
});

// Two processes must not write one local state: refuse while the dev server uses it.
const running = serverUsing(dirname(values.persist));
if (running) {
  console.error(
    `The local server (npm start, pid ${running.pid}, port ${running.port}) is using ${dirname(values.persist)}: stop it first, then seed and start it again (or seed another state with --persist).`,
  );
  process.exit(2);
}

function wholeNumber(name) {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a whole number`);
    process.exit(2);
  }
  return n;
}

// A small deterministic generator, so the same seed gives the same bucket.
function rng(seed) {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

const random = rng(wholeNumber("seed"));
const pick = (list) => list[Math.floor(random() * list.length)];

const KINDS = [
  { ext: "txt", type: "text/plain; charset=utf-8", min: 200, max: 20_000 },
  { ext: "csv", type: "text/csv", min: 1_000, max: 80_000 },
  { ext: "json", type: "application/json", min: 100, max: 30_000 },
  { ext: "md", type: "text/markdown", min: 300, max: 10_000 },
  { ext: "png", type: "image/png", min: 5_000, max: 400_000, binary: true },
  { ext: "jpg", type: "image/jpeg", min: 20_000, max: 900_000, binary: true },
  { ext: "pdf", type: "application/pdf", min: 30_000, max: 1_500_000, binary: true },
  { ext: "zip", type: "application/zip", min: 50_000, max: 2_000_000, binary: true },
];
const PREFIXES = [
  "uploads/2026/11",
  "uploads/2026/10",
  "users/{user}/documents",
  "users/{user}/photos",
  "reports/quarterly",
  "exports/crm",
  "assets/static/v2",
  "tmp",
];
const ODD_KEYS = [
  "unicode/naïve café/résumé.txt",
  "unicode/日本語/ファイル.txt",
  "unicode/emoji/📦 package.json",
  "odd/spaces in name/a b c.txt",
  "odd/percent%20encoded%2Fslash.txt",
  "odd/quotes 'single' and \"double\".txt",
  "odd/trailing.dot.",
  "odd/a+b=c&d.txt",
  "odd//double//slash.txt",
  "zero/empty-file.bin",
];

function body(kind, size) {
  const bytes = new Uint8Array(size);
  if (kind.binary) {
    for (let i = 0; i < size; i++) bytes[i] = Math.floor(random() * 256);
  } else {
    const words = [
      "backup",
      "restore",
      "cutty",
      "invoice",
      "customer",
      "2026",
      "report",
      "alpha",
      "beta",
      "ledger",
      "\n",
    ];
    let offset = 0;
    while (offset < size) {
      const word = new TextEncoder().encode(pick(words) + " ");
      bytes.set(word.subarray(0, size - offset), offset);
      offset += word.length;
    }
  }
  return bytes;
}

const uniformSizes = values.sizes === undefined ? null : /^(\d+)-(\d+)$/.exec(values.sizes);
if (values.sizes !== undefined && (!uniformSizes || Number(uniformSizes[1]) > Number(uniformSizes[2]))) {
  console.error("--sizes must be MIN-MAX in bytes, for example 1024-16384");
  process.exit(2);
}

function makeObject(i) {
  if (uniformSizes) {
    const [min, max] = [Number(uniformSizes[1]), Number(uniformSizes[2])];
    const size = min + Math.floor(random() * (max - min + 1));
    return {
      key: `small/${pick(PREFIXES).replace("{user}", String(100 + Math.floor(random() * 40)))}/obj-${String(i).padStart(7, "0")}.bin`,
      body: body(KINDS[7], size),
      httpMetadata: { contentType: "application/octet-stream" },
      customMetadata: { source: "seed" },
    };
  }
  const kind = pick(KINDS);
  const prefix = pick(PREFIXES).replace("{user}", String(100 + Math.floor(random() * 40)));
  const size = Math.floor(kind.min + random() ** 3 * (kind.max - kind.min));
  return {
    key: `${prefix}/${kind.ext}-${String(i).padStart(6, "0")}-${Math.floor(random() * 1e6).toString(36)}.${kind.ext}`,
    body: body(kind, size),
    httpMetadata: {
      contentType: kind.type,
      ...(kind.ext === "pdf" ? { contentDisposition: "attachment" } : {}),
      cacheControl: "private, max-age=3600",
    },
    customMetadata: { owner: `user-${Math.floor(random() * 40)}`, source: "seed", revision: "1" },
  };
}

const mf = new Miniflare({
  modules: true,
  script: "export default { fetch() { return new Response(null, { status: 204 }) } }",
  r2Buckets: { SOURCE: "cutty-files" },
  defaultPersistRoot: values.persist,
});
const bucket = await mf.getR2Bucket("SOURCE");

async function allKeys() {
  const keys = [];
  let cursor;
  do {
    const page = await bucket.list({ cursor, limit: 1000 });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys;
}

async function putAll(objects) {
  for (let i = 0; i < objects.length; i += 64) {
    await Promise.all(
      objects
        .slice(i, i + 64)
        .map((o) => bucket.put(o.key, o.body, { httpMetadata: o.httpMetadata, customMetadata: o.customMetadata })),
    );
  }
}

const started = Date.now();
try {
  if (values.mutate !== undefined) {
    const percent = Number(values.mutate);
    const keys = await allKeys();
    const count = Math.max(3, Math.round((keys.length * percent) / 100));
    const shuffled = keys.sort(() => random() - 0.5);
    const modify = shuffled.slice(0, Math.ceil(count / 3));
    const remove = shuffled.slice(modify.length, modify.length + Math.floor(count / 3));
    const addCount = count - modify.length - remove.length;
    await putAll(modify.map((key) => ({ ...makeObject(0), key, customMetadata: { source: "seed", revision: "2" } })));
    if (remove.length) await bucket.delete(remove);
    const added = Array.from({ length: addCount }, (_, i) => makeObject(1_000_000 + (Date.now() % 100_000) + i));
    await putAll(added);
    console.log(
      `Mutated cutty-files: ${modify.length} modified, ${remove.length} deleted, ${addCount} added (of ${keys.length}).`,
    );
    if (values["send-events"]) {
      changedKeys = [
        ...modify.map((key) => ({ key })),
        ...remove.map((key) => ({ key, deleted: true })),
        ...added.map((o) => ({ key: o.key })),
      ];
    }
  } else {
    if (values.clear) {
      const keys = await allKeys();
      for (let i = 0; i < keys.length; i += 1000) await bucket.delete(keys.slice(i, i + 1000));
    }
    const files = wholeNumber("files");
    const large = Math.min(wholeNumber("large"), files);
    const objects = [];
    for (let i = 0; i < files - large - (uniformSizes ? 0 : ODD_KEYS.length); i++) objects.push(makeObject(i));
    for (const [i, key] of (uniformSizes ? [] : ODD_KEYS.slice(0, Math.max(0, files - large))).entries()) {
      objects.push({
        key,
        body: key.startsWith("zero/") ? new Uint8Array(0) : new TextEncoder().encode(`odd key ${i}: ${key}\n`),
        httpMetadata: { contentType: "text/plain; charset=utf-8" },
        customMetadata: { note: "odd key" },
      });
    }
    await putAll(objects);
    let bytes = objects.reduce((sum, o) => sum + o.body.byteLength, 0);
    // Large objects one at a time, so a few of 1 GiB never sit in memory together.
    const mib = wholeNumber("large-mib");
    for (let i = 0; i < large; i++) {
      const size = mib * 1024 * 1024 + i * 12345;
      await putAll([
        {
          key: `media/large/video-${i}.bin`,
          body: body(KINDS[7], size),
          httpMetadata: { contentType: "video/mp4" },
          customMetadata: { source: "seed", large: "true" },
        },
      ]);
      objects.push({ key: `media/large/video-${i}.bin` });
      bytes += size;
    }
    console.log(
      `Seeded cutty-files with ${objects.length} objects, ${(bytes / 1024 / 1024).toFixed(1)} MiB, in ${((Date.now() - started) / 1000).toFixed(1)} s.`,
    );
  }
} finally {
  await mf.dispose();
}

// --send-events URL: once the dev server answers at URL (start it now), send the R2 event
// notifications of the changes just made, through its local-development route, so the
// event-driven backup runs as it would on Cloudflare.
if (changedKeys.length) await sendEvents(values["send-events"], changedKeys);

async function sendEvents(url, notify) {
  const { signLocalToken } = await import("./local-token.mjs");
  const token = await signLocalToken({ scope: "backup:admin", sub: "seed" });
  const deadline = Date.now() + 10 * 60_000;
  console.log(
    `Waiting for the dev server at ${url} to send ${notify.length} event notifications (start it now: npm start)…`,
  );
  for (;;) {
    const answer = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
    if (answer?.ok) break;
    if (Date.now() > deadline) throw new Error(`${url} did not answer within 10 minutes; the events were not sent`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  // 100 keys a request keeps each body under the API's 16 KiB limit.
  for (let i = 0; i < notify.length; i += 100) {
    const response = await fetch(`${url}/api/dev/source-writes`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ notify: notify.slice(i, i + 100) }),
    });
    if (!response.ok)
      throw new Error(
        `sending events: ${response.status} ${await response.text()} (is BACKUP_DEV_ROUTES="true" in .dev.vars?)`,
      );
  }
  console.log(
    `Sent ${notify.length} event notifications: an event backup starts when BACKUP_EVENT_THRESHOLD or BACKUP_EVENT_MAX_DELAY_SECONDS says.`,
  );
}
