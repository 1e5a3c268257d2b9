/**
 * Runs with compression and encryption enabled (see the storage-options project in
 * vitest.config.ts), an old key kept for reading, and a 6 MiB multipart threshold.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { BackupJob } from "../../durable-objects/backup-job";
import { unframeStream } from "../../durable-objects/engine/format/blob-format";
import { loadKeyring } from "../../durable-objects/engine/format/keyring";
import { api } from "../helpers/api";
import { emptyBucket, listAll, pseudoRandom, putObjects, sha256Hex } from "../helpers/buckets";
import { verify } from "../helpers/flows";
import { backupJobStub, restoreJobStub, runBackupToEnd, runJobToEnd } from "../helpers/jobs";

async function bucketHashes() {
  const state: Record<string, unknown> = {};
  for (const object of await listAll(env.R2_BUCKET)) {
    state[object.key] = {
      sha256: await sha256Hex(await (await env.R2_BUCKET.get(object.key))!.arrayBuffer()),
      http: object.httpMetadata,
      custom: object.customMetadata,
    };
  }
  return state;
}

const keys = () => loadKeyring(env.BACKUP_ENCRYPTION_KEY!, [env.BACKUP_ENCRYPTION_KEYS!]);

async function contentOf(blobKey: string): Promise<Uint8Array> {
  const blob = await env.R2_BACKUP_BUCKET.get(blobKey);
  expect(blob, blobKey).not.toBeNull();
  return new Uint8Array(await new Response(await unframeStream(blob!.body, await keys())).arrayBuffer());
}

async function backup(type: "full" | "incremental", prepare?: (id: string) => Promise<void>) {
  const created = await api("POST", "/api/backup/create", { body: { type } });
  expect(created.status).toBe(202);
  await prepare?.(created.body.backup.id);
  await runBackupToEnd(created.body.backup.id);
  return (await api("GET", `/api/backup/status/${created.body.backup.id}`)).body.backup;
}

const text = (n: number) => `invoice line ${n}, customer cutty, amount 42.00\n`.repeat(400);
const OBJECTS = [
  ...Array.from({ length: 30 }, (_, i) => ({ key: `docs/report-${i}.csv`, body: text(i), contentType: "text/csv" })),
  { key: "photos/cat.jpg", body: pseudoRandom(200_000, 1), contentType: "image/jpeg" },
  { key: "media/big.bin", body: pseudoRandom(2 * 1024 * 1024 + 77, 2), contentType: "application/octet-stream" },
  { key: "media/huge.mov", body: pseudoRandom(11 * 1024 * 1024 + 5, 3), contentType: "video/quicktime" },
  { key: "secret-plans/merger.txt", body: "the name of this file must not appear in the backup bucket" },
];

describe("compressed and encrypted backups", () => {
  it("round-trips every object and hides names and equal content from the backup bucket", async () => {
    await putObjects(OBJECTS);
    const result = await backup("full");
    const logical = OBJECTS.reduce((sum, o) => sum + (typeof o.body === "string" ? o.body.length : o.body.length), 0);
    expect(result).toMatchObject({ status: "completed", fileCount: OBJECTS.length, totalSize: logical });
    // Text compresses well; random bytes do not, so the total shrinks but not below the media.
    expect(result.bytesUploaded).toBeLessThan(logical - 30 * 10_000);

    const files = (await api("GET", `/api/backup/files/${result.id}`)).body.files as {
      path: string;
      checksum: string;
    }[];
    expect(files).toHaveLength(OBJECTS.length);
    const manifestObjects = [
      ...(await listAll(env.R2_BACKUP_BUCKET, `manifests/${result.id}/`)),
      ...(await listAll(env.R2_BACKUP_BUCKET, "chunks/")),
    ];
    expect(manifestObjects.length).toBeGreaterThan(1);
    for (const chunk of manifestObjects) {
      const stored = await (await env.R2_BACKUP_BUCKET.get(chunk.key))!.text();
      expect(stored.startsWith("R2BKBLOB")).toBe(true);
      expect(stored).not.toContain("secret-plans");
    }
    const blobs = await listAll(env.R2_BACKUP_BUCKET, "blobs/");
    for (const blob of blobs) {
      expect(blob.customMetadata?.sha256).toBeUndefined();
      expect(blob.customMetadata?.sourceKey).not.toContain("/");
    }
    const sourceHashes = new Set(await Promise.all(OBJECTS.map((o) => sha256Hex(o.body))));
    for (const blob of blobs) expect(sourceHashes.has(blob.key.slice("blobs/".length))).toBe(false);

    // Every blob decrypts and decompresses to its source object, including the multipart one.
    const entries = await Promise.all(
      files.map(async (f) => ({ f, content: await contentOf(await blobKeyOf(result.id, f.path)) })),
    );
    for (const { f, content } of entries) expect(await sha256Hex(content), f.path).toBe(f.checksum);
    const jpeg = blobs.find((b) => b.size < 200_000 + 1000 && b.size > 200_000);
    expect(jpeg, "the JPEG is stored uncompressed: only framing overhead").toBeDefined();
  });

  it("verifies and restores a compressed, encrypted backup, in steps bounded by the byte budget", async () => {
    await putObjects(OBJECTS);
    const before = await bucketHashes();
    const result = await backup("full");
    const verified = await verify(result.id, { mode: "full" });
    expect(verified.result).toMatchObject({ valid: true, filesChecked: OBJECTS.length });

    // Flip one stored byte of an encrypted blob: full verification names it.
    const victim = await blobKeyOf(result.id, "docs/report-3.csv");
    const stored = new Uint8Array(await (await env.R2_BACKUP_BUCKET.get(victim))!.arrayBuffer());
    const tampered = stored.slice();
    tampered[40] = tampered[40]! ^ 1;
    const metadata = (await env.R2_BACKUP_BUCKET.head(victim))!.customMetadata;
    await env.R2_BACKUP_BUCKET.put(victim, tampered, { customMetadata: metadata });
    const damaged = await verify(result.id, { mode: "full" });
    expect(damaged.result.problems).toEqual([
      {
        path: "docs/report-3.csv",
        problem: "corrupt_blob",
        expected: "readable",
        actual: expect.stringMatching(/failed authentication/),
      },
    ]);
    await env.R2_BACKUP_BUCKET.put(victim, stored, { customMetadata: metadata });

    await emptyBucket(env.R2_BUCKET);
    const started = await api("POST", `/api/backup/restore/${result.id}`, { body: { verifyAfterRestore: true } });
    const steps = await runJobToEnd(restoreJobStub(started.body.job.id));
    // 16 MiB of content in steps of at most 6 MiB (an object larger than that gets a step of its own).
    expect(steps).toBeGreaterThanOrEqual(4);
    const job = (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
    expect(job.result).toMatchObject({
      filesRestored: OBJECTS.length,
      filesFailed: 0,
      verified: OBJECTS.length,
      verifyFailures: 0,
    });
    expect(await bucketHashes()).toEqual(before);
  });

  it("reads a parent manifest written with a rotated-out key", async () => {
    await putObjects(OBJECTS.slice(0, 10));
    const oldKeyring = await loadKeyring(env.BACKUP_ENCRYPTION_KEYS!, []);
    const first = await backup("full", (id) =>
      runInDurableObject(backupJobStub(id), (job: BackupJob) => {
        job.wrapDeps = (deps) => ({
          ...deps,
          settings: { ...deps.settings, storage: { ...deps.settings.storage, keyring: oldKeyring } },
        });
      }),
    );
    await putObjects([{ key: "docs/added.txt", body: "after the rotation" }]);
    const second = await backup("incremental");
    expect(second).toMatchObject({ status: "completed", parentId: first.id, fileCount: 1, snapshotFileCount: 11 });
    const oldBlob = (await api("GET", `/api/backup/files/${first.id}?limit=1`)).body.files[0];
    expect(await sha256Hex(await contentOf(await blobKeyOf(first.id, oldBlob.path)))).toBe(oldBlob.checksum);
  });
});

/** The blob a snapshot names for a path (read through the manifest, which is encrypted). */
async function blobKeyOf(backupId: string, path: string): Promise<string> {
  const { readIndex } = await import("../../durable-objects/engine/format/manifest");
  const { readManifestPage } = await import("../../durable-objects/engine/format/manifest-pager");
  const { locatorOf, openManifest } = await import("../../durable-objects/engine/format/manifest-reader");
  const keyring = await keys();
  const index = await readIndex(env.R2_BACKUP_BUCKET, keyring, backupId);
  const page = await readManifestPage(openManifest(env.R2_BACKUP_BUCKET, keyring, locatorOf(index!)), {
    prefix: path,
    limit: 1,
    from: null,
  });
  return page.entries[0]!.blob;
}
