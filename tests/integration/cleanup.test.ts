/**
 * Cleanup (retention and garbage collection) on the local stack: what a policy expires, what it
 * frees, and that what it keeps still verifies and restores byte for byte. Grace period 0 here;
 * tests/storage-options/cleanup-grace.test.ts covers the grace period.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { emptyBucket, listAll, putObjects, sha256Hex } from "../helpers/buckets";
import { completedBackup, restore, verify } from "../helpers/flows";
import { cleanupJobStub, coordinatorStub, runJobToEnd } from "../helpers/jobs";
import { mintToken } from "../helpers/tokens";

async function cleanup(body: unknown) {
  const started = await api("POST", "/api/backup/cleanup", { body });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  await runJobToEnd(cleanupJobStub(started.body.job.id));
  return (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
}

const blobNames = async () => (await listAll(env.R2_BACKUP_BUCKET, "blobs/")).map((o) => o.key).sort();

/** Three backups: A changes twice, C is deleted, D is added; B never changes. */
async function history() {
  await emptyBucket(env.R2_BUCKET);
  await emptyBucket(env.R2_BACKUP_BUCKET);
  await putObjects([
    { key: "a.txt", body: "A version 1" },
    { key: "b.txt", body: "B forever" },
    { key: "c.txt", body: "C, deleted later" },
  ]);
  const first = await completedBackup("full");
  await putObjects([
    { key: "a.txt", body: "A version 2 (longer)" },
    { key: "d.txt", body: "D, added" },
  ]);
  await env.R2_BUCKET.delete("c.txt");
  const second = await completedBackup("incremental");
  await putObjects([{ key: "a.txt", body: "A version 3" }]);
  const third = await completedBackup("incremental");
  return { first, second, third };
}

