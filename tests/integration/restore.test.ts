import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, apiResponse } from "../helpers/api";
import { emptyBucket, listAll, putObjects, sha256Hex, variedObjects } from "../helpers/buckets";
import { completedBackup, restore } from "../helpers/flows";
import { restoreJobStub, runBackupToEnd, runJobToEnd, runStepAndForget } from "../helpers/jobs";

/** The bucket as a comparable value: key, content hash, HTTP and custom metadata. */
async function bucketState(prefix?: string) {
  const state: Record<string, unknown> = {};
  for (const object of await listAll(env.R2_BUCKET, prefix)) {
    const body = await env.R2_BUCKET.get(object.key);
    state[object.key] = {
      sha256: await sha256Hex(await body!.arrayBuffer()),
      http: object.httpMetadata,
      custom: object.customMetadata,
    };
  }
  return state;
}

const OBJECTS = variedObjects(230);

describe("restore", () => {
  it("reproduces the point in time of a full and of an incremental backup, metadata included", async () => {
    await putObjects([...OBJECTS, { key: "cached.txt", body: "cache me" }]);
    await env.R2_BUCKET.put("meta.html", "<p>hi</p>", {
      httpMetadata: {
        contentType: "text/html",
        contentLanguage: "en",
        contentDisposition: "inline",
        cacheControl: "max-age=60",
        cacheExpiry: new Date("2030-01-01T00:00:00Z"),
      },
      customMetadata: { a: "1", b: "two" },
    });
    const atFull = await bucketState();
    const full = await completedBackup("full");

    await putObjects([
      { key: OBJECTS[3]!.key, body: "modified after the full backup" },
      { key: "added/after-full.txt", body: "new" },
    ]);
    await env.R2_BUCKET.delete([OBJECTS[5]!.key, OBJECTS[6]!.key]);
    const atIncremental = await bucketState();
    const incremental = await completedBackup("incremental");
    await putObjects([{ key: "added/after-incremental.txt", body: "later" }]);

    await emptyBucket(env.R2_BUCKET);
    const fromFull = await restore(full.id, { overwriteExisting: true, verifyAfterRestore: true });
    expect(fromFull.result).toMatchObject({
      filesRestored: 232,
      filesSkipped: 0,
      filesFailed: 0,
      verified: 232,
      verifyFailures: 0,
      dryRun: false,
    });
    expect(await bucketState()).toEqual(atFull);

    await emptyBucket(env.R2_BUCKET);
    const fromIncremental = await restore(incremental.id, { overwriteExisting: true });
    expect(fromIncremental.result.filesRestored).toBe(231);
    expect(await bucketState()).toEqual(atIncremental);
  });

  it("applies path, extension and date filters together, and restores under a target prefix", async () => {
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    await emptyBucket(env.R2_BUCKET);
    const today = new Date().toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const keys = OBJECTS.map((o) => o.key);
    const cases: [unknown, string[]][] = [
      [{ pathPrefix: "reports/" }, keys.filter((k) => k.startsWith("reports/"))],
      [{ fileExtensions: [".CSV", "json"] }, keys.filter((k) => /\.(csv|json)$/.test(k))],
      [
        { pathPrefix: "users/", fileExtensions: ["csv"] },
        keys.filter((k) => k.startsWith("users/") && k.endsWith(".csv")),
      ],
      [{ dateRange: { start: today, end: today } }, keys],
      [{ dateRange: { end: yesterday } }, []],
      [
        { dateRange: { start: new Date(Date.now() - 3_600_000).toISOString() }, pathPrefix: "images/" },
        keys.filter((k) => k.startsWith("images/")),
      ],
    ];
    for (const [i, [filters, expected]] of cases.entries()) {
      const targetPrefix = `case-${i}/`;
      const job = await restore(backup.id, { filters, targetPrefix });
      expect(job.result.filesRestored, JSON.stringify(filters)).toBe(expected.length);
      expect((await listAll(env.R2_BUCKET, targetPrefix)).map((o) => o.key)).toEqual(
        expected.map((k) => targetPrefix + k).sort(),
      );
    }
    expect((await listAll(env.R2_BUCKET)).every((o) => o.key.startsWith("case-"))).toBe(true); // originals untouched
  });

  it("plans a dry run without writing anything", async () => {
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    await env.R2_BUCKET.delete(OBJECTS.slice(0, 100).map((o) => o.key));
    const before = await bucketState();
    const job = await restore(backup.id, { dryRun: true });
    expect(job.result).toMatchObject({ dryRun: true, filesRestored: 100, filesSkipped: 130 });
    expect(job.result.planned).toEqual(
      OBJECTS.slice(0, 100)
        .map((o) => o.key)
        .sort(),
    );
    expect(await bucketState()).toEqual(before);
  });

  it("never replaces an existing object without overwriteExisting, even one written during the restore", async () => {
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    const keys = OBJECTS.map((o) => o.key).sort();
    const [existing, writtenDuring] = [keys[10]!, keys[200]!]; // in the first and in the third chunk
    await emptyBucket(env.R2_BUCKET);
    await env.R2_BUCKET.put(existing, "a newer version that must survive");

    const started = await api("POST", `/api/backup/restore/${backup.id}`, { body: { overwriteExisting: false } });
    const stub = restoreJobStub(started.body.job.id);
    await runDurableObjectAlarm(stub); // first chunk
    await env.R2_BUCKET.put(writtenDuring, "written while the restore ran");
    await runJobToEnd(stub);
    const job = (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
    expect(job.result).toMatchObject({ filesRestored: 228, filesSkipped: 2, filesFailed: 0 });
    expect(await (await env.R2_BUCKET.get(existing))!.text()).toBe("a newer version that must survive");
    expect(await (await env.R2_BUCKET.get(writtenDuring))!.text()).toBe("written while the restore ran");

    const overwritten = await restore(backup.id, { overwriteExisting: true });
    expect(overwritten.result).toMatchObject({ filesRestored: 230, filesSkipped: 0 });
    expect(await (await env.R2_BUCKET.get(existing))!.text()).toBe(OBJECTS.find((o) => o.key === existing)!.body);
  });

  it("refuses, before starting, a target prefix that would push the longest key past 1,024 bytes (counted in bytes)", async () => {
    // 1,000 ASCII bytes plus "long/": 1,005 bytes. "é" is one character but two bytes.
    await putObjects([
      { key: `long/${"x".repeat(1000)}`, body: "long" },
      { key: "short.txt", body: "short" },
    ]);
    const backup = await completedBackup();
    const jobsBefore = await env.DB.prepare("SELECT count(*) AS n FROM backup_jobs").first("n");
    const tooLong = await api("POST", `/api/backup/restore/${backup.id}`, {
      body: { targetPrefix: `${"é".repeat(10)}/` },
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error).toMatchObject({
      code: "validation_failed",
      details: { field: "targetPrefix", longestKeyBytes: 1026, limit: 1024 },
    });
    expect(await env.DB.prepare("SELECT count(*) AS n FROM backup_jobs").first("n")).toBe(jobsBefore);
    // 19 bytes fit exactly.
    const job = await restore(backup.id, { targetPrefix: `${"é".repeat(9)}/` });
    expect(job.result).toMatchObject({ filesRestored: 2, filesFailed: 0 });
  });

  it("resumes a restore replayed after a crash without counting twice", async () => {
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    await emptyBucket(env.R2_BUCKET);
    const started = await api("POST", `/api/backup/restore/${backup.id}`, {
      body: { overwriteExisting: false, verifyAfterRestore: true },
    });
    const stub = restoreJobStub(started.body.job.id);
    // The first step's objects are written, but the job forgets it did (as if it died before saving).
    await runStepAndForget(stub);
    await runJobToEnd(stub);
    const job = (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
    expect(job.result).toMatchObject({ filesRestored: 230, filesSkipped: 0, filesFailed: 0, verified: 230 });
    expect(Object.keys(await bucketState())).toHaveLength(230);
  });

  it("restores what a partial backup has and reports the rest as failed", async () => {
    await putObjects(OBJECTS.slice(0, 20));
    const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
    const { faultyBucket } = await import("../helpers/faults");
    const broken = OBJECTS[4]!.key;
    const fault = faultyBucket(env.R2_BUCKET, {
      methods: ["get"],
      failAtCall: 1,
      failures: Infinity,
      keyFilter: (k) => k === broken,
    });
    await runInDurableObject(
      (await import("../helpers/jobs")).backupJobStub(created.body.backup.id),
      (job: import("../../durable-objects/backup-job").BackupJob) => {
        job.wrapDeps = (deps) => ({ ...deps, source: fault.bucket });
      },
    );
    await runBackupToEnd(created.body.backup.id);
    await emptyBucket(env.R2_BUCKET);
    const job = await restore(created.body.backup.id, {});
    expect(job.result).toMatchObject({ filesRestored: 19, filesFailed: 1 });
    expect(job.result.failures).toEqual([
      { path: broken, reason: expect.stringMatching(/could not be read when the backup was taken/) },
    ]);
  });

  it("takes the bucket's lease: no restore during a backup and no backup during a restore", async () => {
    await putObjects(OBJECTS.slice(0, 10));
    const done = await completedBackup();
    const running = await api("POST", "/api/backup/create", { body: { type: "full" } });
    const refused = await api("POST", `/api/backup/restore/${done.id}`, { body: {} });
    expect(refused.status).toBe(409);
    expect(refused.body.error.details).toMatchObject({ backupId: running.body.backup.id, kind: "backup" });
    expect((await api("POST", `/api/backup/restore/${done.id}`, { body: { dryRun: true } })).status).toBe(202); // writes nothing
    await runBackupToEnd(running.body.backup.id);

    const restoring = await api("POST", `/api/backup/restore/${done.id}`, { body: {} });
    expect(restoring.status).toBe(202);
    const blocked = await api("POST", "/api/backup/create", { body: { type: "full" } });
    expect(blocked.status).toBe(409);
    expect(blocked.body.error.details).toMatchObject({ jobId: restoring.body.job.id, kind: "restore" });
    await runJobToEnd(restoreJobStub(restoring.body.job.id));
    expect((await api("POST", "/api/backup/create", { body: { type: "full" } })).status).toBe(202);
  });

  it("tells a restore asked for while a backup that has ended still holds the bucket to try again shortly", async () => {
    await putObjects(OBJECTS.slice(0, 10));
    const done = await completedBackup();
    const running = await api("POST", "/api/backup/create", { body: { type: "full" } });
    const id = running.body.backup.id;
    const path = `/api/backup/restore/${done.id}`;
    const request = { body: {} };
    const running409 = await apiResponse("POST", path, request);
    expect(running409.status).toBe(409);
    expect(running409.headers.get("retry-after")).toBeNull();
    expect(((await running409.json()) as { error: { details: unknown } }).error.details).toMatchObject({
      backupId: id,
      finishing: false,
    });
    // The moment a backup's row reads completed and its job still checks its alerts before it lets go.
    await env.DB.prepare("UPDATE r2_backups SET status = 'completed' WHERE id = ?").bind(id).run();
    const finishing = await apiResponse("POST", path, request);
    expect(finishing.status).toBe(409);
    expect(finishing.headers.get("retry-after")).toBe("1");
    const { error } = (await finishing.json()) as { error: { details: unknown; message: string } };
    expect(error.details).toMatchObject({ backupId: id, kind: "backup", finishing: true });
    expect(error.message).toMatch(/has ended \(completed\).*try again in a moment/);
  });

  it("refuses a backup that is not restorable and every bad body, starting nothing", async () => {
    await putObjects(OBJECTS.slice(0, 5));
    const done = await completedBackup();
    const bad: unknown[] = [
      { overwriteExisting: "yes" },
      { unknown: true },
      { filters: { pathPrefix: 3 } },
      { filters: { fileExtensions: [] } },
      { filters: { fileExtensions: ["../etc"] } },
      { filters: { dateRange: { start: "2024-02-30" } } },
      { filters: { dateRange: { start: "yesterday" } } },
      { filters: { dateRange: { start: "2024-02-01", end: "2024-01-01" } } },
      { filters: { dateRange: { start: "2024-01-01", extra: 1 } } },
      { targetPrefix: "../escape/" },
      { targetPrefix: "/absolute/" },
      { targetPrefix: "bad\u0000prefix/" },
      [],
    ];
    for (const body of bad) {
      const response = await api("POST", `/api/backup/restore/${done.id}`, { body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.code).toBe("validation_failed");
    }
    const running = await api("POST", "/api/backup/create", { body: { type: "full" } });
    expect(
      (await api("POST", `/api/backup/restore/${running.body.backup.id}`, { body: { dryRun: true } })).status,
    ).toBe(409);
    expect((await api("POST", "/api/backup/restore/bk-20200101T000000Z-00000000", { body: {} })).status).toBe(404);
    expect(
      (
        await api("POST", `/api/backup/restore/${done.id}`, {
          body: {},
          token: await (await import("../helpers/tokens")).mintToken({ scope: "backup:write" }),
        })
      ).status,
    ).toBe(403);
    const jobs = await env.DB.prepare("SELECT count(*) AS n FROM backup_jobs").first<{ n: number }>();
    expect(jobs!.n).toBe(0);
  });
});
