/**
 * The command-line client (`npx r2-backup`, scripts/cli/) run as a process against a real local
 * server: every command, --json, the documented exit codes, the server's messages as they are.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalServer, type LocalServer } from "../helpers/local-server";

const EXIT = { ok: 0, jobFailed: 1, badInput: 2, auth: 3, unreachable: 4, stillRunning: 6 };

let server: LocalServer;
let adminToken: string;

beforeAll(async () => {
  // Five objects a step: a backup of these 300 objects takes 60 steps, long enough to be watched,
  // given up on (--max-wait) and cancelled while it runs; verify and restore are not slowed.
  // mass_change from 20 changed objects on: the holds test rewrites a third of the bucket, and
  // backs it up itself (no event backup starts on those writes).
  server = await startLocalServer({
    files: 300,
    vars: {
      BACKUP_BATCH_SIZE: "5",
      BACKUP_ALERT_MASS_CHANGE_MIN_OBJECTS: "20",
      BACKUP_EVENT_THRESHOLD: "10000",
      BACKUP_EVENT_MAX_DELAY_SECONDS: "86400",
    },
  });
  adminToken = await server.token("backup:admin", { subject: "cli-test" });
}, 180_000);

afterAll(async () => {
  await server?.stop();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (the client printed the API's answer). */
  json: () => any;
}

/** Runs a script of the project with this Node, collecting what it prints. */
function runScript(args: string[], env: Record<string, string | undefined> = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr, json: () => JSON.parse(stdout) }));
  });
}

/** Runs the client with the server and an admin token in its environment (unless overridden). */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return runScript(["scripts/cli/r2-backup.mjs", ...args], {
    ...process.env,
    R2_BACKUP_URL: server.url,
    R2_BACKUP_TOKEN: adminToken,
    ...env,
  });
}

