/**
 * The edges of the HTTP contract that every endpoint shares: an optional create body, one rule
 * for unknown query parameters, HEAD, `nosniff`, logs served for jobs as well as backups, the
 * refusal of an expired backup's snapshot, and the local-development routes' input checks.
 */
import { env } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { putObjects } from "../helpers/buckets";
import { completedBackup, verify } from "../helpers/flows";
import { cleanupJobStub, runBackupToEnd, runJobToEnd } from "../helpers/jobs";
import { mintToken } from "../helpers/tokens";

async function raw(method: string, path: string, token: string | null = null): Promise<Response> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return exports.default.fetch(new Request(`http://backup.test${path}`, { method, headers }));
}

describe("creating a backup", () => {
  for (const [name, rawBody] of [
    ["no body", undefined],
    ["an empty object", "{}"],
  ] as const) {
    it(`takes ${name} as an automatic backup of the default template`, async () => {
      await putObjects([{ key: "a.txt", body: "a" }]);
      const created = await api("POST", "/api/backup/create", rawBody === undefined ? {} : { rawBody });
      expect(created.status, JSON.stringify(created.body)).toBe(202);
      // `auto` with no parent resolves to full, of the default template.
      expect(created.body.backup).toMatchObject({ type: "full", bucketName: "cutty-files", template: "default" });
      await runBackupToEnd(created.body.backup.id);
      const next = await api("POST", "/api/backup/create", { rawBody: "{}" });
      expect(next.body.backup.type).toBe("incremental");
    });
  }
});

describe("query parameters", () => {
  const everyGet = [
    "/api/health",
    "/api/openapi.json",
    "/api/backup/stats",
    "/api/backup/status/bk-20260101T000000Z-00000000",
    "/api/backup/jobs/job-nope",
    "/api/backup/templates",
    "/api/backup/templates/default",
    "/api/backup/list",
    "/api/backup/alerts",
    "/api/backup/audit",
    "/api/backup/logs/bk-20260101T000000Z-00000000",
    "/api/backup/files/bk-20260101T000000Z-00000000",
  ];
  it.each(everyGet)("an unknown one is 400 on GET %s", async (path) => {
    const response = await api("GET", `${path}?verbose=1`);
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({
      code: "validation_failed",
      message: expect.stringContaining("verbose"),
    });
  });

  it("an unknown one is 400 on a POST, and nothing starts", async () => {
    const response = await api("POST", "/api/backup/create?type=full", { body: { type: "full" } });
    expect(response.status).toBe(400);
    expect((await api("GET", "/api/backup/list")).body.backups).toEqual([]);
  });
});

describe("every answer", () => {
  it("answers HEAD as GET, with the same status and headers and no body", async () => {
    const token = await mintToken({ scope: "backup:read" });
    for (const [path, withToken, status] of [
      ["/api/health", false, 200],
      ["/api/openapi.json", false, 200],
      ["/api/backup/list", true, 200],
      ["/api/backup/list", false, 401],
      ["/api/backup/status/nope", true, 404],
      ["/api/backup/create", true, 405],
    ] as const) {
      const head = await raw("HEAD", path, withToken ? token : null);
      expect([path, head.status]).toEqual([path, status]);
      expect(await head.text()).toBe("");
      if (status !== 405) {
        const get = await raw("GET", path, withToken ? token : null);
        expect(head.headers.get("content-type")).toBe(get.headers.get("content-type"));
        expect(head.headers.get("content-length")).toBe(get.headers.get("content-length"));
      }
    }
  });

  it("carries X-Content-Type-Options: nosniff, errors included", async () => {
    for (const [path, status] of [
      ["/api/health", 200],
      ["/api/backup/list", 401],
      ["/api/nothing", 404],
    ] as const) {
      const response = await raw("GET", path);
      expect(response.status).toBe(status);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    }
  });
});

describe("logs", () => {
  it("are served for a job's id as well as a backup's", async () => {
    await putObjects([{ key: "a.txt", body: "a" }]);
    const backup = await completedBackup("full");
    const job = await verify(backup.id);
    const jobLogs = await api("GET", `/api/backup/logs/${job.id}`);
    expect(jobLogs.status).toBe(200);
    expect(jobLogs.body.logs.length).toBeGreaterThan(0);
    expect(jobLogs.body.logs.at(-1).message).toMatch(/^Verification passed/);
    // The backup's own log is not a job's: its first line is the backup's start.
    const backupLogs = (await api("GET", `/api/backup/logs/${backup.id}`)).body.logs;
    expect(backupLogs.length).toBeGreaterThan(jobLogs.body.logs.length);
    expect((await api("GET", `/api/backup/logs/${job.id}?level=error`)).body.logs).toEqual([]);
    const unknown = await api("GET", "/api/backup/logs/job-20260101T000000Z-00000000");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toBe("No backup or job with id job-20260101T000000Z-00000000.");
  });
});

