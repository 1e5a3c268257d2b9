/**
 * The simulation's model: what each source bucket holds now, and the exact state each backup the
 * system reported finished (completed or partial) must restore. Expected snapshots are computed
 * from the model when a backup finishes (a listing backup: the bucket as it was; a targeted event
 * backup: its parent's snapshot with the named keys as they were) and compared with the backup's
 * own listing then; every later check compares against them.
 */
import { BUCKETS, largeBody, type BucketId } from "./keys";

export interface SimObject {
  /** Text, or the version of the large object. */
  content: string | { large: number };
  contentType: string;
  custom: Record<string, string>;
}

export type BucketState = Map<string, SimObject>;

export interface Snapshot {
  bucket: BucketId;
  state: BucketState;
}

export class Model {
  readonly buckets: Record<BucketId, BucketState> = { cutty: new Map(), media: new Map() };
  /** Finished backups with a snapshot, by id. */
  readonly snapshots = new Map<string, Snapshot>();
  /** Every backup id seen finished (with or without a snapshot), so each is checked once. */
  readonly seen = new Set<string>();
  /** Keys of cutty-files changed since their change events were last delivered. */
  readonly undelivered = new Set<string>();
  /** The versions a key took while a backup of its bucket ran (a large object rewritten mid-backup). */
  readonly midBackupVersions = new Map<string, SimObject[]>();
  nextLargeVersion = 1;
  restores = 0;

  copyOf(bucket: BucketId): BucketState {
    return new Map(this.buckets[bucket]);
  }
}

export const bucketName: Record<BucketId, string> = { cutty: "cutty-files", media: "media-files" };
export const bucketOfName = (name: string): BucketId => BUCKETS.find((b) => bucketName[b] === name)!;

export function bytesOf(object: SimObject): Uint8Array {
  return typeof object.content === "string"
    ? new TextEncoder().encode(object.content)
    : largeBody(object.content.large);
}

export async function sha256Of(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
