/**
 * GET /api/backup/diff on the local stack: what changed between two real snapshots (added,
 * modified content, modified metadata, deleted; the same bytes written again is no change),
 * paged with cursors tied to the query, under a prefix, both ways, and the refusals.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { putObjects, variedObjects } from "../helpers/buckets";
import { completedBackup, crashedBackup } from "../helpers/flows";

interface Change {
  path: string;
  change: string;
  before: { size: number; contentType: string | null } | null;
  after: { size: number; contentType: string | null } | null;
}

async function diffPages(from: string, to: string, query = "", limit = 1000) {
  const changes: Change[] = [];
  let cursor: string | null = null;
  do {
    const page: { status: number; body: { changes: Change[]; nextCursor: string | null } } = await api(
      "GET",
      `/api/backup/diff?from=${from}&to=${to}&limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    changes.push(...page.body.changes);
    cursor = page.body.nextCursor;
  } while (cursor);
  return changes;
}

/** A full backup of 300 objects, then an incremental after six kinds of change. */
async function twoSnapshots() {
  const objects = variedObjects(300);
  await putObjects(objects);
  const first = await completedBackup("full");
  const [modified, retyped, rewritten, deleted] = [objects[10]!, objects[20]!, objects[30]!, objects[40]!];
  await putObjects([
    { ...modified, body: "new content" },
    { ...retyped, contentType: "application/x-retyped" },
    { ...rewritten }, // the same bytes and metadata written again: a new etag and upload time only
    { key: "uploads/new-one.txt", body: "added" },
    { key: "zz/added-last.txt", body: "added too" },
  ]);
  await env.R2_BUCKET.delete(deleted.key);
  const second = await completedBackup("incremental");
  const expected = [
    [modified.key, "modified"],
    [retyped.key, "modified"],
    [deleted.key, "deleted"],
    ["uploads/new-one.txt", "added"],
    ["zz/added-last.txt", "added"],
  ].sort(([a], [b]) => (a! < b! ? -1 : 1));
  return { first, second, modified, retyped, deleted, expected };
}

describe("diff between two backups", () => {
  it("lists every change once in key order, in any page size, under a prefix, and both ways", async () => {
    const { first, second, modified, retyped, expected } = await twoSnapshots();
    const all = await diffPages(first.id, second.id);
    expect(all.map((c) => [c.path, c.change])).toEqual(expected);
    expect(all.find((c) => c.path === modified.key)).toMatchObject({
      before: { size: modified.body.length },
      after: { size: "new content".length },
    });
    expect(all.find((c) => c.path === retyped.key)).toMatchObject({
      before: { contentType: retyped.contentType },
      after: { contentType: "application/x-retyped" },
    });
    expect(all.find((c) => c.change === "added")).toMatchObject({ before: null, after: { size: 5 } });

    expect((await diffPages(first.id, second.id, "", 2)).map((c) => c.path)).toEqual(expected.map(([p]) => p));
    const folder = modified.key.split("/")[0]!;
    expect(
      (await diffPages(first.id, second.id, `&prefix=${encodeURIComponent(`${folder}/`)}`)).map((c) => c.path),
    ).toEqual(expected.map(([p]) => p!).filter((p) => p.startsWith(`${folder}/`)));
    const backwards = await diffPages(second.id, first.id);
    expect(backwards.map((c) => [c.path, c.change])).toEqual(
      expected.map(([p, c]) => [p, c === "added" ? "deleted" : c === "deleted" ? "added" : c]),
    );
    expect(await diffPages(second.id, second.id)).toEqual([]);
  });

  it("refuses what cannot be compared, in the contract's format", async () => {
    const { first, second } = await twoSnapshots();
    const failed = await crashedBackup("incremental");
    const cases: [string, number, RegExp][] = [
      [`from=${first.id}`, 400, /to/],
      [`from=${first.id}&to=${second.id}&limit=0`, 400, /limit/],
      [`from=${first.id}&to=${second.id}&since=yesterday`, 400, /since/],
      [`from=${first.id}&to=bk-20260101T000000Z-00000000`, 404, /No backup/],
      [
        `from=${first.id}&to=${failed}`,
        409,
        new RegExp(
          `${failed} is failed: it ended failed, without a snapshot; only a completed or partial backup can be compared`,
        ),
      ],
    ];
    for (const [query, status, message] of cases) {
      const response = await api("GET", `/api/backup/diff?${query}`);
      expect([query, response.status]).toEqual([query, status]);
      expect(response.body.error.message).toMatch(message);
    }
    const page = await api("GET", `/api/backup/diff?from=${first.id}&to=${second.id}&limit=1`);
    const reused = await api(
      "GET",
      `/api/backup/diff?from=${second.id}&to=${first.id}&limit=1&cursor=${encodeURIComponent(page.body.nextCursor)}`,
    );
    expect(reused.status).toBe(400);
    expect(reused.body.error.message).toMatch(/cursor belongs to another query/);
  });
});
