/**
 * The garbage-collection defects of the issue "Garbage collection that cannot lose data", one
 * test each; every one of these failed on the code before its fix (grace period 0 in this project).
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { emptyBucket, putObjects, type SeedObject } from "../helpers/buckets";
import { completedBackup, verify } from "../helpers/flows";
import { cleanupJobStub, runJobToEnd } from "../helpers/jobs";
import { snapshotEntries } from "../helpers/manifest";
import { readIndex } from "../../durable-objects/engine/format/manifest";
import { locatorOf, openManifest } from "../../durable-objects/engine/format/manifest-reader";

async function freshBuckets(): Promise<void> {
  await emptyBucket(env.R2_BUCKET);
  await emptyBucket(env.R2_BACKUP_BUCKET);
  await env.DB.batch(["r2_backups", "backup_files", "backup_logs", "backup_jobs", "job_findings"].map((t) => env.DB.prepare(`DELETE FROM ${t}`)));
}

async function cleanup(body: unknown): Promise<string> {
  const started = await api("POST", "/api/backup/cleanup", { body });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  await runJobToEnd(cleanupJobStub(started.body.job.id));
  const job = (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
  expect(job.status, JSON.stringify(job)).toBe("completed");
  return job.id;
}

/** A snapshot's leaves in order, each with its keys (read as the engine reads them). */
async function leavesWithKeys(backupId: string): Promise<string[][]> {
  const index = (await readIndex(env.R2_BACKUP_BUCKET, null, backupId))!;
  const reader = openManifest(env.R2_BACKUP_BUCKET, null, locatorOf(index));
  const leaves: string[][] = [];
  for (let seq = 0; seq < reader.chunkCount; seq++) {
    const leaf = await reader.leaf(seq);
    if (leaf.kind !== "leaf") throw new Error(`leaf ${seq} of ${backupId} is unreadable`);
    leaves.push(leaf.entries.map((e) => e.key));
  }
  return leaves;
}

describe("defect 2: the mark phase marks a new page whose children an older snapshot marked", () => {
  it("keeps the new root of a snapshot made only of old leaves, so the newest backup still verifies", { timeout: 120_000 }, async () => {
    await freshBuckets();
    const objects: SeedObject[] = Array.from({ length: 500 }, (_, i) => ({ key: `docs/${String(i).padStart(4, "0")}.txt`, body: `document ${i}` }));
    await putObjects(objects);
    const older = await completedBackup("full");
    const leaves = await leavesWithKeys(older.id);
    expect(leaves.length, "a tree of several leaves under an index page").toBeGreaterThanOrEqual(3);

    // Delete exactly the second leaf's keys (a folder): the next snapshot's leaves are all old
    // ones, under a new root page.
    await env.R2_BUCKET.delete(leaves[1]!);
    const newer = await completedBackup("incremental");
    expect(newer.status).toBe("completed");
    expect(await leavesWithKeys(newer.id)).toEqual([leaves[0], ...leaves.slice(2)]);

    // Both kept: the older one is marked first (ids in time order), then the newer one's root.
    await cleanup({ retentionDays: 0, keep: { last: 2 } });
    expect((await verify(newer.id)).result).toMatchObject({ valid: true, filesChecked: 500 - leaves[1]!.length });
    expect((await verify(older.id)).result).toMatchObject({ valid: true, filesChecked: 500 });
    expect((await snapshotEntries(env.R2_BACKUP_BUCKET, newer.id)).length).toBe(500 - leaves[1]!.length);
  });
});
