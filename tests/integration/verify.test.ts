import { env, evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { putObjects, variedObjects } from "../helpers/buckets";
import { completedBackup, verify } from "../helpers/flows";
import { runJobToEnd, verifyJobStub } from "../helpers/jobs";
import { leavesOf } from "../helpers/manifest";

const OBJECTS = variedObjects(230);

async function blobOf(backupId: string, path: string): Promise<string> {
  const files = await api("GET", `/api/backup/files/${backupId}?prefix=${encodeURIComponent(path)}&limit=1`);
  return `blobs/${files.body.files[0].checksum}`;
}

describe("verify", () => {
  it("passes a sound backup and records when and how it was verified", async () => {
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    const job = await verify(backup.id);
    expect(job).toMatchObject({
      kind: "verify",
      status: "completed",
      backupId: backup.id,
      progress: { filesProcessed: 230, filesTotal: 230 },
    });
    expect(job.result).toMatchObject({
      valid: true,
      mode: "full",
      filesChecked: 230,
      filesMissing: 0,
      checksumMismatches: 0,
      problems: [],
    });
    const status = (await api("GET", `/api/backup/status/${backup.id}`)).body.backup;
    expect(status).toMatchObject({ lastVerificationValid: true, lastVerifiedAt: expect.any(String) });
  });

  it("finds a deleted, a corrupted and a truncated blob and a missing manifest chunk, each by path", async () => {
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    const [deleted, corrupted, truncated] = [OBJECTS[20]!.key, OBJECTS[40]!.key, OBJECTS[60]!.key];
    await env.R2_BACKUP_BUCKET.delete(await blobOf(backup.id, deleted));
    const corruptKey = await blobOf(backup.id, corrupted);
    const original = new Uint8Array(await (await env.R2_BACKUP_BUCKET.get(corruptKey))!.arrayBuffer());
    const flipped = original.slice();
    flipped[0] = flipped[0]! ^ 0xff;
    await env.R2_BACKUP_BUCKET.put(corruptKey, flipped, { customMetadata: { format: "raw" } });
    const truncateKey = await blobOf(backup.id, truncated);
    const whole = new Uint8Array(await (await env.R2_BACKUP_BUCKET.get(truncateKey))!.arrayBuffer());
    await env.R2_BACKUP_BUCKET.put(truncateKey, whole.slice(0, whole.length - 3), {
      customMetadata: { format: "raw" },
    });
    const leaves = await leavesOf(env.R2_BACKUP_BUCKET, backup.id);
    expect(leaves.length).toBeGreaterThanOrEqual(2);
    const lost = leaves.at(-1)!; // the objects above were in earlier leaves
    await env.R2_BACKUP_BUCKET.delete(lost.key);

    const full = await verify(backup.id, { mode: "full" });
    expect(full.status).toBe("completed");
    expect(full.result.valid).toBe(false);
    const byPath = Object.fromEntries(
      full.result.problems.map((p: { path: string; problem: string }) => [p.path, p.problem]),
    );
    expect(byPath).toMatchObject({
      [deleted]: "missing_blob",
      [corrupted]: "checksum_mismatch",
      [truncated]: "checksum_mismatch",
      [lost.key]: "missing_manifest_chunk",
    });
    expect(full.result).toMatchObject({ filesMissing: 1, checksumMismatches: 2, filesChecked: 230 - lost.entries });

    // Quick only checks existence and raw size: it sees the deleted and the truncated blob, not the flipped byte.
    const quick = await verify(backup.id, { mode: "quick" });
    const quickPaths = Object.fromEntries(
      quick.result.problems.map((p: { path: string; problem: string }) => [p.path, p.problem]),
    );
    expect(quickPaths[deleted]).toBe("missing_blob");
    expect(quickPaths[truncated]).toBe("size_mismatch");
    expect(quickPaths[corrupted]).toBeUndefined();

    const logs = await api("GET", `/api/backup/logs/${backup.id}?level=error`);
    expect(logs.body.logs.map((l: { message: string }) => l.message)).toContainEqual(
      expect.stringMatching(/^Verification FAILED/),
    );
    expect((await api("GET", `/api/backup/status/${backup.id}`)).body.backup.lastVerificationValid).toBe(false);
  });

  it("reports an altered manifest chunk as damage, by its key, not a crash", async () => {
    await putObjects(OBJECTS.slice(0, 50));
    const backup = await completedBackup();
    const { key } = (await leavesOf(env.R2_BACKUP_BUCKET, backup.id))[0]!;
    const text = await (await env.R2_BACKUP_BUCKET.get(key))!.text();
    await env.R2_BACKUP_BUCKET.put(key, text.split("\n").slice(1).join("\n"));
    const job = await verify(backup.id, { mode: "quick" });
    expect(job.result.valid).toBe(false);
    // Its content no longer hashes to its name; the chain is then known broken, so that one finding says it all.
    expect(job.result.problems).toEqual([
      {
        path: key,
        problem: "corrupt_manifest_chunk",
        expected: "readable",
        actual: `${key} does not hold the content its name is the hash of`,
      },
    ]);
  });

  it("reports an implausibly large manifest chunk instead of reading it whole", async () => {
    await putObjects(OBJECTS.slice(0, 50));
    const backup = await completedBackup();
    const { key } = (await leavesOf(env.R2_BACKUP_BUCKET, backup.id))[0]!;
    await env.R2_BACKUP_BUCKET.put(key, new Uint8Array(9 * 1024 * 1024));
    const job = await verify(backup.id, { mode: "quick" });
    expect(job.result.problems).toEqual([
      {
        path: key,
        problem: "corrupt_manifest_chunk",
        expected: "readable",
        actual: expect.stringMatching(/more than a manifest object can be/),
      },
    ]);
  });

  it("samples a rotating window, so repeated samples cover every object", async () => {
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    const runs = [];
    for (let i = 0; i < 4; i++) runs.push(await verify(backup.id, { samplePercent: 25 }));
    const checked = runs.map((r) => r.result.filesChecked);
    for (const n of checked) expect(n).toBeLessThan(230);
    expect(checked.reduce((a, b) => a + b, 0)).toBe(230);
  });

  it("resumes a verification killed midway to the same result", async () => {
    await putObjects(OBJECTS);
    const backup = await completedBackup();
    const expected = (await verify(backup.id)).result;
    const started = await api("POST", `/api/backup/verify/${backup.id}`);
    const stub = verifyJobStub(started.body.job.id);
    await runDurableObjectAlarm(stub);
    await evictDurableObject(stub);
    await runJobToEnd(stub);
    expect((await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job.result).toEqual(expected);
  });

  it("refuses bad bodies, unknown ids and unfinished backups", async () => {
    await putObjects(OBJECTS.slice(0, 5));
    const backup = await completedBackup();
    for (const body of [
      { mode: "deep" },
      { samplePercent: 0 },
      { samplePercent: 101 },
      { samplePercent: 2.5 },
      { extra: 1 },
    ]) {
      expect((await api("POST", `/api/backup/verify/${backup.id}`, { body })).status).toBe(400);
    }
    expect((await api("POST", "/api/backup/verify/bk-20200101T000000Z-00000000")).status).toBe(404);
    expect((await api("GET", "/api/backup/jobs/job-nope")).status).toBe(404);
    const running = await api("POST", "/api/backup/create", { body: { type: "full" } });
    expect((await api("POST", `/api/backup/verify/${running.body.backup.id}`)).status).toBe(409);
    const jobs = await env.DB.prepare("SELECT count(*) AS n FROM backup_jobs").first<{ n: number }>();
    expect(jobs!.n).toBe(0);
  });
});
