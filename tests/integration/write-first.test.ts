/**
 * Small content a backup expects to be new is written before the store is asked
 * (engine/backup/write-first.ts), on the real local R2, D1 and Durable Objects: a first full
 * backup asks the store in its first step only, a full backup of content the store holds writes
 * no blob, and a damaged blob met by a refused write is replaced as one found by asking is.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { compareKeys } from "../../durable-objects/engine/format/key-order";
import { api } from "../helpers/api";
import { putObjects, sha256Hex, variedObjects } from "../helpers/buckets";
import { armPlan, CallPlan } from "../helpers/interpose";
import { backupJobStub, runBackupToEnd, writeFirstFromNow } from "../helpers/jobs";

/** 250 objects of 10 bytes to 3 KB: three steps of at most 100. */
const OBJECTS = variedObjects(250).sort((a, b) => compareKeys(a.key, b.key));

/**
 * A full backup run to its end with every call to the backup bucket's blobs noted, in order;
 * `writeFirst`: it starts as one whose earlier steps found their content new.
 */
async function fullBackupWatchingBlobs(
  writeFirst = false,
): Promise<{ id: string; blobCalls: { call: string; key: string }[] }> {
  const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
  expect(created.status, JSON.stringify(created.body)).toBe(202);
  const id: string = created.body.backup.id;
  if (writeFirst) await writeFirstFromNow(backupJobStub(id));
  const plan = new CallPlan("count");
  const blobCalls: { call: string; key: string }[] = [];
  plan.before = async (label, key) => {
    if (label.startsWith("R2_BACKUP_BUCKET.") && key.startsWith("blobs/"))
      blobCalls.push({ call: label.slice("R2_BACKUP_BUCKET.".length), key });
  };
  await armPlan(backupJobStub(id), plan);
  await runBackupToEnd(id);
  const backup = (await api("GET", `/api/backup/status/${id}`)).body.backup;
  expect(backup).toMatchObject({ status: "completed", fileCount: OBJECTS.length });
  return { id, blobCalls };
}

const count = (calls: { call: string }[], call: string) => calls.filter((c) => c.call === call).length;

describe("small content expected to be new is written before the store is asked", () => {
  it("a first full backup of 250 new objects asks the store in its first step only", async () => {
    await putObjects(OBJECTS);
    const { blobCalls } = await fullBackupWatchingBlobs();
    // The first step knows nothing yet and asks (100 HEADs); the next two find all new and write first.
    expect(count(blobCalls, "head")).toBe(100);
    expect(count(blobCalls, "put")).toBe(OBJECTS.length);
    expect((await env.R2_BACKUP_BUCKET.list({ prefix: "blobs/" })).objects).toHaveLength(OBJECTS.length);
  });

  it("a full backup of content the store holds asks for every object and writes no blob", async () => {
    await putObjects(OBJECTS);
    await fullBackupWatchingBlobs();
    const { blobCalls } = await fullBackupWatchingBlobs();
    expect(count(blobCalls, "head")).toBe(OBJECTS.length);
    expect(count(blobCalls, "put")).toBe(0);
  });

  it("a backup writing first over content the store holds: each write refused, then checked, nothing uploaded", async () => {
    await putObjects(OBJECTS);
    await fullBackupWatchingBlobs();
    const { id, blobCalls } = await fullBackupWatchingBlobs(true);
    // The first step writes first (refused, then a HEAD finds the blob sound); having found all of
    // it stored, the next steps ask first.
    const firstStep = blobCalls.slice(0, 200);
    expect(count(firstStep, "put")).toBe(100);
    expect(count(firstStep, "head")).toBe(100);
    expect(count(blobCalls.slice(200), "put")).toBe(0);
    const backup = (await api("GET", `/api/backup/status/${id}`)).body.backup;
    expect(backup.performance.bytesUploaded).toBe(0);
    expect(backup.fileCount).toBe(OBJECTS.length);
  });

  it("a damaged blob met by a refused write is checked and replaced", async () => {
    await putObjects(OBJECTS);
    // In the third step, which writes first: a blob of the wrong size at the content's name.
    const victim = OBJECTS[220]!;
    const hash = await sha256Hex(victim.body);
    const blob = `blobs/${hash}`;
    await env.R2_BACKUP_BUCKET.put(blob, "not the content", { customMetadata: { sha256: hash } });
    const { id, blobCalls } = await fullBackupWatchingBlobs();
    expect(blobCalls.filter((c) => c.key === blob).map((c) => c.call)).toEqual(["put", "head", "put"]);
    const stored = await env.R2_BACKUP_BUCKET.get(blob);
    expect(await sha256Hex(await stored!.arrayBuffer())).toBe(hash);
    const logs = (await api("GET", `/api/backup/logs/${id}?level=warn`)).body.logs as { message: string }[];
    expect(logs.map((log) => log.message)).toContainEqual(
      expect.stringMatching(new RegExp(`^Repaired ${blob} \\(content of ${victim.key}\\): .*stored size 15 differs`)),
    );
  });
});