describe("cleanup", () => {
  it("expires all but the newest, frees exactly what only the expired backups used, and the newest restores byte for byte", async () => {
    const { first, second, third } = await history();
    const onlyInExpired = [
      `blobs/${await sha256Hex("A version 1")}`,
      `blobs/${await sha256Hex("A version 2 (longer)")}`,
      `blobs/${await sha256Hex("C, deleted later")}`,
    ];
    const before = await blobNames();
    expect(before).toEqual(expect.arrayContaining(onlyInExpired));
    const chunksBefore = await listAll(env.R2_BACKUP_BUCKET, "chunks/");

    // A dry run plans exactly what the real run does, and deletes nothing.
    const planned = await cleanup({ dryRun: true, retentionDays: 0, keep: { last: 1 } });
    expect(planned).toMatchObject({ kind: "cleanup", status: "completed", backupId: null });
    expect(await blobNames()).toEqual(before);
    expect((await api("GET", `/api/backup/status/${first.id}`)).body.backup.status).toBe("completed");

    const done = await cleanup({ retentionDays: 0, keep: { last: 1 } });
    const figures = ({
      backupsExpired,
      backupIdsExpired,
      blobsDeleted,
      chunksDeleted,
      bytesFreed,
    }: Record<string, unknown>) => ({
      backupsExpired,
      backupIdsExpired,
      blobsDeleted,
      chunksDeleted,
      bytesFreed,
    });
    expect(figures(done.result)).toEqual(figures({ ...planned.result, dryRun: false }));
    // The manifest chunks only the expired snapshots named go too; the newest's stay (it verifies below).
    const chunksLeft = new Set((await listAll(env.R2_BACKUP_BUCKET, "chunks/")).map((o) => o.key));
    const chunksGone = chunksBefore.filter((o) => !chunksLeft.has(o.key));
    expect(chunksGone.length).toBeGreaterThan(0);
    expect(done.result).toMatchObject({
      dryRun: false,
      backupsExpired: 2,
      blobsDeleted: 3,
      chunksDeleted: chunksGone.length,
      bytesFreed:
        "A version 1".length +
        "A version 2 (longer)".length +
        "C, deleted later".length +
        chunksGone.reduce((sum, o) => sum + o.size, 0),
    });
    expect([...done.result.backupIdsExpired].sort()).toEqual([first.id, second.id].sort());
    expect(await blobNames()).toEqual(before.filter((b) => !onlyInExpired.includes(b)));

    // The expired backups stay for the audit trail, listed only when asked for.
    for (const id of [first.id, second.id]) {
      expect((await api("GET", `/api/backup/status/${id}`)).body.backup.status).toBe("expired");
      expect(await listAll(env.R2_BACKUP_BUCKET, `manifests/${id}/`)).toEqual([]);
      expect(
        await env.DB.prepare("SELECT count(*) AS n FROM backup_files WHERE backup_id = ?").bind(id).first("n"),
      ).toBe(0);
      const logs = (await api("GET", `/api/backup/logs/${id}`)).body.logs;
      expect(logs.at(-1)).toMatchObject({
        eventType: "cleanup",
        message: expect.stringMatching(/^Expired by cleanup .* \(requested by tester\)/),
      });
      expect((await api("POST", `/api/backup/restore/${id}`, { body: {} })).status).toBe(409);
    }
    expect((await api("GET", "/api/backup/list")).body.backups.map((b: { id: string }) => b.id)).toEqual([third.id]);
    expect((await api("GET", "/api/backup/list?status=expired")).body.backups).toHaveLength(2);

    expect((await verify(third.id)).result).toMatchObject({ valid: true, filesChecked: 3 });
    await emptyBucket(env.R2_BUCKET);
    expect((await restore(third.id, {})).result).toMatchObject({ filesRestored: 3, filesFailed: 0 });
    for (const [key, body] of [
      ["a.txt", "A version 3"],
      ["b.txt", "B forever"],
      ["d.txt", "D, added"],
    ]) {
      expect(await (await env.R2_BUCKET.get(key!))!.text()).toBe(body);
    }
    expect(await coordinatorStub().currentLease()).toBeNull();
  });

  it("never expires the newest completed backup, even with retentionDays 0 and no keep rule", async () => {
    const { third } = await history();
    const done = await cleanup({ retentionDays: 0, keep: {} });
    expect(done.result.backupsExpired).toBe(2);
    expect((await api("GET", `/api/backup/status/${third.id}`)).body.backup.status).toBe("completed");
    expect((await verify(third.id)).result.valid).toBe(true);
  });

  it("never deletes what another source bucket's backups need (the backup bucket is shared)", async () => {
    const { first, second, third } = await history();
    // As after BACKUP_SOURCE_BUCKET was renamed: the first backup belongs to another bucket now.
    await env.DB.prepare("UPDATE r2_backups SET bucket_name = 'old-files' WHERE id = ?").bind(first.id).run();
    const done = await cleanup({ retentionDays: 0, keep: { last: 1 } });
    expect(done.result).toMatchObject({ backupsExpired: 1, backupIdsExpired: [second.id] });
    expect((await api("GET", `/api/backup/status/${first.id}`)).body.backup.status).toBe("completed");
    expect(await blobNames()).toContain(`blobs/${await sha256Hex("A version 1")}`);
    expect((await verify(first.id)).result).toMatchObject({ valid: true, filesChecked: 3 });
    expect((await verify(third.id)).result).toMatchObject({ valid: true });
  });

  it("keeps what the default policy keeps, and runs alone: 409 while a backup runs, and the other way round", async () => {
    await history();
    const untouched = await cleanup({});
    expect(untouched.result).toMatchObject({ backupsExpired: 0, blobsDeleted: 0, retentionDays: 30 });

    const running = await api("POST", "/api/backup/create", { body: { type: "full" } });
    const refused = await api("POST", "/api/backup/cleanup", { body: { dryRun: true } });
    expect(refused.status).toBe(409);
    expect(refused.body.error.details).toMatchObject({ backupId: running.body.backup.id, kind: "backup" });
    await runJobToEnd((await import("../helpers/jobs")).backupJobStub(running.body.backup.id));

    const started = await api("POST", "/api/backup/cleanup", { body: { dryRun: true } });
    expect((await api("POST", "/api/backup/create", { body: { type: "full" } })).status).toBe(409);
    await runJobToEnd(cleanupJobStub(started.body.job.id));
  });

  it("deletes the log rows of backups that expired more than BACKUP_LOG_RETENTION_DAYS (90) ago, and keeps their rows", async () => {
    const { first, second } = await history();
    await cleanup({ retentionDays: 0, keep: { last: 1 } });
    const logsOf = async (id: string) =>
      env.DB.prepare("SELECT count(*) AS n FROM backup_logs WHERE backup_id = ?").bind(id).first<number>("n");
    const firstLogs = await logsOf(first.id);
    expect(firstLogs).toBeGreaterThan(1);
    // The first expired 91 days ago, the second yesterday.
    await env.DB.prepare("UPDATE r2_backups SET updated_at = ? WHERE id = ?")
      .bind(new Date(Date.now() - 91 * 86_400_000).toISOString(), first.id)
      .run();
    await env.DB.prepare("UPDATE r2_backups SET updated_at = ? WHERE id = ?")
      .bind(new Date(Date.now() - 86_400_000).toISOString(), second.id)
      .run();
    const secondLogs = await logsOf(second.id);

    const planned = await cleanup({ dryRun: true });
    expect(planned.result).toMatchObject({ logRetentionDays: 90, logsDeleted: firstLogs });
    expect(await logsOf(first.id)).toBe(firstLogs);
    const done = await cleanup({});
    expect(done.result).toMatchObject({ logsDeleted: firstLogs, backupsExpired: 0 });
    expect(await logsOf(first.id)).toBe(0);
    expect(await logsOf(second.id)).toBe(secondLogs);
    expect((await api("GET", `/api/backup/status/${first.id}`)).body.backup.status).toBe("expired");
  });

  it("needs the admin scope, refuses bad bodies before starting anything, and can be cancelled by an admin", async () => {
    await history();
    const write = await mintToken({ scope: "backup:write backup:restore" });
    expect((await api("POST", "/api/backup/cleanup", { body: {}, token: write })).status).toBe(403);
    for (const body of [{ retentionDays: -1 }, { keep: { yearly: 1 } }, { dryRun: "yes" }, { force: true }]) {
      const refused = await api("POST", "/api/backup/cleanup", { body });
      expect(refused.status, JSON.stringify(body)).toBe(400);
    }
    expect(await env.DB.prepare("SELECT count(*) AS n FROM backup_jobs WHERE kind = 'cleanup'").first("n")).toBe(0);

    const started = await api("POST", "/api/backup/cleanup", { body: { retentionDays: 0, keep: {} } });
    expect((await api("POST", `/api/backup/cancel/${started.body.job.id}`, { token: write })).status).toBe(403);
    expect((await api("POST", `/api/backup/cancel/${started.body.job.id}`)).status).toBe(202);
    await runJobToEnd(cleanupJobStub(started.body.job.id));
    expect((await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job.status).toBe("cancelled");
    expect(await coordinatorStub().currentLease()).toBeNull();
  });
});
