/**
 * The heart of an incremental backup: a merge of the parent snapshot's entries with the current
 * listing, both in key order, over one window of keys. Pure: it decides, the step acts.
 */
import { compareKeys } from "../format/key-order";
import type { ManifestEntry } from "../format/manifest";

export interface ListedObject {
  key: string;
  etag: string;
  size: number;
  uploaded: Date;
}

export type MergeAction =
  /** Same etag, size and last-modified as in the parent: carried over without reading. */
  | { kind: "unchanged"; key: string; entry: ManifestEntry }
  | { kind: "new"; key: string }
  | { kind: "modified"; key: string; previous: ManifestEntry }
  /** In the parent snapshot and gone from the bucket. */
  | { kind: "deleted"; key: string; previous: ManifestEntry };

export function isUnchanged(listed: ListedObject, previous: ManifestEntry): boolean {
  return (
    listed.etag === previous.etag &&
    listed.size === previous.size &&
    listed.uploaded.toISOString() === previous.lastModified
  );
}

/** Merges two key-ordered sequences into actions, in key order. */
export function mergeListing(listed: readonly ListedObject[], parent: readonly ManifestEntry[]): MergeAction[] {
  const actions: MergeAction[] = [];
  let i = 0;
  let j = 0;
  while (i < listed.length || j < parent.length) {
    const current = listed[i];
    const previous = parent[j];
    const order = !current ? 1 : !previous ? -1 : compareKeys(current.key, previous.key);
    if (order < 0) {
      actions.push({ kind: "new", key: current!.key });
      i++;
    } else if (order > 0) {
      actions.push({ kind: "deleted", key: previous!.key, previous: previous! });
      j++;
    } else {
      actions.push(
        isUnchanged(current!, previous!)
          ? { kind: "unchanged", key: current!.key, entry: previous! }
          : { kind: "modified", key: current!.key, previous: previous! },
      );
      i++;
      j++;
    }
  }
  return actions;
}

/** The upper end of a step's key window: null means "to the end of the keyspace". */
export type WindowEnd = string | null;

export function minWindowEnd(a: WindowEnd, b: WindowEnd): WindowEnd {
  if (a === null) return b;
  if (b === null) return a;
  return compareKeys(a, b) <= 0 ? a : b;
}

export function withinWindow(key: string, end: WindowEnd): boolean {
  return end === null || compareKeys(key, end) <= 0;
}
