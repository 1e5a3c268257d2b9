/**
 * A targeted incremental backup (started by object-change events) reads only the keys the events
 * named instead of listing the bucket: over each window, the "listing" it merges with the parent
 * snapshot is the parent's own entries, with each named key replaced by what `head` says of it
 * now (gone: left out, so the merge records it deleted). Unnamed keys therefore come out
 * unchanged and are carried over without a read. Pure: the step does the heads.
 *
 * Why this is safe when events are lost, duplicated or out of order (docs/operations.md): an
 * event only names a key, and the key's state is read at backup time, so a duplicate reads the
 * same state twice and an older event cannot undo a newer change; a lost event leaves a change
 * out of event backups until the next listing backup (the schedule's) reads every key.
 */
import { compareKeys } from "../format/key-order";
import type { ManifestEntry } from "../format/manifest";
import { withinWindow, type ListedObject, type WindowEnd } from "./listing-merge";

/** The next `limit` named keys after `cursorKey`, and where that page of keys ends (null: the last). */
export function nextTargetKeys(
  targetKeys: readonly string[],
  cursorKey: string | null,
  limit: number,
): { keys: string[]; listingEnd: WindowEnd } {
  const after = cursorKey === null ? targetKeys : targetKeys.filter((key) => compareKeys(key, cursorKey) > 0);
  const keys = after.slice(0, limit);
  return { keys, listingEnd: after.length > limit ? keys.at(-1)! : null };
}

/** Sorted (in the manifest's key order) and without duplicates: how a backup keeps its named keys. */
export function normalizeTargetKeys(keys: Iterable<string>): string[] {
  return [...new Set(keys)].sort(compareKeys);
}

/**
 * The window's listing: parent entries as listed objects, each named key replaced by its head
 * (absent when the object is gone), in key order, up to `windowEnd`.
 */
export function targetedListing(
  parentEntries: readonly ManifestEntry[],
  heads: ReadonlyMap<string, ListedObject | null>,
  windowEnd: WindowEnd,
): ListedObject[] {
  const unnamed = parentEntries
    .filter((entry) => !heads.has(entry.key))
    .map((entry) => ({ key: entry.key, etag: entry.etag, size: entry.size, uploaded: new Date(entry.lastModified) }));
  const present = [...heads.values()].filter((head): head is ListedObject => head !== null);
  return [...unnamed, ...present]
    .filter((o) => withinWindow(o.key, windowEnd))
    .sort((a, b) => compareKeys(a.key, b.key));
}
