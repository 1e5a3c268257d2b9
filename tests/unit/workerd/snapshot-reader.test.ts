/**
 * The one way outside the jobs reads a snapshot (engine/snapshot-reader.ts), over a plain
 * in-memory bucket: pages in key order under a prefix, cursors that resume exactly, one key's
 * entry, encrypted manifests read with the keyring, and no snapshot without an index.
 */
import { describe, expect, it } from "vitest";
import { loadKeyring, type Keyring } from "../../../durable-objects/engine/format/keyring";
import {
  MANIFEST_FORMAT,
  writeIndex,
  type ManifestCodec,
  type ManifestIndex,
} from "../../../durable-objects/engine/format/manifest";
import {
  diffSnapshots,
  openSnapshot,
  type SnapshotEntry,
  type SnapshotPosition,
} from "../../../durable-objects/engine/snapshot-reader";
import { leafEndingKey, plainEntry, writeManifest, writeV1Manifest } from "../../helpers/manifest";
import { MemoryBucket } from "../../helpers/memory-bucket";

/** 1,000 keys in 4 folders (more than one leaf: a leaf ends where a key's hash says). */
const KEYS = ["a/", "b/", "c/", "d/"]
  .flatMap((folder) => Array.from({ length: 250 }, (_, i) => `${folder}${String(i).padStart(4, "0")}`))
  .sort();

async function stored(codec: ManifestCodec, keys: readonly string[] = KEYS) {
  const bucket = new MemoryBucket();
  const written = await writeManifest(
    bucket,
    "bk-1",
    keys.map((key) => plainEntry(key)),
    codec,
  );
  await writeIndex(bucket, codec, {
    format: MANIFEST_FORMAT,
    bucketName: "cutty-files",
    type: "full",
    parentId: null,
    createdAt: "2026-12-01T00:00:00.000Z",
    completedAt: "2026-12-01T00:01:00.000Z",
    ...written,
  });
  return bucket;
}

async function allPages(reader: NonNullable<Awaited<ReturnType<typeof openSnapshot>>>, prefix: string, limit: number) {
  const keys: string[] = [];
  let from: SnapshotPosition | null = null;
  let pages = 0;
  do {
    const page: { entries: SnapshotEntry[]; next: SnapshotPosition | null } = await reader.page({
      prefix,
      limit,
      from,
    });
    keys.push(...page.entries.map((e) => e.key));
    from = page.next;
    pages += 1;
  } while (from);
  return { keys, pages };
}

describe("snapshot reader", () => {
  const plain: ManifestCodec = { compress: false, keyring: null };

  it("pages through every key in order, and under a prefix only its keys, resuming exactly at each cursor", async () => {
    const reader = (await openSnapshot(await stored(plain), null, "bk-1"))!;
    expect(reader.backupId).toBe("bk-1");
    const whole = await allPages(reader, "", 97);
    expect(whole.keys).toEqual(KEYS);
    expect(whole.pages).toBeGreaterThan(1);
    expect((await allPages(reader, "c/", 33)).keys).toEqual(KEYS.filter((k) => k.startsWith("c/")));
    expect((await allPages(reader, "c/01", 1000)).keys).toEqual(KEYS.filter((k) => k.startsWith("c/01")));
    expect((await reader.page({ prefix: "e/", limit: 10 })).entries).toEqual([]);
  });

  it("finds one key's entry, and none for a key it does not hold or a mere prefix of one", async () => {
    const boundary = leafEndingKey("b/x");
    const keys = [...KEYS, boundary].sort();
    const reader = (await openSnapshot(await stored(plain, keys), null, "bk-1"))!;
    expect(await reader.entry("c/0042")).toMatchObject({ key: "c/0042", size: 10, blob: "blobs/x" });
    expect(await reader.entry(boundary)).toMatchObject({ key: boundary });
    expect(await reader.entry("c/004")).toBeNull();
    expect(await reader.entry("zzz")).toBeNull();
  });

  it("reads an encrypted and compressed manifest with the keyring", async () => {
    const keyring: Keyring = await loadKeyring(
      btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => i + 7))),
      [],
    );
    const bucket = await stored({ compress: true, keyring });
    const reader = (await openSnapshot(bucket, keyring, "bk-1"))!;
    expect((await allPages(reader, "d/", 100)).keys).toEqual(KEYS.filter((k) => k.startsWith("d/")));
    // Without the keyring the index cannot be read: an error, never a wrong listing.
    await expect(openSnapshot(bucket, null, "bk-1")).rejects.toThrow();
  });

  it("is null for a backup without a manifest index", async () => {
    expect(await openSnapshot(new MemoryBucket(), null, "bk-missing")).toBeNull();
  });

  it("compares two snapshots through their trees, and a version 1 snapshot key by key, with the same answer", async () => {
    const bucket = new MemoryBucket();
    type Written = Awaited<ReturnType<typeof writeManifest>> | Awaited<ReturnType<typeof writeV1Manifest>>;
    const indexOf = (written: Written, id: string): ManifestIndex => ({
      format: MANIFEST_FORMAT,
      bucketName: "cutty-files",
      type: "full" as const,
      parentId: null,
      createdAt: "2026-12-01T00:00:00.000Z",
      completedAt: "2026-12-01T00:01:00.000Z",
      ...written,
      backupId: id,
    });
    const olds = KEYS.map((key) => plainEntry(key));
    const news = olds
      .filter((e) => e.key !== "b/0100")
      .map((e) => (e.key === "c/0007" ? { ...e, sha256: "1".repeat(64) } : e))
      .concat([plainEntry("a/0000x")])
      .sort((x, y) => (x.key < y.key ? -1 : 1));
    await writeIndex(bucket, plain, indexOf(await writeManifest(bucket, "bk-old", olds), "bk-old"));
    await writeIndex(bucket, plain, indexOf(await writeManifest(bucket, "bk-new", news), "bk-new"));
    await writeIndex(
      bucket,
      plain,
      indexOf(await writeV1Manifest(bucket, "bk-v1", [olds.slice(0, 400), olds.slice(400)]), "bk-v1"),
    );
    const open = async (id: string) => (await openSnapshot(bucket, null, id))!;
    const expected = [
      ["a/0000x", "added"],
      ["b/0100", "deleted"],
      ["c/0007", "modified"],
    ];
    const changes = async (from: string, limit: number) => {
      const found: string[][] = [];
      let after: string | null = null;
      do {
        const page = await diffSnapshots(await open(from), await open("bk-new"), {
          prefix: "",
          after,
          limit,
        });
        found.push(...page.changes.map((c) => [c.key, c.change]));
        after = page.after;
      } while (after);
      return found;
    };
    expect(await changes("bk-old", 1)).toEqual(expected);
    expect(await changes("bk-v1", 1)).toEqual(expected);
    expect(await changes("bk-v1", 100)).toEqual(expected);
  });
});
