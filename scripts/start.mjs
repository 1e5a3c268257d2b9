#!/usr/bin/env node
// `npm start [-- wrangler dev args]`: creates .dev.vars if missing, applies the local D1
// migrations, then runs `wrangler dev` on the embedded stack (state in .wrangler/state).
import { spawnSync, spawn } from "node:child_process";
import { ensureDevVars } from "./dev-vars.mjs";

ensureDevVars();

const wrangler = (args, options = {}) => spawnSync("npx", ["--no-install", "wrangler", ...args], { stdio: "inherit", ...options });

const migrated = wrangler(["d1", "migrations", "apply", "r2-backup-db", "--local"], { env: { ...process.env, CI: "true" } });
if (migrated.status !== 0) {
  console.error("Applying the local D1 migrations failed; see the output above.");
  process.exit(migrated.status ?? 1);
}

// --test-scheduled exposes GET /__scheduled?cron=0+2+*+*+* to fire the daily cron by hand.
const dev = spawn("npx", ["--no-install", "wrangler", "dev", "--test-scheduled", ...process.argv.slice(2)], { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
