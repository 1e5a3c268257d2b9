import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { listAll, putObjects, sha256Hex, variedObjects } from "../helpers/buckets";
import { runBackupToEnd } from "../helpers/jobs";

async function backup(type: "full" | "incremental" | "auto") {
  const created = await api("POST", "/api/backup/create", { body: { type } });
  expect(created.status).toBe(202);
  await runBackupToEnd(created.body.backup.id);
  return (await api("GET", `/api/backup/status/${created.body.backup.id}`)).body.backup;
}

async function snapshotFiles(backupId: string, prefix = "", limit = 1000) {
  const files: { path: string; size: number; checksum: string }[] = [];
  let cursor: string | null = null;
  do {
    const query: URLSearchParams = new URLSearchParams({
      limit: String(limit),
      ...(prefix ? { prefix } : {}),
      ...(cursor ? { cursor } : {}),
    });
    const page: {
      status: number;
      body: { files: { path: string; size: number; checksum: string }[]; nextCursor: string | null };
    } = await api("GET", `/api/backup/files/${backupId}?${query}`);
    expect(page.status).toBe(200);
    files.push(...page.body.files.map((f) => ({ path: f.path, size: f.size, checksum: f.checksum })));
    cursor = page.body.nextCursor;
  } while (cursor);
  return files;
}

async function bucketState(prefix = "") {
  const state = [];
  for (const object of await listAll(env.R2_BUCKET, prefix || undefined)) {
    const body = await env.R2_BUCKET.get(object.key);
    state.push({ path: object.key, size: object.size, checksum: await sha256Hex(await body!.arrayBuffer()) });
  }
  return state;
}

const size = (body: string | Uint8Array) =>
  typeof body === "string" ? new TextEncoder().encode(body).byteLength : body.byteLength;

