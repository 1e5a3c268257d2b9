/**
 * What the simulated buckets hold: folders whose keys end at a manifest leaf boundary (so that
 * deleting a folder deletes whole leaves, and the next snapshot gets new pages over old leaves:
 * the shape that hid defect 2), a small pool of contents shared by both buckets (so that backups of
 * one deduplicate against blobs the other's cleanup may collect: defect 1), and one object above
 * the multipart threshold.
 */
import { endsLeaf } from "../../durable-objects/engine/format/manifest-tree";
import { SHAPE } from "./settings";

export const BUCKETS = ["cutty", "media"] as const;
export type BucketId = (typeof BUCKETS)[number];

export const FOLDERS = ["a-docs", "b-img", "c-logs", "d-data", "e-mail", "f-web"] as const;
export type Folder = (typeof FOLDERS)[number];

/** A folder's keys: at least `size`, the last ending a leaf. */
function keysOf(folder: Folder, size = 16): string[] {
  const keys: string[] = [];
  for (let i = 0; ; i++) {
    const key = `${folder}/${String(i).padStart(3, "0")}.txt`;
    keys.push(key);
    if (keys.length >= size && endsLeaf(key, SHAPE)) return keys;
  }
}

export const FOLDER_KEYS: Record<Folder, string[]> = Object.fromEntries(FOLDERS.map((f) => [f, keysOf(f)])) as Record<
  Folder,
  string[]
>;

/** Contents shared by both buckets: equal content under different keys and buckets is one blob. */
export const CONTENTS = Array.from(
  { length: 8 },
  (_, i) => `content ${i}: ${"abcdefgh".slice(0, i + 1).repeat(8 * (i + 1))}`,
);
export const CONTENT_TYPES = ["text/plain", "application/json", "text/csv"] as const;

/** Above the simulation's multipart threshold (1 MiB) and its part size (5 MiB): two parts. */
export const LARGE_KEY = "z-large/video.bin";
export const LARGE_SIZE = 5 * 1024 * 1024 + 4096;

/** The large object's bytes in version `version`: deterministic, different per version. */
export function largeBody(version: number): Uint8Array {
  const body = new Uint8Array(LARGE_SIZE);
  for (let i = 0; i < body.length; i += 512) body[i] = (version * 31 + i / 512) % 251;
  return body;
}
