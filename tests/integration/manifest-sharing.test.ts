/**
 * Manifest version 2 on the real local stack: snapshots share chunks, an incremental stores only
 * the chunks its changes touched, and version 1 manifests are still read everywhere.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MANIFEST_VERSION, readIndex, writeIndex } from "../../durable-objects/engine/format/manifest";
import { locatorOf, openManifest, type PathStep } from "../../durable-objects/engine/format/manifest-reader";
import { chunkKey } from "../../durable-objects/engine/format/manifest-tree";
import { api } from "../helpers/api";
import { emptyBucket, listAll, putObjects, type SeedObject } from "../helpers/buckets";
import { completedBackup, restore, verify } from "../helpers/flows";
import { backupJobStub, coordinatorStub, runBackupToEnd } from "../helpers/jobs";
import type { BackupCheckpoint } from "../../durable-objects/engine/backup/backup-checkpoint";
import { chunkKeysOf, leavesOf, snapshotEntries, writeV1Manifest } from "../helpers/manifest";

const docs = (n: number, version: number): SeedObject[] =>
  Array.from({ length: n }, (_, i) => ({
    key: `docs/f-${String(i).padStart(4, "0")}.txt`,
    body: `document ${i}, version ${version}`,
  }));

/** Leaf number of each key in a backup's manifest. */
async function leafOfKey(backupId: string): Promise<Map<string, number>> {
  const index = (await readIndex(env.R2_BACKUP_BUCKET, null, backupId))!;
  const reader = openManifest(env.R2_BACKUP_BUCKET, null, locatorOf(index));
  const leaves = new Map<string, number>();
  for (let seq = 0; seq < reader.chunkCount; seq++) {
    const leaf = await reader.leaf(seq);
    if (leaf.kind === "leaf") for (const entry of leaf.entries) leaves.set(entry.key, seq);
  }
  return leaves;
}

async function levelOf(key: string): Promise<number> {
  const object = await env.R2_BACKUP_BUCKET.head(key);
  return Number(object!.customMetadata!.level);
}

