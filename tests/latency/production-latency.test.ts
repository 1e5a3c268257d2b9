/**
 * Issue 23, part 1: this project sets BACKUP_TEST_R2_LATENCY=production×4 (vitest.config.ts), so
 * every job object's R2 calls wait for one of its 6 connections and four times the production
 * latencies (engine/r2-latency.ts). A backup and a restore of 12 small objects cannot then finish
 * faster than 6 connections allow, and they end exactly as without the layer.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { emptyBucket, listAll, putObjects, sha256Hex } from "../helpers/buckets";
import { completedBackup, restore, verify } from "../helpers/flows";

const OBJECTS = Array.from({ length: 12 }, (_, i) => ({ key: `docs/${i}.txt`, body: `document ${i}` }));
const X = 4;

describe("production-shaped R2 latency", () => {
  it("makes a full backup and a restore wait as 6 connections would, and changes nothing else", async () => {
    await emptyBucket(env.R2_BUCKET);
    await emptyBucket(env.R2_BACKUP_BUCKET);
    await putObjects(OBJECTS);

    let started = performance.now();
    const backup = await completedBackup("full");
    const backupMs = performance.now() - started;
    expect(backup).toMatchObject({ status: "completed", snapshotFileCount: 12 });
    // Per object at least its read (GET 30 ms) and its blob's write (PUT 80 ms), 12 objects through
    // 6 connections: two rounds; and a LIST (60 ms) before them. All × 4.
    expect(backupMs).toBeGreaterThanOrEqual(X * (2 * (30 + 80) + 60));
    expect((await verify(backup.id, { mode: "full" })).result).toMatchObject({ valid: true, filesChecked: 12 });

    await emptyBucket(env.R2_BUCKET);
    started = performance.now();
    const job = await restore(backup.id, {});
    const restoreMs = performance.now() - started;
    expect(job).toMatchObject({ status: "completed" });
    // Per object its blob's read and its write into the bucket, two rounds through 6 connections.
    expect(restoreMs).toBeGreaterThanOrEqual(X * 2 * (30 + 80));
    const restored = await listAll(env.R2_BUCKET);
    expect(restored.map((o) => o.key).sort()).toEqual(OBJECTS.map((o) => o.key).sort());
    for (const object of OBJECTS) {
      const body = await env.R2_BUCKET.get(object.key);
      expect(await sha256Hex(await body!.arrayBuffer())).toBe(await sha256Hex(object.body));
    }
    console.log(
      `under production×${X} latency: full backup of 12 objects ${backupMs.toFixed(0)} ms, restore ${restoreMs.toFixed(0)} ms`,
    );
  });
});
