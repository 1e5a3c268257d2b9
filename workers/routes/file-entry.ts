/** How one object of a snapshot reads in the API (files, diff). */
import type { SnapshotEntry } from "../../durable-objects/engine/snapshot-reader";

export function fileEntry(entry: SnapshotEntry) {
  return {
    path: entry.key,
    size: entry.size,
    checksum: entry.sha256,
    lastModified: entry.lastModified,
    contentType: entry.httpMetadata.contentType ?? null,
  };
}
