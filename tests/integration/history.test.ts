/**
 * GET /api/backup/history on the local stack: the versions of one key over real backups (changed,
 * unchanged, deleted, created again), paged, not fooled by a template backup whose prefixes leave
 * the key out, and the refusals.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { putObjects, sha256Hex } from "../helpers/buckets";
import { completedBackup } from "../helpers/flows";
import { runBackupToEnd } from "../helpers/jobs";

const KEY = "docs/plan.txt";

interface Version {
  checksum: string;
  firstBackupId: string;
  lastBackupId: string;
  deletedAt: string | null;
  backupIds: string[];
}

async function history(query: string) {
  const versions: Version[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: { status: number; body: { versions: Version[]; nextCursor: string | null } } = await api(
      "GET",
      `/api/backup/history?key=${encodeURIComponent(KEY)}${query}${cursor ? `&cursor=${cursor}` : ""}`,
    );
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    versions.push(...page.body.versions);
    cursor = page.body.nextCursor;
    pages++;
  } while (cursor);
  return { versions, pages };
}

/** Five backups: v1; v2; v2 unchanged; deleted; v3. */
async function fiveBackups() {
  const ids: string[] = [];
  const backup = async (type: "full" | "incremental") => ids.push((await completedBackup(type)).id);
  await putObjects([
    { key: KEY, body: "v1" },
    { key: "docs/other.txt", body: "other" },
  ]);
  await backup("full");
  await putObjects([{ key: KEY, body: "v2" }]);
  await backup("incremental");
  await backup("incremental");
  await env.R2_BUCKET.delete(KEY);
  await backup("incremental");
  await putObjects([{ key: KEY, body: "v3" }]);
  await backup("incremental");
  return ids;
}

describe("the versions of one key", () => {
  it("lists each distinct version newest first with its backups and when it was deleted, in pages of any size", async () => {
    const [b1, b2, b3, b4, b5] = await fiveBackups();
    const deletedAt = (await api("GET", `/api/backup/status/${b4}`)).body.backup.backupDate;
    const expected = [
      { checksum: await sha256Hex("v3"), firstBackupId: b5, lastBackupId: b5, deletedAt: null, backupIds: [b5] },
      { checksum: await sha256Hex("v2"), firstBackupId: b2, lastBackupId: b3, deletedAt, backupIds: [b3, b2] },
      { checksum: await sha256Hex("v1"), firstBackupId: b1, lastBackupId: b1, deletedAt: null, backupIds: [b1] },
    ];
    const whole = await history("");
    expect(whole.pages).toBe(1);
    expect(whole.versions).toMatchObject(expected);
    const paged = await history("&limit=1");
    expect(paged.pages).toBe(3);
    expect(paged.versions).toEqual(whole.versions);
  });

  it("does not take a template backup that leaves the key out for a deletion", async () => {
    await putObjects([
      { key: KEY, body: "v1" },
      { key: "media/a.png", body: "png" },
    ]);
    const full = await completedBackup("full");
    const template = await api("POST", "/api/backup/templates", {
      body: { name: "media-only", sourceBinding: "R2_BUCKET", bucketName: "cutty-files", includePrefixes: ["media/"] },
    });
    expect(template.status, JSON.stringify(template.body)).toBe(201);
    const created = await api("POST", "/api/backup/create", { body: { template: "media-only", type: "full" } });
    await runBackupToEnd(created.body.backup.id);
    const { versions } = await history("");
    expect(versions).toMatchObject([{ firstBackupId: full.id, deletedAt: null, backupIds: [full.id] }]);
    expect((await history("&bucket=media-files")).versions).toEqual([]);
  });

  it("names a kept backup whose manifest is missing instead of leaving it out", async () => {
    const [, second] = await fiveBackups();
    await env.R2_BACKUP_BUCKET.delete(`manifests/${second}/index.json`);
    const refused = await api("GET", `/api/backup/history?key=${encodeURIComponent(KEY)}`);
    expect([refused.status, refused.body.error.details]).toEqual([409, { backupId: second }]);
    expect(refused.body.error.message).toContain(`kept backup ${second} is missing`);
  });

  it("refuses a missing key, a bad bucket name, a foreign cursor and unknown parameters", async () => {
    await fiveBackups();
    const first = await api("GET", `/api/backup/history?key=${encodeURIComponent(KEY)}&limit=1`);
    for (const path of [
      "/api/backup/history",
      "/api/backup/history?key=",
      `/api/backup/history?key=a&bucket=Not_A_Bucket`,
      `/api/backup/history?key=another.txt&cursor=${first.body.nextCursor}`,
      `/api/backup/history?key=a&limit=101`,
      `/api/backup/history?key=a&prefix=docs/`,
    ]) {
      const refused = await api("GET", path);
      expect([refused.status, refused.body.error.code], path).toEqual([400, "validation_failed"]);
    }
  });
});
