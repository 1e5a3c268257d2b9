#!/usr/bin/env node
// `npm start [-- wrangler dev args]`: creates .dev.vars if missing, applies the local D1
// migrations, then runs `wrangler dev` on the embedded stack (state in .wrangler/state).
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { ensureDevVars } from "./dev-vars.mjs";

ensureDevVars();

// Run wrangler's own entry with this Node, so signals reach it directly (no npx/sh in between).
const wranglerBin = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
const args = process.argv.slice(2);
// The migrations go to the same local state the dev server will use.
const persistIndex = args.indexOf("--persist-to");
const persist = persistIndex >= 0 ? ["--persist-to", args[persistIndex + 1]] : [];

const migrated = spawnSync(process.execPath, [wranglerBin, "d1", "migrations", "apply", "r2-backup-db", "--local", ...persist], {
  stdio: "inherit",
  env: { ...process.env, CI: "true" }, // never prompt for confirmation
});
if (migrated.status !== 0) {
  console.error("Applying the local D1 migrations failed; see the output above.");
  process.exit(migrated.status ?? 1);
}

// --test-scheduled exposes GET /__scheduled?cron=0+*+*+*+*&time=<ms> to fire the cron trigger by hand.
const dev = spawn(process.execPath, [wranglerBin, "dev", "--test-scheduled", ...args], { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
