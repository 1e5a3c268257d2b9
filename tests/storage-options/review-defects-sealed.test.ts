/**
 * Review defects with compression and encryption on (issue "Hardening", items 3 and 5). Each
 * failed on the code before its fix.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { BackupCheckpoint } from "../../durable-objects/engine/backup/backup-checkpoint";
import {
  BLOB_VERSION,
  encodeHeader,
  frameStream,
  HEADER_SIZE,
  sealRecord,
  unframeStream,
} from "../../durable-objects/engine/format/blob-format";
import { loadKeyring } from "../../durable-objects/engine/format/keyring";
import { api } from "../helpers/api";
import { emptyBucket, putObjects, sha256Hex } from "../helpers/buckets";
import { restore, verify } from "../helpers/flows";
import { backupJobStub, runBackupToEnd } from "../helpers/jobs";

const MiB = 1024 * 1024;

function content(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 991) bytes[i] = (i / 991 + seed) % 251;
  return bytes;
}

const bytesOf = async (stream: ReadableStream<Uint8Array>) => new Uint8Array(await new Response(stream).arrayBuffer());
const streamOf = (bytes: Uint8Array) => new Response(bytes).body!;

describe("encrypted large object changed during its upload (defect 3)", () => {
  it("starts over on the new version instead of failing the backup, and captures it", async () => {
    await emptyBucket(env.R2_BUCKET);
    await putObjects([{ key: "video/cut.mov", body: content(13 * MiB, 1), contentType: "video/quicktime" }]);
    const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
    const id = created.body.backup.id;
    const stub = backupJobStub(id);
    const stage = async () =>
      (await runInDurableObject(stub, (_job, state) => state.storage.get<BackupCheckpoint>("checkpoint")))!.largeObject;
    // Hash the whole object and upload one part, then rewrite the object under the upload.
    while ((await stage())?.parts.length !== 1) expect(await runDurableObjectAlarm(stub)).toBe(true);
    const replacement = content(13 * MiB, 2);
    await env.R2_BUCKET.put("video/cut.mov", replacement, { httpMetadata: { contentType: "video/quicktime" } });
    await runDurableObjectAlarm(stub);
    expect(await stage()).toMatchObject({ stage: "hashing", restarts: 1, parts: [] });

    await runBackupToEnd(id);
    const backup = (await api("GET", `/api/backup/status/${id}`)).body.backup;
    expect(backup).toMatchObject({ status: "completed", error: null, fileCount: 1 });
    const files = (await api("GET", `/api/backup/files/${id}`)).body.files;
    expect(files[0]).toMatchObject({ path: "video/cut.mov", checksum: await sha256Hex(replacement) });
    expect((await verify(id)).result).toMatchObject({ valid: true });
    await emptyBucket(env.R2_BUCKET);
    expect((await restore(id, {})).result).toMatchObject({ filesRestored: 1, filesFailed: 0 });
    expect(await sha256Hex(await (await env.R2_BUCKET.get("video/cut.mov"))!.arrayBuffer())).toBe(
      await sha256Hex(replacement),
    );
  });
});

describe("record nonces (defect 5)", () => {
  it("a compressed F and an uncompressed F.gz = gzip(F) never share a record nonce under one key", async () => {
    const keyring = (await loadKeyring(btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => i + 7))), []))!;
    const key = keyring.current;
    const file = new TextEncoder().encode("the same document, ".repeat(500));
    const gzipped = await bytesOf(streamOf(file).pipeThrough(new CompressionStream("gzip")));
    const framedF = await bytesOf(frameStream(streamOf(file), { compress: true, key }));
    const framedGz = await bytesOf(frameStream(streamOf(gzipped), { compress: false, key }));
    // Both first records encrypt the same plaintext (the gzip stream of F) at index 0, final.
    const nonce = (blob: Uint8Array) => [...blob.subarray(HEADER_SIZE + 4, HEADER_SIZE + 16)].join(",");
    expect(framedF.subarray(HEADER_SIZE).length).toBe(framedGz.subarray(HEADER_SIZE).length);
    expect(nonce(framedF)).not.toBe(nonce(framedGz));
    expect(framedF[8]).toBe(BLOB_VERSION);
    expect(BLOB_VERSION).toBe(2);
    expect(await bytesOf(await unframeStream(streamOf(framedF), keyring))).toEqual(file);
    expect(await bytesOf(await unframeStream(streamOf(framedGz), keyring))).toEqual(gzipped);
  });

  it("reads blobs of format version 1 and refuses an unknown version with a clear error", async () => {
    const keyring = (await loadKeyring(btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => i + 9))), []))!;
    const key = keyring.current;
    const plaintext = new TextEncoder().encode("written by the previous version");
    const sealedWith = async (version: number) => {
      const header = encodeHeader({ compressed: false, encrypted: true, recordSize: 64 * 1024, keyId: key.id });
      header[8] = version;
      const record = await sealRecord(key, header, 0, true, plaintext);
      const blob = new Uint8Array(header.length + record.length);
      blob.set(header, 0);
      blob.set(record, header.length);
      return blob;
    };
    expect(await bytesOf(await unframeStream(streamOf(await sealedWith(1)), keyring))).toEqual(plaintext);
    await expect(unframeStream(streamOf(await sealedWith(3)), keyring).then(bytesOf)).rejects.toThrow(
      /unsupported blob format version 3 \(this version reads 1 and 2\)/,
    );
  });
});