describe("incremental backups", () => {
  it("records exactly the adds, modifications and deletions, and its snapshot is the whole bucket", async () => {
    const objects = variedObjects(250);
    await putObjects(objects);
    const full = await backup("full");

    const modified = objects.slice(10, 15).map((o) => ({ ...o, body: `${o.body} (edited)` }));
    const deleted = objects.slice(100, 104).map((o) => o.key);
    const added = Array.from({ length: 6 }, (_, i) => ({ key: `new/${i}.txt`, body: `brand new ${i}` }));
    await putObjects([...modified, ...added]);
    await env.R2_BUCKET.delete(deleted);

    const incremental = await backup("incremental");
    const changedSize = [...modified, ...added].reduce((sum, o) => sum + size(o.body), 0);
    const state = await bucketState();
    expect(incremental).toMatchObject({
      type: "incremental",
      status: "completed",
      parentId: full.id,
      fileCount: 11,
      totalSize: changedSize,
      deletedCount: 4,
      failedCount: 0,
      snapshotFileCount: 252,
      snapshotSize: state.reduce((sum, o) => sum + o.size, 0),
      bytesUploaded: changedSize,
    });
    expect(await snapshotFiles(incremental.id)).toEqual(state);
    expect(await snapshotFiles(incremental.id, "", 7)).toEqual(state); // many small pages

    const rows = await env.DB.prepare(
      "SELECT file_path, status FROM backup_files WHERE backup_id = ? ORDER BY file_path",
    )
      .bind(incremental.id)
      .all();
    expect(rows.results).toEqual(
      [
        ...modified.map((o) => ({ file_path: o.key, status: "backed_up" })),
        ...added.map((o) => ({ file_path: o.key, status: "backed_up" })),
        ...deleted.map((k) => ({ file_path: k, status: "deleted" })),
      ].sort((a, b) => (a.file_path < b.file_path ? -1 : 1)),
    );
    // The parent's snapshot is unchanged: it still lists the bucket as it was.
    expect((await snapshotFiles(full.id)).map((f) => f.path)).toEqual(objects.map((o) => o.key).sort());
  });

  it("stores nothing new when the bucket did not change, full or incremental", async () => {
    await putObjects(variedObjects(120));
    await backup("full");
    const blobsBefore = (await listAll(env.R2_BACKUP_BUCKET, "blobs/")).length;
    const incremental = await backup("incremental");
    expect(incremental).toMatchObject({
      fileCount: 0,
      totalSize: 0,
      bytesUploaded: 0,
      deletedCount: 0,
      snapshotFileCount: 120,
    });
    const full = await backup("full");
    expect(full).toMatchObject({ fileCount: 120, bytesUploaded: 0, snapshotFileCount: 120 });
    expect((await listAll(env.R2_BACKUP_BUCKET, "blobs/")).length).toBe(blobsBefore);
  });

  it("repairs a blob missing from the store on the next full backup", async () => {
    await putObjects([{ key: "precious.txt", body: "irreplaceable" }]);
    await backup("full");
    const [blob] = await listAll(env.R2_BACKUP_BUCKET, "blobs/");
    await env.R2_BACKUP_BUCKET.delete(blob!.key);
    const again = await backup("full");
    expect(again).toMatchObject({ fileCount: 1, bytesUploaded: "irreplaceable".length });
    expect(await env.R2_BACKUP_BUCKET.head(blob!.key)).not.toBeNull();
  });

  it("merges across windows cut by the parent after mass deletions", async () => {
    const objects = Array.from({ length: 1150 }, (_, i) => ({
      key: `bulk/${String(i).padStart(5, "0")}`,
      body: `bulk ${i}`,
    }));
    await putObjects(objects);
    await backup("full");
    const removed = objects.slice(20, 1120).map((o) => o.key);
    for (let i = 0; i < removed.length; i += 1000) await env.R2_BUCKET.delete(removed.slice(i, i + 1000));
    const incremental = await backup("incremental");
    expect(incremental).toMatchObject({ deletedCount: 1100, fileCount: 0, snapshotFileCount: 50 });
    expect((await snapshotFiles(incremental.id)).map((f) => f.path)).toEqual(
      objects.filter((o) => !removed.includes(o.key)).map((o) => o.key),
    );
  });

  it("becomes a full backup, and says so, when there is no completed parent", async () => {
    await putObjects(variedObjects(5));
    const result = await backup("incremental");
    expect(result).toMatchObject({ type: "full", parentId: null, fileCount: 5 });
    const logs = await api("GET", `/api/backup/logs/${result.id}`);
    expect(logs.body.logs[0].message).toMatch(/no finished backup to build on: taking a full backup instead/);
  });

  it("auto chooses full at first, incremental within 7 days of the last full, full after", async () => {
    await putObjects(variedObjects(5));
    const first = await backup("auto");
    expect(first.type).toBe("full");
    const ageFull = (days: number) =>
      env.DB.prepare("UPDATE r2_backups SET backup_date = ? WHERE id = ?")
        .bind(new Date(Date.now() - days * 86_400_000).toISOString(), first.id)
        .run();

    await ageFull(6);
    const second = await backup("auto");
    expect(second).toMatchObject({ type: "incremental", parentId: first.id });

    await ageFull(8);
    const third = await backup("auto");
    expect(third).toMatchObject({ type: "full", parentId: null });
  });

  it("stores identical content once across keys", async () => {
    await putObjects(Array.from({ length: 40 }, (_, i) => ({ key: `copies/${i}.txt`, body: "the very same content" })));
    const result = await backup("full");
    expect(result).toMatchObject({ fileCount: 40, bytesUploaded: "the very same content".length });
    expect((await listAll(env.R2_BACKUP_BUCKET, "blobs/")).length).toBe(1);
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM backup_files WHERE backup_id = ?")
      .bind(result.id)
      .first<{ n: number }>();
    expect(rows!.n).toBe(40); // every key whose content this backup stored
  });
});

describe("snapshot files endpoint", () => {
  it("pages under a prefix in key order and rejects an unfinished backup", async () => {
    const objects = variedObjects(230);
    await putObjects(objects);
    const done = await backup("full");
    const expected = objects
      .map((o) => o.key)
      .filter((k) => k.startsWith("reports/"))
      .sort();
    expect((await snapshotFiles(done.id, "reports/", 9)).map((f) => f.path)).toEqual(expected);
    expect(await snapshotFiles(done.id, "no-such-prefix/")).toEqual([]);

    const page = await api("GET", `/api/backup/files/${done.id}?limit=1&prefix=images/`);
    expect(page.body.files[0]).toMatchObject({ contentType: "image/png", lastModified: expect.any(String) });
    const mismatched = await api("GET", `/api/backup/files/${done.id}?prefix=uploads/&cursor=${page.body.nextCursor}`);
    expect(mismatched.status).toBe(400);

    const running = await api("POST", "/api/backup/create", { body: { type: "full" } });
    const early = await api("GET", `/api/backup/files/${running.body.backup.id}`);
    expect(early.status).toBe(409);
  });
});
