/**
 * GET and HEAD /api/backup/object/:id on the local stack: one object's content as a backup holds
 * it, whole and by range, with its metadata as headers; an older version from an older backup; a
 * damaged copy that ends the transfer short and is logged; and the refusals.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, apiResponse } from "../helpers/api";
import { putObjects, sha256Hex } from "../helpers/buckets";
import { completedBackup, crashedBackup } from "../helpers/flows";
import { snapshotEntries } from "../helpers/manifest";
import { mintToken } from "../helpers/tokens";

const REPORT = "reports/2026/naïve résumé (final).txt";
const reportBody = "quarterly figures\n".repeat(200);

async function oneBackup() {
  await putObjects([
    {
      key: REPORT,
      body: reportBody,
      contentType: "text/plain; charset=utf-8",
      customMetadata: { owner: "ana", note: "résumé", "bad name": "x" },
    },
    { key: "empty.bin", body: new Uint8Array(0) },
    { key: "images/logo.png", body: new Uint8Array([137, 80, 78, 71, 1, 2, 3]), contentType: "image/png" },
  ]);
  return completedBackup("full");
}

const objectPath = (backupId: string, key: string) => `/api/backup/object/${backupId}?key=${encodeURIComponent(key)}`;

describe("downloading one object from a backup", () => {
  it("streams the content with its metadata as headers, and HEAD answers the same headers alone", async () => {
    const backup = await oneBackup();
    const response = await apiResponse("GET", objectPath(backup.id, REPORT));
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(reportBody);
    const sha256 = await sha256Hex(reportBody);
    const expectedHeaders = {
      "content-type": "text/plain; charset=utf-8",
      "content-length": String(new TextEncoder().encode(reportBody).length),
      etag: `"${sha256}"`,
      "accept-ranges": "bytes",
      "content-disposition": "attachment; filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9%20%28final%29.txt",
      "x-amz-meta-owner": "ana",
      "x-amz-meta-note": `=?UTF-8?B?${btoa(String.fromCharCode(...new TextEncoder().encode("résumé")))}?=`,
      "x-amz-missing-meta": "1",
      "cache-control": "private, no-store",
      "x-content-type-options": "nosniff",
    };
    expect(Object.fromEntries(response.headers)).toMatchObject(expectedHeaders);
    expect(Date.parse(response.headers.get("last-modified")!)).toBeGreaterThan(0);

    const head = await apiResponse("HEAD", objectPath(backup.id, REPORT));
    expect(head.status).toBe(200);
    expect(Object.fromEntries(head.headers)).toMatchObject(expectedHeaders);
    expect(await head.text()).toBe("");

    const empty = await apiResponse("GET", objectPath(backup.id, "empty.bin"));
    expect([empty.status, empty.headers.get("content-type"), (await empty.arrayBuffer()).byteLength]).toEqual([
      200,
      "application/octet-stream",
      0,
    ]);
    const image = await apiResponse("GET", objectPath(backup.id, "images/logo.png"));
    expect([...new Uint8Array(await image.arrayBuffer())]).toEqual([137, 80, 78, 71, 1, 2, 3]);
  });

  it("serves one byte range as 206, and refuses what it cannot serve as 416", async () => {
    const backup = await oneBackup();
    const size = new TextEncoder().encode(reportBody).length;
    const bytes = new TextEncoder().encode(reportBody);
    const ranged = async (range: string, extra: Record<string, string> = {}) => {
      const response = await apiResponse("GET", objectPath(backup.id, REPORT), { headers: { range, ...extra } });
      return { response, body: new Uint8Array(await response.arrayBuffer()) };
    };
    for (const [range, start, end] of [
      ["bytes=0-9", 0, 9],
      ["bytes=100-", 100, size - 1],
      ["bytes=-17", size - 17, size - 1],
      [`bytes=3000-${size * 2}`, 3000, size - 1],
    ] as const) {
      const { response, body } = await ranged(range);
      expect(response.status, range).toBe(206);
      expect(response.headers.get("content-range"), range).toBe(`bytes ${start}-${end}/${size}`);
      expect(response.headers.get("content-length"), range).toBe(String(end - start + 1));
      expect(body, range).toEqual(bytes.subarray(start, end + 1));
    }
    for (const range of [`bytes=${size}-`, "bytes=0-1,5-6", "bytes=9-3", "items=0-1", "bytes=-0", "bytes=abc"]) {
      const { response, body } = await ranged(range);
      expect(response.status, range).toBe(416);
      expect(response.headers.get("content-range"), range).toBe(`bytes */${size}`);
      expect(JSON.parse(new TextDecoder().decode(body)).error.code, range).toBe("range_not_satisfiable");
    }
    // If-Range: the range only while the content is the one the client has part of.
    const etag = `"${await sha256Hex(reportBody)}"`;
    expect((await ranged("bytes=0-9", { "if-range": etag })).response.status).toBe(206);
    const other = await ranged("bytes=0-9", { "if-range": '"another"' });
    expect([other.response.status, other.body.length]).toEqual([200, size]);
    // A HEAD with a range answers the range's headers.
    const head = await apiResponse("HEAD", objectPath(backup.id, REPORT), { headers: { range: "bytes=5-9" } });
    expect([head.status, head.headers.get("content-range"), head.headers.get("content-length")]).toEqual([
      206,
      `bytes 5-9/${size}`,
      "5",
    ]);
  });

  it("gives each backup's version of a key: the older backup keeps the content it saw", async () => {
    const first = await oneBackup();
    await putObjects([{ key: REPORT, body: "rewritten", contentType: "text/markdown" }]);
    const second = await completedBackup("incremental");
    const older = await apiResponse("GET", objectPath(first.id, REPORT));
    const newer = await apiResponse("GET", objectPath(second.id, REPORT));
    expect([await older.text(), older.headers.get("content-type")]).toEqual([reportBody, "text/plain; charset=utf-8"]);
    expect([await newer.text(), newer.headers.get("content-type")]).toEqual(["rewritten", "text/markdown"]);
  });

  it("ends a damaged copy's transfer short of its last bytes, and logs why in the backup's log", async () => {
    const backup = await oneBackup();
    const [entry] = (await snapshotEntries(env.R2_BACKUP_BUCKET, backup.id)).filter((e) => e.key === REPORT);
    // The same size, one byte changed: only the hash can tell.
    const damaged = new TextEncoder().encode(reportBody);
    damaged[damaged.length - 1] = damaged.at(-1)! ^ 1;
    await env.R2_BACKUP_BUCKET.put(entry!.blob, damaged);

    const response = await apiResponse("GET", objectPath(backup.id, REPORT));
    expect(response.status).toBe(200);
    const received: number[] = [];
    const reader = response.body!.getReader();
    const ended = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return "completed";
        received.push(value.length);
      }
    })().catch((error: Error) => `failed: ${error.message}`);
    expect(ended).toMatch(/^failed/);
    expect(received.reduce((a, b) => a + b, 0)).toBeLessThan(damaged.length);

    const log = (await api("GET", `/api/backup/logs/${backup.id}?level=error`)).body.logs as { message: string }[];
    expect(log.map((l) => l.message)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^Download of ${REPORT.replace(/[()]/g, "\\$&")} from backup ${backup.id} failed: the backup's copy does not match its checksum`,
        ),
      ),
    ]);

    // A missing copy is refused before any byte, and logged too.
    await env.R2_BACKUP_BUCKET.delete(entry!.blob);
    const missing = await api("GET", objectPath(backup.id, REPORT));
    expect([missing.status, missing.body.error.message]).toEqual([
      409,
      expect.stringContaining("the backup bucket's copy is missing"),
    ]);
  });

  it("refuses an unknown backup or key, a backup without a snapshot, bad input and a token without restore", async () => {
    const backup = await oneBackup();
    const refused = async (path: string, token?: string) => {
      const response = await api("GET", path, token === undefined ? {} : { token });
      return [response.status, response.body?.error?.code];
    };
    expect(await refused(objectPath("bk-nope", REPORT))).toEqual([404, "not_found"]);
    expect(await refused(objectPath(backup.id, "reports/none.txt"))).toEqual([404, "not_found"]);
    expect(await refused(`/api/backup/object/${backup.id}`)).toEqual([400, "validation_failed"]);
    expect(await refused(`/api/backup/object/${backup.id}?key=`)).toEqual([400, "validation_failed"]);
    expect(await refused(`${objectPath(backup.id, REPORT)}&copy=replica`)).toEqual([400, "validation_failed"]);
    expect(await refused(objectPath(await crashedBackup(), REPORT))).toEqual([409, "conflict"]);
    expect(await refused(objectPath(backup.id, REPORT), await mintToken({ scope: "backup:read" }))).toEqual([
      403,
      "forbidden",
    ]);
    const audit = (await api("GET", "/api/backup/audit?action=backup.download")).body.events as {
      target: string;
      outcome: string;
      detail: string | null;
    }[];
    expect(audit.map((e) => e.outcome).sort()).toEqual([
      "refused",
      "refused",
      "refused",
      "refused",
      "refused",
      "refused",
      "refused",
    ]);
    await apiResponse("GET", objectPath(backup.id, REPORT)).then((r) => r.arrayBuffer());
    const [latest] = (await api("GET", "/api/backup/audit?action=backup.download")).body.events;
    expect(latest).toMatchObject({ target: backup.id, outcome: "accepted", detail: `key: ${REPORT}` });
  });
});