describe("an expired backup", () => {
  it("is refused for files, verify and restore, saying when and by which cleanup it expired", async () => {
    await putObjects([{ key: "a.txt", body: "first" }]);
    const old = await completedBackup("full");
    await putObjects([{ key: "a.txt", body: "second" }]);
    await completedBackup("incremental");
    const started = await api("POST", "/api/backup/cleanup", { body: { retentionDays: 0, keep: { last: 1 } } });
    await runJobToEnd(cleanupJobStub(started.body.job.id));
    expect((await api("GET", `/api/backup/status/${old.id}`)).body.backup.status).toBe("expired");
    const expired = (await env.DB.prepare("SELECT updated_at AS updatedAt FROM r2_backups WHERE id = ?")
      .bind(old.id)
      .first<{ updatedAt: string }>())!;

    for (const [method, path, action] of [
      ["GET", `/api/backup/files/${old.id}`, "listed"],
      ["POST", `/api/backup/verify/${old.id}`, "verified"],
      ["POST", `/api/backup/restore/${old.id}`, "restored"],
    ] as const) {
      const refused = await api(method, path);
      expect(refused.status).toBe(409);
      expect(refused.body.error).toEqual({
        code: "conflict",
        message: `Backup ${old.id} expired at ${expired.updatedAt} (by cleanup ${started.body.job.id}): its snapshot was deleted, so it cannot be ${action}.`,
        details: {
          backupId: old.id,
          status: "expired",
          expiredAt: expired.updatedAt,
          cleanupJobId: started.body.job.id,
        },
      });
    }
  });
});

describe("local-development routes", () => {
  it("refuse a cron time more than a year away and a cron that is no cron expression, firing nothing", async () => {
    for (const [body, message] of [
      [{ time: "9999-01-01T02:00:00Z" }, /time: must be within a year of now/],
      [{ time: new Date().toISOString(), cron: "every day" }, /cron: "every day" is not a cron expression/],
      [{ time: new Date().toISOString(), cron: "0 * * *" }, /not a cron expression/],
      [{ time: new Date().toISOString(), cron: "61 * * * *" }, /not a cron expression/],
    ] as const) {
      const response = await api("POST", "/api/dev/cron", { body });
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: "validation_failed", message: expect.stringMatching(message) });
    }
    expect(
      (await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE actor = 'cron'").first<{ n: number }>())!.n,
    ).toBe(0);
    expect((await env.DB.prepare("SELECT count(*) AS n FROM alerts").first<{ n: number }>())!.n).toBe(0);
  });

  it("refuse a source write whose key is over 1,024 bytes in UTF-8, writing nothing", async () => {
    const key = "é".repeat(600); // 600 characters, 1,200 bytes
    const response = await api("POST", "/api/dev/source-writes", { body: { writes: [{ key, content: "x" }] } });
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/1024 bytes in UTF-8/);
    expect((await env.R2_BUCKET.list()).objects).toEqual([]);
  });

  it("delete the blob of one object of a backup on request, and verify finds it", async () => {
    await putObjects([
      { key: "a.txt", body: "alpha" },
      { key: "b.txt", body: "bravo" },
    ]);
    const backup = await completedBackup("full");
    const missing = await api("POST", "/api/dev/damage", { body: { backupId: backup.id, key: "zzz.txt" } });
    expect(missing.status).toBe(404);
    const damaged = await api("POST", "/api/dev/damage", { body: { backupId: backup.id, key: "b.txt" } });
    expect(damaged.status, JSON.stringify(damaged.body)).toBe(200);
    expect(damaged.body).toEqual({ backupId: backup.id, key: "b.txt", blobDeleted: expect.stringMatching(/^blobs\//) });
    expect(await env.R2_BACKUP_BUCKET.head(damaged.body.blobDeleted)).toBeNull();
    const job = await verify(backup.id);
    expect(job.result).toMatchObject({
      valid: false,
      filesMissing: 1,
      problems: [expect.objectContaining({ path: "b.txt", problem: "missing_blob" })],
    });
  });
});
