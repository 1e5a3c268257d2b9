import { HEADER_SIZE, RECORD_OVERHEAD, RECORD_SIZE } from "../../durable-objects/engine/format/blob-format";
import { env } from "cloudflare:test";

export async function emptyBucket(bucket: R2Bucket): Promise<void> {
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ cursor, limit: 1000 });
    if (page.objects.length > 0) await bucket.delete(page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
}

export async function listAll(bucket: R2Bucket, prefix?: string): Promise<R2Object[]> {
  const all: R2Object[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ cursor, prefix, limit: 1000, include: ["httpMetadata", "customMetadata"] });
    all.push(...page.objects);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return all;
}

export interface SeedObject {
  key: string;
  body: string | Uint8Array;
  contentType?: string;
  customMetadata?: Record<string, string>;
}

/** A small but varied source bucket: nested prefixes, unicode, zero bytes, metadata, duplicates. */
export function variedObjects(count: number): SeedObject[] {
  const objects: SeedObject[] = [];
  const oddKeys = [
    "zero-byte.bin",
    "unicode/naïve café/日本語.txt",
    "spaces in name/a b.txt",
    "percent%20literal.txt",
    "deep/a/b/c/d/e/f.json",
    "emoji/📦.txt",
  ];
  for (const [i, key] of oddKeys.slice(0, count).entries()) {
    objects.push({
      key,
      body: key === "zero-byte.bin" ? new Uint8Array(0) : `odd key ${i}: ${key}`,
      contentType: "text/plain; charset=utf-8",
    });
  }
  for (let i = objects.length; i < count; i++) {
    const folder = ["uploads", "users/42/docs", "reports/2026/11", "images"][i % 4];
    const size = 10 + ((i * 7919) % 3000);
    objects.push({
      key: `${folder}/file-${String(i).padStart(4, "0")}.${["txt", "csv", "json", "png"][i % 4]}`,
      body: `object ${i} `.repeat(Math.ceil(size / 10)).slice(0, size),
      contentType: ["text/plain", "text/csv", "application/json", "image/png"][i % 4],
      customMetadata: { owner: `user-${i % 5}`, index: String(i) },
    });
  }
  return objects;
}

export async function putObjects(objects: readonly SeedObject[], bucket: R2Bucket = env.R2_BUCKET): Promise<void> {
  for (let i = 0; i < objects.length; i += 25) {
    await Promise.all(
      objects.slice(i, i + 25).map((o) =>
        bucket.put(o.key, o.body, {
          httpMetadata: o.contentType ? { contentType: o.contentType } : undefined,
          customMetadata: o.customMetadata,
        }),
      ),
    );
  }
}

export async function sha256Hex(data: ArrayBuffer | Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Both source buckets, the store and its replica emptied, and no backup template (the more-buckets project). */
export async function emptyTwoBucketStore(): Promise<void> {
  await Promise.all([
    emptyBucket(env.R2_BUCKET),
    emptyBucket(env.R2_BACKUP_BUCKET),
    emptyBucket(env.R2_REPLICA_BUCKET!),
    emptyBucket(env.R2_MEDIA_BUCKET!),
  ]);
  await env.DB.exec("DELETE FROM backup_templates");
}

/** `size` bytes that do not compress, the same for the same seed (a linear congruential sequence). */
export function pseudoRandom(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) bytes[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return bytes;
}

/**
 * Flips one byte inside record `record` of the only blob in the backup bucket (an encrypted one),
 * keeping its size and metadata: damage only reading that record can find.
 */
export async function alterEncryptedRecord(record: number): Promise<void> {
  const [blob] = (await env.R2_BACKUP_BUCKET.list({ prefix: "blobs/" })).objects;
  const original = (await env.R2_BACKUP_BUCKET.get(blob!.key))!;
  const stored = new Uint8Array(await original.arrayBuffer());
  // Past the record's length prefix and nonce: a byte of its ciphertext.
  const at = HEADER_SIZE + record * (RECORD_SIZE + RECORD_OVERHEAD) + 4 + 12 + 100;
  stored[at] = stored[at]! ^ 0xff;
  await env.R2_BACKUP_BUCKET.put(blob!.key, stored, { customMetadata: original.customMetadata });
}
