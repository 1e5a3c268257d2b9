#!/usr/bin/env node
// `r2-backup`: the command-line client of the backup service (README, "Command-line client").
// Server and token from --url/--token or R2_BACKUP_URL/R2_BACKUP_TOKEN; tables for people, --json
// for scripts; exit codes in client.mjs (EXIT).
import { createRequire } from "node:module";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { CliError, createClient, EXIT, query } from "./client.mjs";
import { printJson } from "./output.mjs";
import {
  alertTable,
  backupDetails,
  backupTable,
  changeTable,
  fileTable,
  jobDetails,
  logLines,
  statsDetails,
  versionTable,
} from "./print.mjs";
import { bytes } from "./output.mjs";
import { downloadObject, fileNameOf } from "./download.mjs";
import { exitCodeOfBackup, exitCodeOfJob, watchBackup, watchJob } from "./watch.mjs";
import { signLocalToken } from "../local-token.mjs";

const wholeNumber = (label, min, max) => (value) => {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max)
    throw new InvalidArgumentError(`${label} must be a whole number from ${min} to ${max}.`);
  return number;
};

/** A repeatable option's values, in order. */
const collect = (value, previous) => [...previous, value];

const { version } = createRequire(import.meta.url)("../../package.json");

const program = new Command("r2-backup")
  .description("Command-line client of the R2 backup service.")
  .version(version)
  .addOption(new Option("--url <url>", "the service's base URL").env("R2_BACKUP_URL").default("http://127.0.0.1:8787"))
  .addOption(new Option("--token <jwt>", "a bearer token (JWT)").env("R2_BACKUP_TOKEN"))
  .addOption(
    new Option("--timeout <ms>", "give up on a request after this long")
      .env("R2_BACKUP_TIMEOUT_MS")
      .default(30_000)
      .argParser(wholeNumber("--timeout", 100, 600_000)),
  )
  .addOption(
    new Option(
      "--max-wait <seconds>",
      "--wait/--watch give up after this long (exit 6; 0: after the first look); the work goes on",
    )
      .env("R2_BACKUP_MAX_WAIT")
      .argParser(wholeNumber("--max-wait", 0, 7 * 24 * 3600)),
  )
  .option("--json", "print the API's JSON instead of tables")
  .showHelpAfterError()
  .exitOverride();

/** Registers a command whose action gets (client, global options, ...its own arguments). */
function command(spec, description, action) {
  return program
    .command(spec)
    .description(description)
    .action(async (...args) => {
      const cmd = args.at(-1);
      const options = cmd.optsWithGlobals();
      const client = createClient({ url: options.url, token: options.token, timeoutMs: options.timeout });
      process.exitCode = (await action(client, options, ...args.slice(0, -2))) ?? EXIT.ok;
    });
}

/** How --wait/--watch wait: silently under --json, at most --max-wait seconds. */
const watching = (options) => ({ quiet: options.json, maxWaitSeconds: options.maxWait });

const show = (options, json, text) => (options.json ? printJson(json) : console.log(text));

command("create", "start a backup", async (client, options) => {
  const { backup } = await client.post("/backup/create", {
    type: options.type,
    ...(options.template ? { template: options.template } : {}),
  });
  if (!options.wait) return show(options, { backup }, `Started ${backup.type} backup ${backup.id}.`);
  const finished = await watchBackup(client, backup.id, watching(options));
  show(options, { backup: finished }, backupDetails(finished));
  return exitCodeOfBackup(finished);
})
  .addOption(
    new Option("--type <type>", "full, incremental, or auto (full when the last full one is old)")
      .choices(["auto", "full", "incremental"])
      .default("auto"),
  )
  .option("--template <name>", "a backup of this backup template (its bucket, prefixes and options)")
  .option("--wait", "wait for it to end, with a progress bar; exit 1 unless it completed");

command("templates", "backup templates (admin)", async (client, options) => {
  const { templates } = await client.get("/backup/templates");
  const lines = templates.map(
    (t) =>
      `${t.name.padEnd(20)} ${t.bucketName} (${t.sourceBinding}) ${t.schedule}` +
      (t.includePrefixes.length ? ` include ${t.includePrefixes.join(",")}` : "") +
      (t.excludePrefixes.length ? ` exclude ${t.excludePrefixes.join(",")}` : "") +
      ` keep ${t.retentionDays}d` +
      (t.compression ? " compressed" : "") +
      (t.encryption ? " encrypted" : ""),
  );
  show(options, { templates }, lines.join("\n"));
});

