import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { putObjects, sha256Hex, variedObjects } from "../helpers/buckets";
import { runBackupToEnd } from "../helpers/jobs";
import { snapshotEntries } from "../helpers/manifest";

const manifestEntries = (backupId: string) => snapshotEntries(env.R2_BACKUP_BUCKET, backupId);

describe("full backup", () => {
  it("backs up every object with exact counts, and every blob hashes to its source object", async () => {
    const objects = variedObjects(250);
    await putObjects(objects);

    const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
    expect(created.status).toBe(202);
    expect(created.body.backup).toMatchObject({
      type: "full",
      status: "in_progress",
      trigger: "api",
      requestedBy: "tester",
      parentId: null,
    });
    const id = created.body.backup.id;

    const steps = await runBackupToEnd(id);
    expect(steps).toBe(4); // three batches of at most 100, then finalize

    const { body } = await api("GET", `/api/backup/status/${id}`);
    const totalSize = objects.reduce(
      (sum, o) => sum + (typeof o.body === "string" ? new TextEncoder().encode(o.body).byteLength : o.body.byteLength),
      0,
    );
    expect(body.backup).toMatchObject({
      status: "completed",
      fileCount: 250,
      totalSize,
      snapshotFileCount: 250,
      snapshotSize: totalSize,
      deletedCount: 0,
      failedCount: 0,
      error: null,
    });
    expect(body.backup.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(body.backup.completedAt).not.toBeNull();

    const entries = await manifestEntries(id);
    expect(entries.map((e) => e.key)).toEqual(objects.map((o) => o.key).sort());
    const sourceByKey = new Map(objects.map((o) => [o.key, o]));
    for (const entry of entries) {
      const source = await env.R2_BUCKET.get(entry.key);
      const sourceHash = await sha256Hex(await source!.arrayBuffer());
      const blob = await env.R2_BACKUP_BUCKET.get(entry.blob);
      expect(blob, entry.key).not.toBeNull();
      expect(await sha256Hex(await blob!.arrayBuffer())).toBe(sourceHash);
      expect(entry.sha256).toBe(sourceHash);
      expect(entry.httpMetadata.contentType).toBe(sourceByKey.get(entry.key)!.contentType);
      expect(entry.customMetadata).toEqual(sourceByKey.get(entry.key)!.customMetadata ?? {});
    }

    const fileRows = await env.DB.prepare(
      "SELECT count(*) AS n, count(DISTINCT file_path) AS d FROM backup_files WHERE backup_id = ?",
    )
      .bind(id)
      .first<{ n: number; d: number }>();
    expect(fileRows).toEqual({ n: 250, d: 250 });
    expect(body.backup.bytesUploaded).toBe(totalSize);
  });
});
