/**
 * Backup templates on the local stack: the admin API and its refusals; a template's prefixes
 * decide its snapshot, its incrementals build on its own backups, its options (compression) and
 * retention are its own; a template on a second source bucket backs up and restores that bucket;
 * and two templates of one bucket never run at once, even when their schedules coincide.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { emptyBucket, listAll, putObjects, sha256Hex } from "../helpers/buckets";
import { restore } from "../helpers/flows";
import { cleanupJobStub, coordinatorStub, runBackupToEnd, runJobToEnd } from "../helpers/jobs";
import { mintToken } from "../helpers/tokens";
import { replicateJobId } from "../../durable-objects/replicate-job";

const media = () => env.R2_MEDIA_BUCKET!;

async function createTemplate(body: Record<string, unknown>) {
  const created = await api("POST", "/api/backup/templates", { body });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body.template;
}

/** Runs a backup to its end, and its replication (a replica is bound in this project; a running one keeps its backup). */
async function finished(id: string) {
  await runBackupToEnd(id);
  await runJobToEnd(env.REPLICATE_JOB.getByName(replicateJobId(id)));
  return (await api("GET", `/api/backup/status/${id}`)).body.backup;
}

async function templateBackup(template: string, type?: string) {
  const created = await api("POST", "/api/backup/create", { body: { template, ...(type ? { type } : {}) } });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  return finished(created.body.backup.id);
}

const snapshotKeys = async (id: string) =>
  (await api("GET", `/api/backup/files/${id}?limit=1000`)).body.files.map((f: { path: string }) => f.path).sort();

beforeEach(async () => {
  await Promise.all([emptyBucket(env.R2_BUCKET), emptyBucket(env.R2_BACKUP_BUCKET), emptyBucket(media())]);
  await env.DB.exec("DELETE FROM backup_templates");
  await putObjects([
    { key: "reports/q1.csv", body: "q1" },
    { key: "reports/q2.csv", body: "q2" },
    { key: "reports/tmp/draft.csv", body: "draft" },
    { key: "images/logo.png", body: "png" },
    { key: "zz-last.txt", body: "last" },
  ]);
});