command("replicate", "copy a backup to the replica bucket again", (client, options, id) =>
  startJob(client, options, `/backup/replicate/${encodeURIComponent(id)}`),
)
  .argument("<id>", "backup id")
  .option("--wait", "wait for the result; exit 1 unless the replica is complete");

command("list", "list backups, newest first", async (client, options) => {
  const page = await client.get(
    `/backup/list${query({ status: options.status, type: options.type, trigger: options.trigger, template: options.template, limit: options.limit, cursor: options.cursor })}`,
  );
  show(options, page, `${backupTable(page.backups)}${page.nextCursor ? `\n(more: --cursor ${page.nextCursor})` : ""}`);
})
  .addOption(
    new Option("--status <status>").choices([
      "pending",
      "in_progress",
      "completed",
      "partial",
      "failed",
      "cancelled",
      "expired",
    ]),
  )
  .addOption(new Option("--type <type>").choices(["full", "incremental"]))
  .addOption(
    new Option("--trigger <trigger>", "who started it: the API, the schedule, or object-change events").choices([
      "api",
      "cron",
      "event",
    ]),
  )
  .option("--template <name>", "only the backups of this backup template (default: the built-in one)")
  .option("--limit <n>", "backups per page (1-100)", wholeNumber("--limit", 1, 100))
  .option("--cursor <cursor>", "the page after this cursor");

command("status", "a backup's status", async (client, options, id) => {
  if (options.watch) {
    const finished = await watchBackup(client, id, watching(options));
    show(options, { backup: finished }, backupDetails(finished));
    return exitCodeOfBackup(finished);
  }
  const { backup } = await client.get(`/backup/status/${encodeURIComponent(id)}`);
  show(options, { backup }, backupDetails(backup));
})
  .argument("<id>", "backup id")
  .option("--watch", "follow it with a progress bar until it ends; exit 1 unless it completed");

command("job", "a verify, restore or cleanup job's status", async (client, options, id) => {
  if (options.watch) return finishJob(client, options, id);
  const { job } = await client.get(`/backup/jobs/${encodeURIComponent(id)}`);
  show(options, { job }, jobDetails(job));
})
  .argument("<id>", "job id")
  .option("--watch", "follow it until it ends; exit 1 unless it ended well");

async function finishJob(client, options, id) {
  const job = await watchJob(client, id, watching(options));
  show(options, { job }, jobDetails(job));
  return exitCodeOfJob(job);
}

async function startJob(client, options, path, body) {
  const { job } = await client.post(path, body);
  if (!options.wait)
    return show(options, { job }, `Started ${job.kind} job ${job.id} (r2-backup job ${job.id} --watch).`);
  return finishJob(client, options, job.id);
}

command("verify", "verify a backup's content by SHA-256", (client, options, id) =>
  startJob(client, options, `/backup/verify/${encodeURIComponent(id)}`, {
    mode: options.mode,
    copy: options.copy,
    ...(options.sample ? { samplePercent: options.sample } : {}),
  }),
)
  .argument("<id>", "backup id")
  .addOption(
    new Option(
      "--mode <mode>",
      "full reads every blob and checks its SHA-256; quick checks that every blob exists with its size",
    )
      .choices(["full", "quick"])
      .default("full"),
  )
  .option(
    "--sample <percent>",
    "check only this percent of the objects, in either mode (1-100); successive samples move on, so they cover every object",
    wholeNumber("--sample", 1, 100),
  )
  .addOption(
    new Option("--copy <copy>", "which copy to check: the backup bucket's or the replica's")
      .choices(["primary", "replica"])
      .default("primary"),
  )
  .option("--wait", "wait for the result; exit 1 when it is invalid");

