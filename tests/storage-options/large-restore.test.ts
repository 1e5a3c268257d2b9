/**
 * Restores of objects above the multipart threshold (6 MiB in this project), encrypted, part by
 * part (5 MiB parts, a 6 MiB step budget).
 */
import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RestoreState } from "../../durable-objects/engine/restore/restore-step";
import { api } from "../helpers/api";
import { emptyBucket, putObjects, sha256Hex, pseudoRandom } from "../helpers/buckets";
import { completedBackup, restore } from "../helpers/flows";
import { restoreJobStub } from "../helpers/jobs";

const MiB = 1024 * 1024;

const LARGE = pseudoRandom(13 * MiB + 321, 9);

describe("large restores", () => {
  it("restores a large encrypted object part by part, resuming after an eviction, byte-identical with metadata", async () => {
    await putObjects([
      { key: "media/film.mov", body: LARGE, contentType: "video/quicktime", customMetadata: { scene: "42" } },
      { key: "small.txt", body: "small" },
    ]);
    const backup = await completedBackup();
    await emptyBucket(env.R2_BUCKET);

    const started = await api("POST", `/api/backup/restore/${backup.id}`, { body: { verifyAfterRestore: true } });
    const stub = restoreJobStub(started.body.job.id);
    const partsSeen: number[] = [];
    while (await runDurableObjectAlarm(stub)) {
      const state = await runInDurableObject(stub, (_job, storage) => storage.storage.get<RestoreState>("checkpoint"));
      if (state?.large) partsSeen.push(state.large.parts.length);
      await evictDurableObject(stub);
    }
    expect(partsSeen).toEqual([0, 1, 2]); // started, then one 5 MiB part per 6 MiB step (3 parts in all)
    const job = (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
    expect(job.result).toMatchObject({
      filesRestored: 2,
      filesFailed: 0,
      verified: 2,
      verifyFailures: 0,
      bytesRestored: LARGE.length + 5,
    });
    const restored = await env.R2_BUCKET.get("media/film.mov");
    expect(restored!.httpMetadata?.contentType).toBe("video/quicktime");
    expect(restored!.customMetadata).toEqual({ scene: "42" });
    expect(await sha256Hex(await restored!.arrayBuffer())).toBe(await sha256Hex(LARGE));
  });

  it("never lands a damaged large copy, and never replaces an existing object", async () => {
    await putObjects([{ key: "media/film.mov", body: LARGE }]);
    const backup = await completedBackup();
    const files = (await api("GET", `/api/backup/files/${backup.id}`)).body.files;
    expect(files).toHaveLength(1);

    // Existing object, no overwrite: skipped, untouched.
    await env.R2_BUCKET.put("media/film.mov", "newer");
    const skipped = await restore(backup.id, {});
    expect(skipped.result).toMatchObject({ filesRestored: 0, filesSkipped: 1 });
    expect(await (await env.R2_BUCKET.get("media/film.mov"))!.text()).toBe("newer");

    // Damage a record in the middle of the blob: the object fails with the reason and is not written.
    const blobs = await env.R2_BACKUP_BUCKET.list({ prefix: "blobs/", include: ["customMetadata"] });
    const blob = blobs.objects.find((b) => b.size > 13 * MiB)!;
    const stored = new Uint8Array(await (await env.R2_BACKUP_BUCKET.get(blob.key))!.arrayBuffer());
    stored[stored.length - 100_000] = stored[stored.length - 100_000]! ^ 1;
    await env.R2_BACKUP_BUCKET.put(blob.key, stored, { customMetadata: blob.customMetadata });
    await emptyBucket(env.R2_BUCKET);
    const damaged = await restore(backup.id, {});
    expect(damaged.result).toMatchObject({ filesRestored: 0, filesFailed: 1 });
    expect(damaged.result.failures[0]).toEqual({
      path: "media/film.mov",
      reason: expect.stringMatching(/unreadable: .*failed authentication/),
    });
    expect(await env.R2_BUCKET.head("media/film.mov")).toBeNull();
  });
});
