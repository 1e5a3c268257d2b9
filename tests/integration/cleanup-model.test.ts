/**
 * A model-based test of retention (fast-check): random histories of puts, overwrites, deletes,
 * full and incremental backups, backups that crash midway (after storing blobs and manifest chunks,
 * before their index) and cleanups with random policies. After every cleanup, every kept backup
 * verifies clean and restores exactly the bucket it saw, and the store holds exactly the blobs and
 * manifest chunks the kept backups need (grace period 0 in this project).
 */
import { env } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { listAll, sha256Hex } from "../helpers/buckets";
import { completedBackup, crashedBackup, restore, verify } from "../helpers/flows";
import { cleanupJobStub, runJobToEnd } from "../helpers/jobs";
import { chunkKeysOf } from "../helpers/manifest";
import { freshSource } from "../fault-matrix/scenarios";

type Op =
  | { kind: "put"; key: string; content: string }
  | { kind: "delete"; key: string }
  | { kind: "backup"; type: "full" | "incremental" }
  | { kind: "crashed-backup"; type: "full" | "incremental" }
  | { kind: "cleanup"; last: number; daily: number };

const key = fc.constantFrom("a.txt", "b.txt", "dir/c.txt", "dir/d.csv", "é/e.txt");
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("put" as const),
      key,
      content: fc.string({ unit: fc.constantFrom("x", "y", "z", "é"), minLength: 1, maxLength: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), key }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("backup" as const),
      type: fc.constantFrom("full" as const, "incremental" as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("crashed-backup" as const),
      type: fc.constantFrom("full" as const, "incremental" as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("cleanup" as const),
      last: fc.integer({ min: 0, max: 2 }),
      daily: fc.integer({ min: 0, max: 1 }),
    }),
  },
);

async function keptBackups(): Promise<string[]> {
  const rows = await env.DB.prepare(
    "SELECT id FROM r2_backups WHERE status IN ('completed', 'partial') ORDER BY backup_date",
  ).all<{ id: string }>();
  return rows.results.map((r) => r.id);
}

/** Every kept backup restores exactly what it saw, and verifies; the store holds what they need. */
async function checkKept(snapshots: Map<string, Map<string, string>>, run: number): Promise<void> {
  const needed = new Set<string>();
  for (const [index, id] of (await keptBackups()).entries()) {
    const expected = snapshots.get(id)!;
    for (const content of expected.values()) needed.add(`blobs/${await sha256Hex(content)}`);
    expect((await verify(id)).result, `backup ${id} verifies`).toMatchObject({
      valid: true,
      filesChecked: expected.size,
    });
    const prefix = `restored-${run}-${index}/`;
    const job = await restore(id, { targetPrefix: prefix });
    expect(job.result.filesRestored).toBe(expected.size);
    const restored = new Map<string, string>();
    for (const object of await listAll(env.R2_BUCKET, prefix))
      restored.set(object.key.slice(prefix.length), await (await env.R2_BUCKET.get(object.key))!.text());
    expect(restored, `backup ${id} restores exactly`).toEqual(expected);
    const keys = (await listAll(env.R2_BUCKET, prefix)).map((o) => o.key);
    if (keys.length) await env.R2_BUCKET.delete(keys);
  }
  expect(
    new Set((await listAll(env.R2_BACKUP_BUCKET, "blobs/")).map((o) => o.key)),
    "the store holds exactly what kept backups need",
  ).toEqual(needed);
  const chunks = new Set((await listAll(env.R2_BACKUP_BUCKET, "chunks/")).map((o) => o.key));
  expect(chunks, "the store holds exactly the manifest chunks kept backups name").toEqual(
    await chunkKeysOf(env.R2_BACKUP_BUCKET, await keptBackups(), null),
  );
}

describe("retention against a model of the bucket's history", () => {
  it(
    "after every cleanup, kept backups verify and restore exactly, and nothing unneeded survives",
    { timeout: 240_000 },
    async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 4, maxLength: 10 }), async (ops) => {
          run += 1;
          await freshSource([]);
          const bucket = new Map<string, string>();
          const snapshots = new Map<string, Map<string, string>>();
          for (const step of [...ops, { kind: "cleanup", last: 0, daily: 0 } as Op]) {
            if (step.kind === "put") {
              await env.R2_BUCKET.put(step.key, step.content);
              bucket.set(step.key, step.content);
            } else if (step.kind === "delete") {
              await env.R2_BUCKET.delete(step.key);
              bucket.delete(step.key);
            } else if (step.kind === "backup") {
              const backup = await completedBackup(step.type);
              expect(backup.status).toBe("completed");
              snapshots.set(backup.id, new Map(bucket));
            } else if (step.kind === "crashed-backup") {
              await crashedBackup(step.type);
            } else {
              const started = await api("POST", "/api/backup/cleanup", {
                body: { retentionDays: 0, keep: { last: step.last, daily: step.daily } },
              });
              expect(started.status).toBe(202);
              await runJobToEnd(cleanupJobStub(started.body.job.id));
              expect((await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job.status).toBe("completed");
              await checkKept(snapshots, run);
            }
          }
        }),
        { numRuns: 15, seed: 4242 },
      );
    },
  );
});