command("restore", "restore a backup's snapshot into the source bucket", (client, options, id) => {
  const filters = {};
  if (options.prefix) filters.pathPrefix = options.prefix;
  if (options.ext)
    filters.fileExtensions = options.ext
      .split(",")
      .map((e) => e.trim())
      .filter(Boolean);
  if (options.since || options.until)
    filters.dateRange = {
      ...(options.since ? { start: options.since } : {}),
      ...(options.until ? { end: options.until } : {}),
    };
  if (options.include.length) filters.include = options.include;
  if (options.exclude.length) filters.exclude = options.exclude;
  if (options.minSize !== undefined || options.maxSize !== undefined)
    filters.sizeRange = {
      ...(options.minSize !== undefined ? { min: options.minSize } : {}),
      ...(options.maxSize !== undefined ? { max: options.maxSize } : {}),
    };
  if (options.type.length) filters.contentTypes = options.type;
  return startJob(client, options, `/backup/restore/${encodeURIComponent(id)}`, {
    filters,
    ...(options.targetPrefix ? { targetPrefix: options.targetPrefix } : {}),
    overwriteExisting: Boolean(options.overwrite),
    verifyAfterRestore: Boolean(options.verify),
    dryRun: Boolean(options.dryRun),
  });
})
  .argument("<id>", "backup id")
  .option("--prefix <prefix>", "only keys under this prefix")
  .option("--ext <list>", "only these extensions, comma-separated (pdf,csv)")
  .option("--since <date>", "only objects modified on or after (YYYY-MM-DD or ISO time)")
  .option("--until <date>", "only objects modified on or before (YYYY-MM-DD or ISO time)")
  .option("--include <glob>", "only keys this glob matches (repeatable: any of them)", collect, [])
  .option("--exclude <glob>", "leave out keys this glob matches (repeatable; wins over --include)", collect, [])
  .option(
    "--min-size <bytes>",
    "only objects of at least this size",
    wholeNumber("--min-size", 0, Number.MAX_SAFE_INTEGER),
  )
  .option(
    "--max-size <bytes>",
    "only objects of at most this size",
    wholeNumber("--max-size", 0, Number.MAX_SAFE_INTEGER),
  )
  .option("--type <type>", "only this content type, image/* for a whole type (repeatable)", collect, [])
  .option("--target-prefix <prefix>", "restore under this prefix instead of the original keys")
  .option("--overwrite", "replace objects that exist (otherwise they are skipped)")
  .option("--verify", "check every restored object by SHA-256")
  .option("--dry-run", "write nothing; list what would be written")
  .option("--wait", "wait for the result; exit 1 if it failed or any object failed");

/** A legal hold placed (POST) or its release asked for (DELETE); prints the backup with its hold. */
async function changeHold(client, options, method, id) {
  const path = `/backup/hold/${encodeURIComponent(id)}`;
  const { backup } =
    method === "POST"
      ? await client.post(path, options.reason ? { reason: options.reason } : {})
      : await client.delete(path);
  show(options, { backup }, backupDetails(backup));
}

command("hold", "place a legal hold on a backup (admin): it never expires until released", (client, options, id) =>
  changeHold(client, options, "POST", id),
)
  .argument("<id>", "backup id")
  .option("--reason <text>", "why (kept with the hold and in the backup's log)");

command(
  "release",
  "ask for a legal hold's release (admin): it takes effect after the deployment's delay",
  (client, options, id) => changeHold(client, options, "DELETE", id),
).argument("<id>", "backup id");

command("cancel", "cancel a running backup or job", async (client, options, id) => {
  const answer = await client.post(`/backup/cancel/${encodeURIComponent(id)}`);
  const work = answer.backup ?? answer.job;
  show(options, answer, `Cancelling ${work.id}: it stops at its next step.`);
}).argument("<id>", "backup or job id");

/**
 * A paged listing: one page (with the cursor of the next), or with --all every page as one
 * answer. `path(cursor)` is the request; `field` names the list in the answer.
 */
async function listing(client, options, path, field, render) {
  let cursor = options.cursor;
  const items = [];
  do {
    const page = await client.get(path(cursor));
    items.push(...page[field]);
    cursor = page.nextCursor;
    if (!options.all) {
      show(options, page, `${render(page[field])}${cursor ? `\n(more: --cursor ${cursor}, or --all)` : ""}`);
      return;
    }
  } while (cursor);
  show(options, { [field]: items, nextCursor: null }, render(items));
}

