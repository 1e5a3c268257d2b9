/**
 * GET /api/backup/stats on an empty history, after failures and after a cleanup; its per-bucket
 * figures are the `backup_health_metrics` view's, and storedBytes is what the backup bucket
 * really holds.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { listAll, putObjects, variedObjects } from "../helpers/buckets";
import { completedBackup, crashedBackup } from "../helpers/flows";
import { cleanupJobStub, runJobToEnd } from "../helpers/jobs";

const stats = async () => {
  const response = await api("GET", "/api/backup/stats");
  expect(response.status).toBe(200);
  return response.body;
};

const storeBytes = async () => (await listAll(env.R2_BACKUP_BUCKET)).reduce((sum, o) => sum + o.size, 0);

describe("stats", () => {
  it("on an empty history: zeros and nulls, no alerts", async () => {
    expect(await stats()).toMatchObject({
      totalBackups: 0,
      completedBackups: 0,
      failedBackups: 0,
      successRate: null,
      lastBackupDate: null,
      lastSuccessfulBackupDate: null,
      consecutiveFailures: 0,
      averageDurationSeconds: null,
      storedBytes: 0,
      logicalBytes: 0,
      dedupRatio: null,
      alerts: [],
      buckets: [],
      webhooks: { pending: 0, failed: 0, lastProblem: null },
    });
    expect((await api("GET", "/api/backup/stats", { token: null })).status).toBe(401);
    expect((await api("POST", "/api/backup/stats")).status).toBe(405);
  });

  it("after failures: rates, streaks and dates, exactly as the views say", async () => {
    await putObjects(variedObjects(5));
    const good = await completedBackup();
    const failed = [await crashedBackup("incremental"), await crashedBackup("incremental")];
    const body = await stats();
    expect(body).toMatchObject({
      totalBackups: 3,
      completedBackups: 1,
      failedBackups: 2,
      successRate: 33.33,
      consecutiveFailures: 2,
      // Only the completed backup's snapshot is kept.
      logicalBytes: (good as unknown as { snapshotSize: number }).snapshotSize,
    });
    const rows = (await env.DB.prepare("SELECT id, backup_date FROM r2_backups ORDER BY backup_date").all()).results;
    expect(body.lastBackupDate).toBe(rows.at(-1)!.backup_date);
    expect(rows.at(-1)!.id).toBe(failed[1]);
    expect(body.lastSuccessfulBackupDate).toBe(rows[0]!.backup_date);

    // The bucket's figures are the view's row, field for field.
    const view = (await env.DB.prepare("SELECT * FROM backup_health_metrics").all()).results;
    expect(view).toHaveLength(1);
    const v = view[0]!;
    expect(body.buckets[0]).toMatchObject({
      bucketName: v.bucket_name,
      totalBackups: v.total_backups,
      completedBackups: v.completed_backups,
      failedBackups: v.failed_backups,
      successRate: v.success_rate,
      lastBackupDate: v.last_backup_date,
      lastSuccessfulBackupDate: v.last_successful_backup_date,
      consecutiveFailures: v.consecutive_failures,
      bytesWritten: v.bytes_written,
      logicalBytes: v.logical_bytes,
    });
    // The trend lists each finished backup with its performance, newest first.
    expect(body.buckets[0].recentBackups.map((b: { id: string }) => b.id)).toEqual([failed[1], failed[0], good.id]);
    expect(body.buckets[0].recentBackups[2]).toMatchObject({
      status: "completed",
      steps: expect.any(Number),
      objectsPerSecond: expect.any(Number),
    });
    // Each backup's own row carries the same figures.
    const status = (await api("GET", `/api/backup/status/${good.id}`)).body.backup;
    expect(status.performance).toMatchObject({ steps: expect.any(Number), retries: 0, bytesRead: expect.any(Number) });
    expect(status.performance.steps).toBeGreaterThan(0);
  });

  it("after cleanup: storedBytes is what the backup bucket holds, kept up to date by later backups", async () => {
    await putObjects(variedObjects(8));
    await completedBackup();
    await crashedBackup("incremental"); // leaves blobs and chunks for cleanup to collect
    expect((await stats()).storage.source).toBe("estimated");

    const started = await api("POST", "/api/backup/cleanup", { body: {} });
    expect(started.status).toBe(202);
    await runJobToEnd(cleanupJobStub(started.body.job.id));
    const measured = await stats();
    expect(measured.storage).toMatchObject({
      source: "measured",
      measuredBy: started.body.job.id,
      writtenSinceBytes: 0,
    });
    expect(measured.storedBytes).toBe(await storeBytes());
    expect(measured.dedupRatio).toBe(Math.round((measured.logicalBytes / measured.storedBytes) * 100) / 100);

    // A later backup adds what it stored; only its small manifest index is left to the next measurement.
    await putObjects([{ key: "new/one.txt", body: "x".repeat(5000) }]);
    const next = await completedBackup("incremental");
    const after = await stats();
    const index = await env.R2_BACKUP_BUCKET.head(`manifests/${next.id}/index.json`);
    expect(after.storedBytes + index!.size).toBe(await storeBytes());
    expect(after.storage.writtenSinceBytes).toBeGreaterThan(5000);
  });
});