describe("backup templates", () => {
  it("are managed by admins, with the default built in, and refuse what cannot work", async () => {
    const listed = await api("GET", "/api/backup/templates");
    expect(listed.body.templates).toEqual([
      expect.objectContaining({
        name: "default",
        builtIn: true,
        bucketName: "cutty-files",
        sourceBinding: "R2_BUCKET",
      }),
    ]);
    const created = await createTemplate({
      name: "reports",
      sourceBinding: "R2_BUCKET",
      bucketName: "cutty-files",
      includePrefixes: ["reports/"],
    });
    expect(created).toMatchObject({
      name: "reports",
      builtIn: false,
      schedule: "daily",
      retentionDays: 30,
      compression: false,
      excludePrefixes: [],
    });
    expect((await api("GET", "/api/backup/templates")).body.templates.map((t: { name: string }) => t.name)).toEqual([
      "default",
      "reports",
    ]);

    const refusals: [string, string, unknown, number][] = [
      [
        "POST",
        "/api/backup/templates",
        { name: "reports", sourceBinding: "R2_BUCKET", bucketName: "cutty-files" },
        409,
      ],
      [
        "POST",
        "/api/backup/templates",
        { name: "default", sourceBinding: "R2_BUCKET", bucketName: "cutty-files" },
        409,
      ],
      [
        "POST",
        "/api/backup/templates",
        { name: "x", sourceBinding: "R2_BACKUP_BUCKET", bucketName: "cutty-backups" },
        400,
      ],
      ["POST", "/api/backup/templates", { name: "x", sourceBinding: "NOT_BOUND", bucketName: "nowhere" }, 400],
      // One bucket, one binding: the default binds cutty-files as R2_BUCKET.
      [
        "POST",
        "/api/backup/templates",
        { name: "x", sourceBinding: "R2_MEDIA_BUCKET", bucketName: "cutty-files" },
        400,
      ],
      ["POST", "/api/backup/templates", { name: "x", sourceBinding: "R2_BUCKET", bucketName: "other-bucket" }, 400],
      // No BACKUP_ENCRYPTION_KEY in this project.
      [
        "POST",
        "/api/backup/templates",
        { name: "x", sourceBinding: "R2_BUCKET", bucketName: "cutty-files", encryption: true },
        400,
      ],
      [
        "POST",
        "/api/backup/templates",
        { name: "Bad Name", sourceBinding: "R2_BUCKET", bucketName: "cutty-files" },
        400,
      ],
      ["PUT", "/api/backup/templates/default", { sourceBinding: "R2_BUCKET", bucketName: "cutty-files" }, 409],
      ["PUT", "/api/backup/templates/missing", { sourceBinding: "R2_BUCKET", bucketName: "cutty-files" }, 404],
      ["DELETE", "/api/backup/templates/default", undefined, 409],
      ["POST", "/api/backup/create", { template: "missing" }, 404],
    ];
    for (const [method, path, body, status] of refusals) {
      const response = await api(method as "POST", path, body === undefined ? {} : { body });
      expect(response.status, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(response.body)}`).toBe(
        status,
      );
    }
    expect((await api("GET", "/api/backup/templates")).body.templates).toHaveLength(2); // refusals changed nothing
    // Admin only.
    const writer = await mintToken({ scope: "backup:write backup:read" });
    expect((await api("GET", "/api/backup/templates", { token: writer })).status).toBe(403);

    const updated = await api("PUT", "/api/backup/templates/reports", {
      body: {
        sourceBinding: "R2_BUCKET",
        bucketName: "cutty-files",
        schedule: "hourly",
        excludePrefixes: ["reports/tmp/"],
      },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.template).toMatchObject({
      schedule: "hourly",
      includePrefixes: [],
      excludePrefixes: ["reports/tmp/"],
    });
    expect((await api("DELETE", "/api/backup/templates/reports")).body.template.name).toBe("reports");
    expect((await api("GET", "/api/backup/templates/reports")).status).toBe(404);
    const audit = (
      await env.DB.prepare(
        "SELECT action, target, outcome FROM audit_events WHERE action LIKE 'template.%' AND outcome = 'accepted'",
      ).all()
    ).results;
    expect(audit).toEqual([
      { action: "template.create", target: "reports", outcome: "accepted" },
      { action: "template.update", target: "reports", outcome: "accepted" },
      { action: "template.delete", target: "reports", outcome: "accepted" },
    ]);
  });

  it("backs up exactly its prefixes, builds incrementals on its own backups, and restores only what it holds", async () => {
    await createTemplate({
      name: "reports",
      sourceBinding: "R2_BUCKET",
      bucketName: "cutty-files",
      includePrefixes: ["reports/"],
      excludePrefixes: ["reports/tmp/"],
      compression: true,
    });
    const first = await templateBackup("reports");
    expect(first).toMatchObject({ status: "completed", type: "full", template: "reports", snapshotFileCount: 2 });
    expect(await snapshotKeys(first.id)).toEqual(["reports/q1.csv", "reports/q2.csv"]);
    // Its options are its own: compressed blobs, while the environment's default stores them raw.
    const blobs = await listAll(env.R2_BACKUP_BUCKET, "blobs/");
    expect(blobs).toHaveLength(2);
    for (const blob of blobs) expect(blob.customMetadata?.format).toMatch(/^framed-/);

    // A default backup in between is not the template's parent.
    const everything = await api("POST", "/api/backup/create", { body: { type: "full" } });
    await runBackupToEnd(everything.body.backup.id);
    await putObjects([
      { key: "reports/q2.csv", body: "q2, corrected" },
      { key: "images/banner.png", body: "outside the template" },
    ]);
    const second = await templateBackup("reports");
    expect(second).toMatchObject({
      status: "completed",
      type: "incremental",
      parentId: first.id,
      fileCount: 1,
      snapshotFileCount: 2,
    });

    await emptyBucket(env.R2_BUCKET);
    const job = await restore(second.id);
    expect(job.result).toMatchObject({ filesRestored: 2, filesFailed: 0 });
    expect((await listAll(env.R2_BUCKET)).map((o) => o.key)).toEqual(["reports/q1.csv", "reports/q2.csv"]);
    expect(await (await env.R2_BUCKET.get("reports/q2.csv"))!.text()).toBe("q2, corrected");
  });

  it("backs up and restores a second source bucket through its own binding and coordinator", async () => {
    await putObjects([{ key: "video/intro.mp4", body: "mp4 bytes" }], media());
    await createTemplate({ name: "media", sourceBinding: "R2_MEDIA_BUCKET", bucketName: "media-files" });
    // One coordinator per bucket: a backup of the default bucket and one of the media bucket at once.
    const busy = await api("POST", "/api/backup/create", { body: { type: "full" } });
    expect(busy.status).toBe(202);
    const started = await api("POST", "/api/backup/create", { body: { template: "media" } });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    await runBackupToEnd(started.body.backup.id);
    await runBackupToEnd(busy.body.backup.id);
    const backup = (await api("GET", `/api/backup/status/${started.body.backup.id}`)).body.backup;
    expect(backup).toMatchObject({
      status: "completed",
      bucketName: "media-files",
      template: "media",
      snapshotFileCount: 1,
    });
    expect(await snapshotKeys(backup.id)).toEqual(["video/intro.mp4"]);

    await media().delete("video/intro.mp4");
    expect((await restore(backup.id)).result).toMatchObject({ filesRestored: 1, filesFailed: 0 });
    expect(await sha256Hex(await (await media().get("video/intro.mp4"))!.arrayBuffer())).toBe(
      await sha256Hex("mp4 bytes"),
    );
    expect(await env.R2_BUCKET.head("video/intro.mp4")).toBeNull();
  });

  it("runs every template on its schedule, and two on one bucket never at once: the second waits for the first", async () => {
    await createTemplate({
      name: "reports",
      sourceBinding: "R2_BUCKET",
      bucketName: "cutty-files",
      includePrefixes: ["reports/"],
      schedule: "hourly",
    });
    await createTemplate({
      name: "images",
      sourceBinding: "R2_BUCKET",
      bucketName: "cutty-files",
      includePrefixes: ["images/"],
      schedule: "hourly",
    });
    // 05:00 UTC, fired through the local-development route: no slot of the default's daily
    // schedule, one of both hourly templates.
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const fired = await api("POST", "/api/dev/cron", { body: { time: `${yesterday}T05:00:00Z` } });
    expect(fired.body).toEqual({ cron: "0 * * * *", scheduledTime: `${yesterday}T05:00:00.000Z` });

    const running = (await api("GET", "/api/backup/list?limit=10")).body.backups;
    expect(running).toHaveLength(1);
    expect(running[0]).toMatchObject({ template: "images", trigger: "cron", status: "in_progress" });
    const runs = (
      await env.DB.prepare("SELECT outcome, detail FROM audit_events WHERE action = 'template.run' ORDER BY id").all()
    ).results;
    expect(runs).toEqual([
      { outcome: "accepted", detail: expect.stringContaining("template images, hourly): started a full backup") },
      {
        outcome: "accepted",
        detail: expect.stringContaining(`template reports, hourly): queued behind backup ${running[0].id}`),
      },
    ]);
    // Asked for while the bucket is busy, it is refused, as any backup is.
    expect((await api("POST", "/api/backup/create", { body: { template: "reports" } })).status).toBe(409);

    await runBackupToEnd(running[0].id);
    // A cron backup is followed by its cleanup, which goes before the queued run; once the bucket
    // is free, the coordinator's alarm starts the queued run.
    await runJobToEnd(cleanupJobStub(`job-cleanup-after-${running[0].id}`));
    await runDurableObjectAlarm(coordinatorStub());
    const both = (await api("GET", "/api/backup/list?limit=10")).body.backups;
    expect(both).toHaveLength(2);
    expect(both.map((b: { template: string }) => b.template)).toEqual(["reports", "images"]);
    const [second, first] = both;
    expect(Date.parse(second.startedAt)).toBeGreaterThanOrEqual(Date.parse(first.completedAt));
    await runBackupToEnd(second.id);
    expect(await snapshotKeys(second.id)).toEqual(["reports/q1.csv", "reports/q2.csv", "reports/tmp/draft.csv"]);
    // Queued once, started once.
    await runDurableObjectAlarm(coordinatorStub());
    expect((await api("GET", "/api/backup/list?limit=10")).body.backups).toHaveLength(2);
    expect(
      (await api("GET", "/api/backup/list?template=reports")).body.backups.map((b: { id: string }) => b.id),
    ).toEqual([second.id]);
  });

  it("keeps each template's backups by its own retention", async () => {
    await createTemplate({
      name: "reports",
      sourceBinding: "R2_BUCKET",
      bucketName: "cutty-files",
      includePrefixes: ["reports/"],
      retentionDays: 0,
      keep: { last: 1 },
    });
    const defaults = [];
    for (let i = 0; i < 2; i++) {
      const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
      await finished(created.body.backup.id);
      defaults.push(created.body.backup.id);
    }
    const older = await templateBackup("reports", "full");
    const newer = await templateBackup("reports", "full");

    const started = await api("POST", "/api/backup/cleanup", { body: { template: "reports" } });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    await runJobToEnd(cleanupJobStub(started.body.job.id));
    const job = (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
    expect(job.result).toMatchObject({
      template: "reports",
      retentionDays: 0,
      keep: { last: 1, daily: 0, weekly: 0, monthly: 0 },
      backupIdsExpired: [older.id],
    });
    const statusOf = async (id: string) => (await api("GET", `/api/backup/status/${id}`)).body.backup.status;
    expect(await statusOf(newer.id)).toBe("completed");
    // The default template's backups are not this policy's, however old.
    for (const id of defaults) expect(await statusOf(id)).toBe("completed");

    // A deleted template's backups stay reachable by its name (with the environment's rules or the body's).
    expect((await api("DELETE", "/api/backup/templates/reports")).status).toBe(200);
    const orphaned = await api("POST", "/api/backup/cleanup", {
      body: { template: "reports", dryRun: true, retentionDays: 0, keep: { last: 0 } },
    });
    expect(orphaned.status, JSON.stringify(orphaned.body)).toBe(202);
    await runJobToEnd(cleanupJobStub(orphaned.body.job.id));
    // (The newest completed backup of the template is always kept.)
    expect((await api("GET", `/api/backup/jobs/${orphaned.body.job.id}`)).body.job.result).toMatchObject({
      template: "reports",
      backupsExpired: 0,
    });
    expect((await api("POST", "/api/backup/cleanup", { body: { template: "never-was" } })).status).toBe(404);
  });
});