command("files", "the objects of a backup's snapshot, in key order", (client, options, id) =>
  listing(
    client,
    options,
    (cursor) =>
      `/backup/files/${encodeURIComponent(id)}${query({ prefix: options.prefix, pattern: options.pattern, limit: options.limit, cursor })}`,
    "files",
    fileTable,
  ),
)
  .argument("<id>", "backup id")
  .option("--prefix <prefix>", "only keys under this prefix")
  .option("--pattern <glob>", "only keys this glob matches (* within a segment, ** across, ? one character)")
  .option("--limit <n>", "objects per page (1-1000)", wholeNumber("--limit", 1, 1000))
  .option("--cursor <cursor>", "the page after this cursor")
  .option("--all", "every page");

command(
  "get",
  "download one object as it was in a backup, checked by its SHA-256",
  async (client, options, id, key) => {
    const output = options.output ?? fileNameOf(key);
    const got = await downloadObject(client, id, key, output);
    // On stdout the content is the output; what was written goes to stderr.
    const said = `${key}: ${bytes(got.size)}, SHA-256 ${got.sha256}${got.file ? ` -> ${got.file}` : ""}`;
    if (got.file) show(options, got, said);
    else console.error(said);
  },
)
  .argument("<id>", "backup id")
  .argument("<key>", "the object's key")
  .option("-o, --output <file>", "where to write it (- for stdout; default: the key's file name here)");

command("history", "every version of one key across the kept backups, newest first", (client, options, key) =>
  listing(
    client,
    options,
    (cursor) => `/backup/history${query({ key, bucket: options.bucket, limit: options.limit, cursor })}`,
    "versions",
    versionTable,
  ),
)
  .argument("<key>", "the object's key")
  .option("--bucket <name>", "the source bucket (default: the service's)")
  .option("--limit <n>", "versions per page (1-100)", wholeNumber("--limit", 1, 100))
  .option("--cursor <cursor>", "the page after this cursor")
  .option("--all", "every page");

command(
  "diff",
  "what changed from one backup's snapshot to another's (same bucket), in key order",
  (client, options, from, to) =>
    listing(
      client,
      options,
      (cursor) => `/backup/diff${query({ from, to, prefix: options.prefix, limit: options.limit, cursor })}`,
      "changes",
      changeTable,
    ),
)
  .argument("<from>", "the older backup's id")
  .argument("<to>", "the newer backup's id")
  .option("--prefix <prefix>", "only keys under this prefix")
  .option("--limit <n>", "changes per page (1-1000)", wholeNumber("--limit", 1, 1000))
  .option("--cursor <cursor>", "the page after this cursor")
  .option("--all", "every page");