describe("manifest sharing", () => {
  it("an incremental after a 1% change stores only its changed keys' leaves and the pages above them; an unchanged full backup names the same chunks", async () => {
    await emptyBucket(env.R2_BUCKET);
    await emptyBucket(env.R2_BACKUP_BUCKET);
    await putObjects(docs(1000, 1));
    const full = await completedBackup("full");
    const before = await chunkKeysOf(env.R2_BACKUP_BUCKET, [full.id], null);
    const leafOf = await leafOfKey(full.id);
    expect(new Set(leafOf.values()).size).toBeGreaterThan(6);

    // 1% of the objects, one contiguous run of keys (a folder's worth of edits).
    const changed = docs(1000, 2).slice(700, 710);
    await putObjects(changed);
    const incremental = await completedBackup("incremental");
    const after = await chunkKeysOf(env.R2_BACKUP_BUCKET, [incremental.id], null);
    const fresh = [...after].filter((key) => !before.has(key));
    const freshLeaves = [];
    for (const key of fresh) if ((await levelOf(key)) === 0) freshLeaves.push(key);
    const touched = new Set(changed.map((o) => leafOf.get(o.key)));
    // No key came or went, so every boundary stayed: exactly the touched leaves are new.
    expect(freshLeaves).toHaveLength(touched.size);
    const root = (await readIndex(env.R2_BACKUP_BUCKET, null, incremental.id))!.root!;
    // Above them, per level, the page holding each and at most one neighbour whose page boundary
    // moved with the changed name (names carry upload times, so which ones varies from run to run).
    expect(fresh.length).toBeLessThanOrEqual(touched.size * (1 + 2 * (root.level + 1)));
    const sizes = new Map((await listAll(env.R2_BACKUP_BUCKET, "chunks/")).map((o) => [o.key, o.size]));
    const bytes = (keys: Iterable<string>) => [...keys].reduce((sum, key) => sum + sizes.get(key)!, 0);
    // The new leaves are the touched ones rewritten: about their size (same entries, one field changed).
    const parentLeaves = await leavesOf(env.R2_BACKUP_BUCKET, full.id);
    const touchedBytes = bytes([...touched].map((seq) => parentLeaves[seq!]!.key));
    expect(bytes(freshLeaves)).toBeGreaterThan(touchedBytes * 0.9);
    expect(bytes(freshLeaves)).toBeLessThan(touchedBytes * 1.1);
    const logs = (await api("GET", `/api/backup/logs/${incremental.id}`)).body.logs;
    expect(logs.at(-1).message).toContain(`${fresh.length} chunks stored (${bytes(fresh)} bytes)`);

    // A full backup of the unchanged bucket builds the very same tree.
    const again = await completedBackup("full");
    expect((await readIndex(env.R2_BACKUP_BUCKET, null, again.id))!.root).toEqual(root);
    expect(again.checksum).toBe(incremental.checksum);
  });

  it("reads a version 1 manifest for files, verify, restore, and as an incremental's parent", async () => {
    await emptyBucket(env.R2_BUCKET);
    await emptyBucket(env.R2_BACKUP_BUCKET);
    const objects = docs(30, 1);
    await putObjects(objects);
    const old = await completedBackup("full");
    // Rewrite its manifest as the previous engine wrote it (two per-step chunks), and drop the tree.
    const entries = await snapshotEntries(env.R2_BACKUP_BUCKET, old.id);
    const v1 = await writeV1Manifest(env.R2_BACKUP_BUCKET, old.id, [entries.slice(0, 20), entries.slice(20)]);
    const index = (await readIndex(env.R2_BACKUP_BUCKET, null, old.id))!;
    const { root: _root, ...withoutRoot } = index;
    await writeIndex(
      env.R2_BACKUP_BUCKET,
      { compress: false, keyring: null },
      { ...withoutRoot, version: 1, chunkCount: 2, checksum: v1.checksum },
    );
    await env.DB.prepare("UPDATE r2_backups SET checksum = ? WHERE id = ?").bind(v1.checksum, old.id).run();
    await env.R2_BACKUP_BUCKET.delete((await listAll(env.R2_BACKUP_BUCKET, "chunks/")).map((o) => o.key));

    const files = (await api("GET", `/api/backup/files/${old.id}?limit=100`)).body.files;
    expect(files.map((f: { path: string }) => f.path)).toEqual(objects.map((o) => o.key));
    expect((await verify(old.id)).result).toMatchObject({ valid: true, filesChecked: 30 });
    expect((await restore(old.id, { targetPrefix: "v1/" })).result).toMatchObject({
      filesRestored: 30,
      filesFailed: 0,
    });
    expect(await (await env.R2_BUCKET.get("v1/docs/f-0007.txt"))!.text()).toBe("document 7, version 1");

    await env.R2_BUCKET.delete((await listAll(env.R2_BUCKET, "v1/")).map((o) => o.key));
    await putObjects([{ key: "docs/f-0003.txt", body: "document 3, version 2" }]);
    const next = await completedBackup("incremental");
    expect(next).toMatchObject({ status: "completed", snapshotFileCount: 30 });
    expect((await api("GET", `/api/backup/status/${next.id}`)).body.backup).toMatchObject({
      parentId: old.id,
      fileCount: 1,
    });
    const nextIndex = (await readIndex(env.R2_BACKUP_BUCKET, null, next.id))!;
    expect(nextIndex.version).toBe(MANIFEST_VERSION);
    expect((await snapshotEntries(env.R2_BACKUP_BUCKET, next.id)).find((e) => e.key === "docs/f-0003.txt")!.size).toBe(
      "document 3, version 2".length,
    );
    const path = (await openManifest(env.R2_BACKUP_BUCKET, null, locatorOf(nextIndex)).path(0)) as PathStep[];
    expect(await env.R2_BACKUP_BUCKET.head(chunkKey(path[0]!.ref.name))).not.toBeNull();
  });

  it("a backup begun by the previous engine (a checksum chain in its checkpoint) resumes and ends as version 3", async () => {
    await emptyBucket(env.R2_BUCKET);
    await emptyBucket(env.R2_BACKUP_BUCKET);
    await putObjects(docs(250, 1));
    const id = (await api("POST", "/api/backup/create", { body: { type: "full" } })).body.backup.id;
    await runDurableObjectAlarm(backupJobStub(id)); // the first 100 objects, under this engine
    // What the previous engine saved midway: the same tree state with its checksum chain in it.
    await runInDurableObject(backupJobStub(id), async (_job, state) => {
      const checkpoint = (await state.storage.get<BackupCheckpoint>("checkpoint"))!;
      expect(checkpoint).toMatchObject({ stage: "running", phase: "copying", batchNumber: 1 });
      await state.storage.put("checkpoint", { ...checkpoint, tree: { ...checkpoint.tree, chain: "1".repeat(64) } });
    });
    await runBackupToEnd(id);
    const resumed = (await api("GET", `/api/backup/status/${id}`)).body.backup;
    const index = (await readIndex(env.R2_BACKUP_BUCKET, null, id))!;
    expect(index).toMatchObject({ version: MANIFEST_VERSION, checksum: index.root!.name });
    expect(resumed).toMatchObject({ status: "completed", snapshotFileCount: 250, checksum: index.checksum });
    expect((await verify(id)).result).toMatchObject({ valid: true, filesChecked: 250 });
  });

  it("an event backup begun by the previous engine (no path edit in its checkpoint) walks its parent and builds the same tree", async () => {
    await emptyBucket(env.R2_BUCKET);
    await emptyBucket(env.R2_BACKUP_BUCKET);
    await putObjects(docs(250, 1));
    await completedBackup("full");
    await putObjects([{ key: "docs/f-0007.txt", body: "changed" }]);
    const started = await coordinatorStub().startBackup({
      type: "incremental",
      trigger: "event",
      requestedBy: "events",
      targetKeys: ["docs/f-0007.txt"],
    });
    const id = (started as { backup: { id: string } }).backup.id;
    await runInDurableObject(backupJobStub(id), async (_job, state) => {
      const { edit, ...old } = (await state.storage.get<BackupCheckpoint>("checkpoint"))!;
      expect(edit).toMatchObject({ stage: "pending" }); // this engine would edit by path
      await state.storage.put("checkpoint", old);
    });
    await runBackupToEnd(id);
    const walked = (await api("GET", `/api/backup/status/${id}`)).body.backup;
    expect(walked).toMatchObject({ status: "completed", fileCount: 1, snapshotFileCount: 250 });
    expect((await completedBackup("full")).checksum).toBe(walked.checksum);
  });

  it("a backup begun by the previous engine (version 1 checkpoint) ends failed, saying why, and the next one runs", async () => {
    await emptyBucket(env.R2_BUCKET);
    await emptyBucket(env.R2_BACKUP_BUCKET);
    await putObjects(docs(5, 1));
    const id = (await api("POST", "/api/backup/create", { body: { type: "full" } })).body.backup.id;
    // What the old engine's checkpoint looked like midway: per-step chunk numbers, no chunk tree.
    await runInDurableObject(backupJobStub(id), async (_job, state) => {
      const checkpoint = (await state.storage.get<Record<string, unknown>>("checkpoint"))!;
      const { tree: _tree, chunksWritten: _w, chunkBytesWritten: _b, ...old } = checkpoint;
      await state.storage.put("checkpoint", { ...old, version: 1, nextChunkSeq: 1, chain: "0".repeat(64) });
    });
    await runBackupToEnd(id);
    expect((await api("GET", `/api/backup/status/${id}`)).body.backup).toMatchObject({
      status: "failed",
      error:
        "this backup was begun by an older engine (manifest version 1) and cannot be finished by this one; start a new backup",
    });
    expect((await completedBackup("full")).status).toBe("completed");
  });
});
