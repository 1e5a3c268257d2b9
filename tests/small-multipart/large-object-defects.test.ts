/**
 * Review defects of the large-object phase (issue "Hardening", items 2 and 10), with small
 * multipart settings (threshold 1 MiB, parts 5 MiB, 4 MiB a step) and plain storage. Each failed
 * on the code before its fix.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { BackupJob } from "../../durable-objects/backup-job";
import type { BackupCheckpoint } from "../../durable-objects/engine/backup/backup-checkpoint";
import { api } from "../helpers/api";
import { emptyBucket, putObjects, sha256Hex } from "../helpers/buckets";
import { verify } from "../helpers/flows";
import { armPlan, CallPlan, disarm } from "../helpers/interpose";
import { backupJobStub, runBackupToEnd } from "../helpers/jobs";

const MiB = 1024 * 1024;

function content(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 997) bytes[i] = (i / 997 + seed) % 251;
  return bytes;
}

async function checkpoint(id: string) {
  return (await runInDurableObject(backupJobStub(id), (_job, state) =>
    state.storage.get<BackupCheckpoint>("checkpoint"),
  ))!;
}

async function startFull(): Promise<string> {
  const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
  expect(created.status).toBe(202);
  return created.body.backup.id;
}

describe("large objects under change and failure", () => {
  it("an object rewritten during every step of its capture is failed after 3 restarts, and the backup moves on", async () => {
    await emptyBucket(env.R2_BUCKET);
    await putObjects([
      { key: "a-small.txt", body: "small" },
      { key: "m/churn.bin", body: content(9 * MiB, 0) },
      { key: "z-small.txt", body: "last" },
    ]);
    const id = await startFull();
    let steps = 0;
    while (await runDurableObjectAlarm(backupJobStub(id))) {
      if (++steps > 40) throw new Error("the backup is still capturing the changing object after 40 steps");
      // Someone rewrites the object after every step.
      await env.R2_BUCKET.put("m/churn.bin", content(9 * MiB, steps));
    }
    const backup = (await api("GET", `/api/backup/status/${id}`)).body.backup;
    expect(backup).toMatchObject({ status: "partial", failedCount: 1, fileCount: 2, snapshotFileCount: 2 });
    const failed = await env.DB.prepare(
      "SELECT file_path, error FROM backup_files WHERE backup_id = ? AND status = 'failed'",
    )
      .bind(id)
      .all();
    expect(failed.results).toEqual([
      { file_path: "m/churn.bin", error: expect.stringMatching(/changed 4 times while it was being backed up/) },
    ]);
  });

  it("a source read error right after the upload was opened keeps the upload id (no leaked upload, no second one)", async () => {
    await emptyBucket(env.R2_BUCKET);
    const body = content(6 * MiB, 7);
    await putObjects([{ key: "big.bin", body }]);
    const id = await startFull();
    const stub = backupJobStub(id);
    const plan = new CallPlan("count");
    let opened = false;
    let failedOnce = false;
    plan.outage = (label) => {
      if (label.endsWith("createMultipartUpload")) opened = true;
      if (opened && !failedOnce && label === "R2_BUCKET.get") return (failedOnce = true);
      return false;
    };
    await armPlan(stub, plan);
    for (let i = 0; i < 20 && !failedOnce; i++) await runDurableObjectAlarm(stub).catch(() => undefined);
    expect(failedOnce).toBe(true);
    const large = (await checkpoint(id)).largeObject!;
    expect(large).toMatchObject({ stage: "uploading", readFailures: 1, uploadId: expect.any(String) });
    const uploadId = large.uploadId;

    await disarm(stub);
    await runInDurableObject(stub, (_job, state) => state.storage.setAlarm(Date.now() + 3_600_000));
    let sameUpload = true;
    while (await runDurableObjectAlarm(stub)) {
      const current = (await checkpoint(id)).largeObject;
      if (current?.uploadId && current.uploadId !== uploadId) sameUpload = false;
    }
    expect(sameUpload).toBe(true);
    expect((await api("GET", `/api/backup/status/${id}`)).body.backup).toMatchObject({
      status: "completed",
      fileCount: 1,
    });
    expect((await verify(id)).result).toMatchObject({ valid: true });
  });

  it("a part size changed in the middle of an upload does not apply to it (R2 needs equal parts)", async () => {
    await emptyBucket(env.R2_BUCKET);
    const body = content(11 * MiB, 3);
    await putObjects([{ key: "resized.bin", body }]);
    const id = await startFull();
    const stub = backupJobStub(id);
    while ((await checkpoint(id)).largeObject?.parts.length !== 1) {
      if (!(await runDurableObjectAlarm(stub))) throw new Error("the backup ended before its first part");
    }
    // The configuration changes under the running upload (a deploy with another part size).
    await runInDurableObject(stub, (job: BackupJob) => {
      job.wrapDeps = (deps) => ({
        ...deps,
        settings: { ...deps.settings, storage: { ...deps.settings.storage, partSize: 6 * MiB } },
      });
    });
    await runBackupToEnd(id);
    expect((await api("GET", `/api/backup/status/${id}`)).body.backup).toMatchObject({ status: "completed" });
    expect((await verify(id)).result).toMatchObject({ valid: true });
    const [blob] = (await env.R2_BACKUP_BUCKET.list({ prefix: "blobs/" })).objects;
    expect(blob!.key).toBe(`blobs/${await sha256Hex(body)}`);
    expect(await sha256Hex(await (await env.R2_BACKUP_BUCKET.get(blob!.key))!.arrayBuffer())).toBe(
      await sha256Hex(body),
    );
  });
});