command("logs", "a backup's or job's log, oldest first", async (client, options, id) => {
  const path = (cursor) =>
    `/backup/logs/${encodeURIComponent(id)}${query({ level: options.level, limit: 1000, cursor })}`;
  let printed = 0;
  const print = (logs) => {
    printed += logs.length;
    if (logs.length)
      options.json ? logs.forEach((log) => console.log(JSON.stringify(log))) : console.log(logLines(logs));
  };
  // The last page is read again until the work ends, printing only what is new on it.
  let cursor;
  let printedOnPage = 0;
  for (;;) {
    // Asked before the page is read, so that the page read after the work ended holds its last
    // lines (asked after, an end between the two reads lost them).
    const ended = !options.follow || (await hasEnded(client, id));
    const page = await client.get(path(cursor));
    print(page.logs.slice(printedOnPage));
    if (page.nextCursor) {
      cursor = page.nextCursor;
      printedOnPage = 0;
      continue;
    }
    printedOnPage = page.logs.length;
    if (ended) {
      if (printed === 0 && !options.json)
        console.log(options.level ? `No log lines at ${options.level} or above.` : "No log lines.");
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
})
  .argument("<id>", "backup or job id")
  .addOption(new Option("--level <level>", "this level and above").choices(["info", "warn", "error"]))
  .option("--follow", "keep printing new entries until the backup or job ends (--json: one object per line)");

/** Whether the backup or job `id` has ended (a backup id is tried first). */
async function hasEnded(client, id) {
  const running = (status) => status === "pending" || status === "in_progress";
  try {
    return !running((await client.get(`/backup/status/${encodeURIComponent(id)}`)).backup.status);
  } catch (error) {
    if (!(error instanceof CliError) || error.exitCode !== EXIT.badInput) throw error;
    return !running((await client.get(`/backup/jobs/${encodeURIComponent(id)}`)).job.status);
  }
}

command("stats", "statistics and health", async (client, options) => {
  const stats = await client.get("/backup/stats");
  show(options, stats, statsDetails(stats));
});

command("alerts", "alerts, newest first", async (client, options) => {
  const page = await client.get(`/backup/alerts${query({ state: options.state, limit: options.limit })}`);
  show(options, page, page.alerts.length ? alertTable(page.alerts) : "No alerts.");
})
  .addOption(new Option("--state <state>").choices(["open", "resolved"]))
  .option("--limit <n>", "alerts (1-100)", wholeNumber("--limit", 1, 100));

/** A mass_change alert's resolution asked for (POST) or cancelled (DELETE); prints the alert. */
async function changeResolution(client, options, method, id) {
  const path = `/backup/alerts/${encodeURIComponent(id)}/resolve`;
  const { alert } = method === "POST" ? await client.post(path) : await client.delete(path);
  show(options, { alert }, alertTable([alert]));
}

command(
  "resolve",
  "resolve a mass_change alert (admin): it takes effect after the deployment's delay, lifting its hold",
  (client, options, id) => changeResolution(client, options, "POST", id),
).argument("<alert-id>", "alert id");

command("unresolve", "cancel a mass_change alert's pending resolution (admin)", (client, options, id) =>
  changeResolution(client, options, "DELETE", id),
).argument("<alert-id>", "alert id");

command("cleanup", "expire backups by the retention policy and collect unreferenced blobs", (client, options) => {
  const keep = Object.fromEntries(
    [
      ["last", options.keepLast],
      ["daily", options.keepDaily],
      ["weekly", options.keepWeekly],
      ["monthly", options.keepMonthly],
    ].filter(([, value]) => value !== undefined),
  );
  return startJob(client, options, "/backup/cleanup", {
    dryRun: Boolean(options.dryRun),
    ...(options.template ? { template: options.template } : {}),
    ...(options.retentionDays !== undefined ? { retentionDays: options.retentionDays } : {}),
    ...(Object.keys(keep).length ? { keep } : {}),
  });
})
  .option("--dry-run", "report what would be expired and deleted; change nothing")
  .option(
    "--template <name>",
    "the backups of this backup template, by its rules unless given (default: the default template's)",
  )
  .option("--retention-days <days>", "keep backups younger than this", wholeNumber("--retention-days", 0, 3650))
  .option("--keep-last <n>", "keep the newest n", wholeNumber("--keep-last", 0, 10_000))
  .option("--keep-daily <n>", "keep the newest of each of the last n days", wholeNumber("--keep-daily", 0, 10_000))
  .option("--keep-weekly <n>", "… weeks", wholeNumber("--keep-weekly", 0, 10_000))
  .option("--keep-monthly <n>", "… months", wholeNumber("--keep-monthly", 0, 10_000))
  .option("--wait", "wait for the result");

// Signs locally; no server call, so it is not registered with `command`.
program
  .command("token")
  .description("print a token signed with the local JWT_SECRET (.dev.vars): local development only")
  .option("--scope <scopes>", "space-separated scopes", "backup:admin")
  .option("--sub <name>", "the subject recorded as requestedBy", "local-admin")
  .option("--ttl <seconds>", "lifetime", wholeNumber("--ttl", 1, 31 * 24 * 3600), 3600)
  .action(async (options) =>
    console.log(await signLocalToken({ scope: options.scope, sub: options.sub, ttl: options.ttl })),
  );

// `r2-backup list --json | head`: a reader that stops early is not an error.
process.stdout.on("error", (error) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? EXIT.ok);
  throw error;
});

try {
  await program.parseAsync();
} catch (error) {
  if (error instanceof CommanderError) process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.badInput;
  else if (error instanceof CliError) {
    console.error(`r2-backup: ${error.message}`);
    process.exitCode = error.exitCode;
  } else {
    console.error(`r2-backup: ${error.stack ?? error}`);
    process.exitCode = EXIT.serverError;
  }
}
