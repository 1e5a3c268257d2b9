/**
 * Finding objects in a backup by glob (files?pattern=) and restoring by globs, size and content
 * type, on the local stack: what a dry run plans is exactly what the filters select, its first
 * log line says which filters, and bad filters are refused.
 */
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { putObjects } from "../helpers/buckets";
import { completedBackup, restore } from "../helpers/flows";

async function seeded() {
  await putObjects([
    { key: "reports/2026/q1.pdf", body: "pdf".repeat(40), contentType: "application/pdf" },
    { key: "reports/2026/q1.csv", body: "a,b", contentType: "text/csv" },
    { key: "reports/old/2020/a.pdf", body: "old pdf", contentType: "application/pdf" },
    { key: "docs/x.pdf", body: "x", contentType: "application/pdf" },
    { key: "top.pdf", body: "top", contentType: "application/pdf" },
    { key: "images/a.png", body: new Uint8Array(5000), contentType: "image/png" },
    { key: "images/b.jpg", body: new Uint8Array(50), contentType: "image/jpeg; q=0.9" },
  ]);
  return (await completedBackup()).id;
}

async function files(backupId: string, query: string, limit = 1000) {
  const paths: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { status: number; body: { files: { path: string }[]; nextCursor: string | null } } = await api(
      "GET",
      `/api/backup/files/${backupId}?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ""}`,
    );
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    paths.push(...page.body.files.map((f) => f.path));
    cursor = page.body.nextCursor;
  } while (cursor);
  return paths;
}

const planned = async (backupId: string, filters: unknown) => {
  // Over the objects still in place: without overwriteExisting they would all be skipped.
  const job = await restore(backupId, { dryRun: true, overwriteExisting: true, filters });
  return { planned: job.result.planned as string[], jobId: job.id as string };
};

describe("finding and filtering objects", () => {
  it("lists the keys a glob matches, under a prefix too, in pages of any size", async () => {
    const id = await seeded();
    const pattern = (glob: string) => `&pattern=${encodeURIComponent(glob)}`;
    expect(await files(id, pattern("reports/**/*.pdf"))).toEqual(["reports/2026/q1.pdf", "reports/old/2020/a.pdf"]);
    expect(await files(id, pattern("reports/**/*.pdf"), 1)).toEqual(["reports/2026/q1.pdf", "reports/old/2020/a.pdf"]);
    expect(await files(id, `${pattern("**/*.pdf")}&prefix=reports/old/`)).toEqual(["reports/old/2020/a.pdf"]);
    expect(await files(id, pattern("*.pdf"))).toEqual(["top.pdf"]); // * stays within a segment
    expect(await files(id, pattern("**.pdf"))).toEqual([
      "docs/x.pdf",
      "reports/2026/q1.pdf",
      "reports/old/2020/a.pdf",
      "top.pdf",
    ]);
    expect(await files(id, pattern("images/?.png"))).toEqual(["images/a.png"]);
    expect(await files(id, `${pattern("docs/*")}&prefix=images/`)).toEqual([]);

    const first = await api("GET", `/api/backup/files/${id}?limit=1${pattern("**.pdf")}`);
    const foreign = await api(
      "GET",
      `/api/backup/files/${id}?limit=1${pattern("*.csv")}&cursor=${first.body.nextCursor}`,
    );
    expect([foreign.status, foreign.body.error.code]).toEqual([400, "validation_failed"]);
    expect((await api("GET", `/api/backup/files/${id}?pattern=`)).status).toBe(400);
  });

  it("restores what include and exclude globs, a size range and content types select together", async () => {
    const id = await seeded();
    const pdfs = await planned(id, {
      include: ["reports/**"],
      exclude: ["**/old/**"],
      contentTypes: ["application/pdf"],
    });
    expect(pdfs.planned).toEqual(["reports/2026/q1.pdf"]);
    const images = await planned(id, { contentTypes: ["image/*"], sizeRange: { min: 1000 } });
    expect(images.planned).toEqual(["images/a.png"]);
    const jpeg = await planned(id, { contentTypes: ["image/jpeg"], pathPrefix: "images/", sizeRange: { max: 50 } });
    expect(jpeg.planned).toEqual(["images/b.jpg"]);
    const combined = await planned(id, { include: ["**/*.pdf", "**/*.csv"], fileExtensions: ["csv"] });
    expect(combined.planned).toEqual(["reports/2026/q1.csv"]);

    const log = (await api("GET", `/api/backup/logs/${pdfs.jobId}`)).body.logs as { message: string }[];
    expect(log[0]!.message).toContain("objects matching reports/**; not matching **/old/**; of type application/pdf");
  });

  it("refuses filters it cannot apply, starting nothing", async () => {
    const id = await seeded();
    for (const filters of [
      { include: [] },
      { exclude: [""] },
      { contentTypes: ["png"] },
      { sizeRange: { min: 5, max: 1 } },
      { sizeRange: { min: -1 } },
      { include: "reports/**" },
    ]) {
      const refused = await api("POST", `/api/backup/restore/${id}`, { body: { dryRun: true, filters } });
      expect([refused.status, refused.body.error.code], JSON.stringify(filters)).toEqual([400, "validation_failed"]);
    }
  });
});