describe("r2-backup", () => {
  let backupId: string;

  it("prints a local token the server accepts", async () => {
    const token = (await cli(["token", "--scope", "backup:read", "--sub", "robot"])).stdout.trim();
    const listed = await cli(["list", "--json"], { R2_BACKUP_TOKEN: token });
    expect(listed.code).toBe(EXIT.ok);
    expect(listed.json()).toEqual({ backups: [], nextCursor: null });
  });

  it("creates a full backup and waits for it, the result on stdout and progress on stderr", async () => {
    const created = await cli(["create", "--type", "full", "--wait", "--json"]);
    expect(created.code, created.stderr).toBe(EXIT.ok);
    const { backup } = created.json();
    expect(backup).toMatchObject({
      status: "completed",
      type: "full",
      requestedBy: "cli-test",
      snapshotFileCount: 300,
    });
    backupId = backup.id;
    const table = await cli(["status", backupId]);
    expect(table.stdout).toMatch(/status:\s+completed/);
    expect(table.stdout).toMatch(/template:\s+default/);
    expect(table.stdout).toMatch(/snapshot:\s+300 objects/);
    const watched = await cli(["status", backupId, "--watch"]);
    expect(watched.code).toBe(EXIT.ok);
    expect(watched.stderr).toMatch(/completed\s+\[#{24}\] 100 %\s+300 objects/);
    expect(watched.stdout).toMatch(/status:\s+completed/);
  });

  it("lists backups as a table and as JSON", async () => {
    const table = await cli(["list"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+STATUS\s+TYPE\s+TRIGGER\s+TEMPLATE/);
    expect(table.stdout).toMatch(new RegExp(`${backupId}\\s+completed\\s+full\\s+api\\s+default`));
    expect(
      (await cli(["list", "--template", "default", "--json"])).json().backups.map((b: { id: string }) => b.id),
    ).toEqual([backupId]);
    expect((await cli(["list", "--template", "nope", "--json"])).json().backups).toEqual([]);
    expect((await cli(["list", "--status", "failed", "--json"])).json().backups).toEqual([]);
  });

  it("lists a snapshot's files under a prefix, every page with --all", async () => {
    const first = (await cli(["files", backupId, "--limit", "5", "--json"])).json();
    expect(first.files).toHaveLength(5);
    expect(first.nextCursor).toEqual(expect.any(String));
    const all = (await cli(["files", backupId, "--all", "--limit", "150", "--json"])).json();
    expect(all.files).toHaveLength(300);
    const prefix = all.files[0].path.split("/")[0] + "/";
    const under = (await cli(["files", backupId, "--prefix", prefix, "--all", "--json"])).json().files;
    expect(under.length).toBeGreaterThan(0);
    expect(under.every((f: { path: string }) => f.path.startsWith(prefix))).toBe(true);
  });

  it("previews and runs a restore, and verifies", async () => {
    const files = (await cli(["files", backupId, "--all", "--json"])).json().files as { path: string }[];
    const prefix = files[0]!.path.split("/")[0] + "/";
    const expected = files.filter((f) => f.path.startsWith(prefix)).map((f) => `copy/${f.path}`);
    const preview = await cli([
      "restore",
      backupId,
      "--prefix",
      prefix,
      "--target-prefix",
      "copy/",
      "--dry-run",
      "--wait",
      "--json",
    ]);
    expect(preview.code, preview.stderr).toBe(EXIT.ok);
    expect(preview.json().job.result).toMatchObject({ dryRun: true, filesRestored: expected.length });
    expect(preview.json().job.result.planned.sort()).toEqual(expected.sort());

    const restored = await cli([
      "restore",
      backupId,
      "--prefix",
      prefix,
      "--target-prefix",
      "copy/",
      "--verify",
      "--wait",
    ]);
    expect(restored.code, restored.stderr).toBe(EXIT.ok);
    expect(restored.stdout).toContain(`filesRestored=${expected.length}`);
    expect(restored.stdout).toContain("verifyFailures=0");

    const verified = await cli(["verify", backupId, "--mode", "quick", "--sample", "10", "--wait", "--json"]);
    expect(verified.code, verified.stderr).toBe(EXIT.ok);
    expect(verified.json().job.result.valid).toBe(true);
    // What help says is what runs: --sample samples in either mode; quick checks existence and size.
    const help = (await cli(["verify", "--help"])).stdout.replace(/\s+/g, " ");
    expect(help).toMatch(/quick checks that every blob exists with its size/);
    expect(help).toMatch(/--sample <percent> check only this percent of the objects, in either mode/);
    const sampled = await cli(["verify", backupId, "--sample", "10", "--wait"]);
    expect(sampled.code, sampled.stderr).toBe(EXIT.ok);
    expect(sampled.stdout).toMatch(/mode=full/);
    expect(sampled.stdout).toMatch(/sample=\{"percent":10/);
    expect(sampled.stdout).not.toContain("[object Object]");
  });

  it("prints logs, filtered by level, and follows them until the work ends", async () => {
    const logs = await cli(["logs", backupId, "--level", "info"]);
    expect(logs.stdout).toContain("Backup completed");
    const quiet = await cli(["logs", backupId, "--level", "error"]);
    expect(quiet.code).toBe(EXIT.ok);
    expect(quiet.stdout).toBe("No log lines at error or above.\n");
    const started = (await cli(["create", "--type", "incremental", "--json"])).json().backup.id;
    const followed = await cli(["logs", started, "--follow", "--json"]);
    expect(followed.code, followed.stderr).toBe(EXIT.ok);
    const lines = followed.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { message: string });
    expect(lines[0]!.message).toMatch(/Incremental backup .* started/);
    expect(lines.at(-1)!.message).toMatch(/Backup completed|Alerts checked/);
    expect(new Set(lines.map((l) => JSON.stringify(l))).size).toBe(lines.length); // nothing printed twice
  });

  it("diffs two backups: the keys the restore added, as a table and as JSON", async () => {
    const [newer, older] = (await cli(["list", "--status", "completed", "--json"])).json().backups;
    expect(older.id).toBe(backupId);
    const all = (await cli(["diff", older.id, newer.id, "--all", "--limit", "7", "--json"])).json();
    expect(all.nextCursor).toBeNull();
    expect(all.changes.length).toBeGreaterThan(7);
    expect(
      all.changes.every((c: { change: string; path: string }) => c.change === "added" && c.path.startsWith("copy/")),
    ).toBe(true);
    const table = await cli(["diff", older.id, newer.id, "--limit", "2"]);
    expect(table.code, table.stderr).toBe(EXIT.ok);
    expect(table.stdout.split("\n")[0]).toMatch(/^CHANGE\s+PATH\s+BEFORE\s+AFTER/);
    expect(table.stdout).toMatch(/^added\s+copy\/\S+\s+-\s+\d/m);
    expect(table.stdout).toContain("(more: --cursor ");
    expect((await cli(["diff", newer.id, newer.id])).stdout).toBe("No changes.\n");
  });

  it("shows stats and alerts, and previews a cleanup", async () => {
    const stats = await cli(["stats", "--json"]);
    expect(stats.json()).toMatchObject({ completedBackups: 2, consecutiveFailures: 0 });
    expect((await cli(["stats"])).stdout).toMatch(/success rate:\s+100 %/);
    expect((await cli(["alerts"])).stdout).toBe("No alerts.\n");
    const cleanup = await cli([
      "cleanup",
      "--dry-run",
      "--retention-days",
      "0",
      "--keep-last",
      "1",
      "--wait",
      "--json",
    ]);
    expect(cleanup.code, cleanup.stderr).toBe(EXIT.ok);
    expect(cleanup.json().job.result).toMatchObject({ dryRun: true, backupsExpired: 1, backupIdsExpired: [backupId] });
    expect((await cli(["status", backupId, "--json"])).json().backup.status).toBe("completed"); // a dry run changes nothing
    const printed = await cli(["cleanup", "--dry-run", "--retention-days", "0", "--keep-last", "1", "--wait"]);
    expect(printed.stdout).toMatch(/keep=\{"last":1,/);
    expect(printed.stdout).toMatch(/waitingForGrace=\{"objects":\d+,"bytes":\d+/);
    expect(printed.stdout).not.toContain("[object Object]");
    // A job's own log is served at the same endpoint as a backup's.
    const jobLog = await cli(["logs", cleanup.json().job.id]);
    expect(jobLog.code, jobLog.stderr).toBe(EXIT.ok);
    expect(jobLog.stdout).toMatch(/Dry run of a cleanup complete/);
  });

  it("exits 6 when --max-wait passes first, and 1 when the work it waits for ends cancelled", async () => {
    // 500 more objects (kept for the later tests): a full backup of 800 takes 160 steps, seconds
    // on every machine, so that the cancel below always finds it running (with 300 it once
    // completed between two client processes).
    for (let batch = 0; batch < 5; batch++) {
      const writes = Array.from({ length: 100 }, (_, i) => ({
        key: `bulk/${batch}-${i}.txt`,
        content: `bulk object ${batch}-${i}`,
      }));
      const written = await fetch(`${server.url}/api/dev/source-writes`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ writes }),
      });
      expect(written.status).toBe(200);
    }
    const created = await fetch(`${server.url}/api/backup/create`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "full" }),
    });
    const id = ((await created.json()) as { backup: { id: string } }).backup.id;
    // 0: one look, then give up (a wait of seconds would race the backup on a fast machine).
    const impatient = await cli(["status", id, "--watch", "--max-wait", "0"]);
    expect(impatient.code, impatient.stderr).toBe(EXIT.stillRunning);
    expect(impatient.stderr).toContain(`backup ${id} is still in_progress after 0 s; it goes on in the background`);
    const cancelled = await cli(["cancel", id]);
    expect(cancelled.code, cancelled.stderr).toBe(EXIT.ok);
    const watched = await cli(["status", id, "--watch", "--json"]);
    expect(watched.json().backup.status).toBe("cancelled");
    expect(watched.code).toBe(EXIT.jobFailed);
    // A cancelled backup ends with its figures, never a full bar; while it ran, never 100 %.
    const shown = await cli(["status", id, "--watch"]);
    expect(shown.code).toBe(EXIT.jobFailed);
    expect(shown.stderr).toMatch(/cancelled\s+\d+ objects/);
    expect(shown.stderr).not.toContain("100 %");
    expect(impatient.stderr).not.toContain("100 %");
  });

  it("exits 2 for input the client or the server refuses, printing the server's message as is", async () => {
    const badFlag = await cli(["list", "--limit", "1000"]);
    expect(badFlag.code).toBe(EXIT.badInput);
    expect(badFlag.stderr).toContain("--limit must be a whole number from 1 to 100");
    const badDate = await cli(["restore", backupId, "--since", "2026-02-30"]);
    expect(badDate.code).toBe(EXIT.badInput);
    expect(badDate.stderr).toContain("validation_failed: ");
    expect(badDate.stderr).toContain("is not a valid date: 2026-02-30");
    const unknown = await cli(["status", "bk-nope"]);
    expect(unknown.code).toBe(EXIT.badInput);
    expect(unknown.stderr).toMatch(/^r2-backup: not_found: /);
    const finished = await cli(["cancel", backupId]);
    expect(finished.code).toBe(EXIT.badInput);
    expect(finished.stderr).toContain("conflict");
    // No replica is bound on this server: both replica commands are refused by the server, as it says.
    const replicate = await cli(["replicate", backupId]);
    expect(replicate.code).toBe(EXIT.badInput);
    expect(replicate.stderr).toContain("No replica is configured");
    const verifyReplica = await cli(["verify", backupId, "--copy", "replica"]);
    expect(verifyReplica.code).toBe(EXIT.badInput);
    expect(verifyReplica.stderr).toContain("no replica is configured");
    expect((await cli(["create", "--template", "nope"])).stderr).toContain("No backup template named nope");
  });

  it("lists backup templates, the built-in default first", async () => {
    const listed = await cli(["templates", "--json"]);
    expect(listed.code, listed.stderr).toBe(EXIT.ok);
    expect(listed.json().templates[0]).toMatchObject({ name: "default", builtIn: true, bucketName: "cutty-files" });
    const table = await cli(["templates"]);
    expect(table.stdout).toMatch(/^default\s+cutty-files \(R2_BUCKET\) daily keep 30d/);
  });

  it("exits 3 without a token, with a refused one, and without the scope", async () => {
    expect((await cli(["list"], { R2_BACKUP_TOKEN: undefined })).code).toBe(EXIT.auth);
    const forged = await cli(["list"], { R2_BACKUP_TOKEN: `${adminToken.slice(0, -4)}AAAA` });
    expect(forged.code).toBe(EXIT.auth);
    expect(forged.stderr).toContain("unauthorized");
    const readOnly = await server.token("backup:read");
    const refused = await cli(["create"], { R2_BACKUP_TOKEN: readOnly });
    expect(refused.code).toBe(EXIT.auth);
    expect(refused.stderr).toContain("backup:write");
  });

  it("the scripts: --help prints the usage, an unknown option is one line and exit 2, and the seed refuses while the server uses its state", async () => {
    const help = await runScript(["scripts/seed.mjs", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npm run seed -- \[options\]/);
    const unknown = await runScript(["scripts/token.mjs", "--bogus"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split("\n")).toHaveLength(1);
    expect(unknown.stderr).toContain("Unknown option '--bogus'");
    const seed = await runScript(["scripts/seed.mjs", "--files", "1", "--persist", `${server.state}/v3`]);
    expect(seed.code).toBe(2);
    expect(seed.stderr).toMatch(/The local server \(npm start, pid \d+, port \d+\) is using .*: stop it first/);
  });

  it("finds a key by glob, lists its versions, downloads it checked, and refuses a damaged copy over HTTP", async () => {
    const [newer] = (await cli(["list", "--status", "completed", "--json"])).json().backups;
    const files = (await cli(["files", backupId, "--all", "--json"])).json().files as { path: string; size: number }[];
    const one = files.find((f) => f.size > 0)!;
    const folder = one.path.split("/")[0];
    const glob = `${folder}/**`;
    const found = (await cli(["files", backupId, "--pattern", glob, "--all", "--json"])).json().files;
    expect(found.map((f: { path: string }) => f.path)).toEqual(
      files.filter((f) => f.path.startsWith(`${folder}/`)).map((f) => f.path),
    );

    const versions = (await cli(["history", one.path, "--json"])).json().versions;
    expect(versions).toEqual([expect.objectContaining({ firstBackupId: backupId, lastBackupId: newer.id })]);
    expect((await cli(["history", one.path])).stdout).toMatch(/^SHA-256\s+SIZE\s+MODIFIED\s+IN BACKUPS\s+DELETED/);

    const dir = await mkdtemp(join(tmpdir(), "r2-backup-get-"));
    const file = join(dir, "copy.bin");
    const got = await cli(["get", backupId, one.path, "-o", file, "--json"]);
    expect(got.code, got.stderr).toBe(EXIT.ok);
    const bytes = await readFile(file);
    expect(got.json()).toMatchObject({ size: one.size, sha256: createHash("sha256").update(bytes).digest("hex") });
    expect(bytes.length).toBe(one.size);
    const toStdout = await cli(["get", backupId, one.path, "-o", "-"]);
    expect([toStdout.code, toStdout.stdout.length > 0]).toEqual([EXIT.ok, true]);
    expect(toStdout.stderr).toContain(`${one.path}: `);

    // Altered in place (same size and metadata): the server ends the transfer short of its
    // Content-Length, the client says so (exit 5) and leaves no file behind.
    const damage = await fetch(`${server.url}/api/dev/damage`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ backupId, key: one.path, how: "alter" }),
    });
    expect(damage.status).toBe(200);
    const damagedFile = join(dir, "damaged.bin");
    const refused = await cli(["get", backupId, one.path, "-o", damagedFile]);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain(`the download of ${one.path} broke off`);
    expect(await readdir(dir)).toEqual(["copy.bin"]);
    const errors = (await cli(["logs", backupId, "--level", "error", "--json"])).stdout;
    expect(errors).toContain("does not match its checksum");
    await rm(dir, { recursive: true, force: true });
  });

  it("places and releases a legal hold, and resolves a mass_change alert and cancels that", async () => {
    const held = await cli(["hold", backupId, "--reason", "audit 7"]);
    expect(held.code, held.stderr).toBe(EXIT.ok);
    expect(held.stdout).toMatch(/legal hold:\s+since \S+ by cli-test \(audit 7\)/);
    const released = await cli(["release", backupId, "--json"]);
    expect(released.json().backup.hold).toMatchObject({ by: "cli-test", releaseAt: expect.any(String) });
    expect((await cli(["hold", backupId, "--json"])).json().backup.hold.releaseAt).toBeNull();

    // Three ordinary backups, then a third of the bucket rewritten before one more.
    const backup = async () => {
      const run = await cli(["create", "--type", "incremental", "--wait", "--json"]);
      expect(run.code, run.stderr).toBe(EXIT.ok);
      return run.json().backup.id as string;
    };
    for (let i = 0; i < 3; i++) await backup();
    const [newest] = (await cli(["list", "--status", "completed", "--json"])).json().backups;
    const files = (await cli(["files", newest.id, "--all", "--json"])).json().files as { path: string }[];
    const rewritten = files.slice(0, Math.ceil(files.length / 3)).map((f) => f.path);
    for (let at = 0; at < rewritten.length; at += 100) {
      const writes = rewritten.slice(at, at + 100).map((key) => ({ key, content: `encrypted: ${key}` }));
      const answer = await fetch(`${server.url}/api/dev/source-writes`, {
        method: "POST",
        headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ writes }),
      });
      expect(answer.status).toBe(200);
    }
    const attack = await backup();

    // The alerts are checked just after the backup's end is recorded: wait for that check.
    type Alert = { id: string; code: string; details: { backupId: string } };
    const massChange = async () =>
      ((await cli(["alerts", "--state", "open", "--json"])).json().alerts as Alert[]).find(
        (a) => a.code === "mass_change",
      );
    await expect.poll(massChange, { timeout: 15_000, interval: 500 }).toBeDefined();
    const alert = (await massChange())!;
    expect(alert.details.backupId).toBe(attack);
    expect((await cli(["alerts", "--state", "open"])).stdout).toMatch(
      new RegExp(`open\\s+${alert.id}\\s+Backup ${attack}`),
    );
    const resolving = await cli(["resolve", alert.id]);
    expect(resolving.code, resolving.stderr).toBe(EXIT.ok);
    expect(resolving.stdout).toMatch(new RegExp(`open; resolves \\S+\\s+${alert.id}`));
    const kept = await cli(["unresolve", alert.id, "--json"]);
    expect(kept.json().alert).toMatchObject({ id: alert.id, resolution: null, resolvedAt: null });
    const again = await cli(["unresolve", alert.id]);
    expect([again.code, again.stderr]).toEqual([EXIT.badInput, expect.stringContaining("has no resolution pending")]);
  });

  it("exits 4 when the server is unreachable or does not answer in time", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await cli(["list", "--url", `http://127.0.0.1:${closedPort}`]);
    expect(refused.code).toBe(EXIT.unreachable);
    expect(refused.stderr).toContain("unreachable");

    // A loopback listener that accepts and never answers.
    const silent: Server = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const silentPort = (silent.address() as { port: number }).port;
    const timedOut = await cli(["list", "--url", `http://127.0.0.1:${silentPort}`, "--timeout", "300"]);
    silent.close();
    expect(timedOut.code).toBe(EXIT.unreachable);
    expect(timedOut.stderr).toContain("no answer within 300 ms");
  });
});
