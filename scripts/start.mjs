#!/usr/bin/env node
// `npm start [-- wrangler dev args]`: creates .dev.vars if missing, applies the local D1
// migrations, then runs `wrangler dev` on the embedded stack (state in .wrangler/state).
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { ensureDevVars } from "./dev-vars.mjs";
import { recordServer } from "./state-lock.mjs";

const USAGE = `Usage: npm start [-- <wrangler dev options>]
Creates .dev.vars if it is missing, applies the local D1 migrations, then runs wrangler dev on the
embedded stack (state in .wrangler/state, or --persist-to DIR). Every other option goes to
wrangler dev (npx wrangler dev --help lists them); --port N serves on another port.`;
if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log(USAGE);
  process.exit(0);
}

ensureDevVars();

// Run wrangler's own entry with this Node, so signals reach it directly (no npx/sh in between).
const wranglerBin = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
const args = process.argv.slice(2);
// The migrations go to the same local state the dev server will use.
const persistIndex = args.indexOf("--persist-to");
const persist = persistIndex >= 0 ? ["--persist-to", args[persistIndex + 1]] : [];

// wrangler prints its table of migrations again after each one it applies: its output is kept
// back and summed up in one line, or shown whole when it fails.
const migrated = spawnSync(
  process.execPath,
  [wranglerBin, "d1", "migrations", "apply", "r2-backup-db", "--local", ...persist],
  {
    encoding: "utf8",
    env: { ...process.env, CI: "true" }, // never prompt for confirmation
  },
);
if (migrated.status !== 0) {
  process.stderr.write(`${migrated.stdout ?? ""}${migrated.stderr ?? ""}`);
  console.error("Applying the local D1 migrations failed; see the output above.");
  process.exit(migrated.status ?? 1);
}
console.log(migrationSummary(migrated.stdout));

// While it runs, the state folder says so: the seed refuses to write the same state meanwhile.
const stateDir = persist[1] ?? ".wrangler/state";
mkdirSync(stateDir, { recursive: true });
const portIndex = args.indexOf("--port");
const forget = recordServer(stateDir, portIndex >= 0 ? Number(args[portIndex + 1]) : 8787);

// --test-scheduled exposes GET /__scheduled?cron=0+*+*+*+*&time=<ms> to fire the cron trigger by hand.
// The Worker never reads request.cf: miniflare's placeholder serves, and not fetching the real one
// spares an alarming "Unable to fetch the Request.cf object" offline (set it to true to fetch).
const dev = spawn(process.execPath, [wranglerBin, "dev", "--test-scheduled", ...args], {
  stdio: "inherit",
  env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false" },
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code, signal) => {
  forget();
  process.exit(code ?? (signal ? 1 : 0));
});

/** "Local D1: applied 0008_verification_scope.sql." (those wrangler listed without ✅: blank before the first, 🕒 after) or "… up to date." */
function migrationSummary(output) {
  const applied = [...new Set([...output.matchAll(/(\d{4}_[\w-]+\.sql)\s*│[ \t]*(?:🕒|$)/gm)].map((m) => m[1]))];
  if (applied.length > 0) return `Local D1: applied ${applied.join(", ")}.`;
  return /No migrations to apply/i.test(output)
    ? "Local D1: migrations up to date."
    : `Local D1 migrations:\n${output.trim()}`;
}
