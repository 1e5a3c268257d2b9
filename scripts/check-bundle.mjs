#!/usr/bin/env node
// `npm run check:bundle` (part of `npm test`): the Worker still bundles for deployment, offline,
// with `wrangler deploy --dry-run`, and its gzipped size is under the Workers limit. Nothing is
// uploaded; the bundle goes to a temporary folder that is removed afterwards.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { scriptArgs } from "./script-args.mjs";

scriptArgs({
  usage: `Usage: npm run check:bundle
Bundles the Worker as \`wrangler deploy\` would (--dry-run: offline, nothing uploaded) and fails
when bundling fails or the gzipped bundle is over the Workers Free plan's 3 MB limit.`,
});

/** The Free plan's limit after compression (Paid: 10 MB): a bundle under it deploys on either. */
const GZIP_LIMIT_BYTES = 3_000_000;

const wrangler = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
const outdir = mkdtempSync(join(tmpdir(), "r2-backup-bundle-"));
try {
  const run = spawnSync(process.execPath, [wrangler, "deploy", "--dry-run", "--outdir", outdir], {
    encoding: "utf8",
    env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" },
  });
  if (run.status !== 0) {
    process.stderr.write(`${run.stdout}${run.stderr}`);
    console.error("The Worker does not bundle for deployment (wrangler deploy --dry-run failed; its output is above).");
    process.exit(1);
  }
  const bundle = readFileSync(join(outdir, "index.js"));
  const gzipped = gzipSync(bundle, { level: 9 }).length;
  const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
  const summary = `Worker bundle: ${kib(bundle.length)}, ${kib(gzipped)} gzipped (limit ${GZIP_LIMIT_BYTES / 1e6} MB)`;
  if (gzipped > GZIP_LIMIT_BYTES) {
    console.error(`${summary}: over the limit; a deploy would be refused.`);
    process.exit(1);
  }
  console.log(`${summary}.`);
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
