/**
 * Restore filters, combined with AND: a key prefix, file extensions (case-insensitive, stored
 * without the dot), and a last-modified range (inclusive ISO bounds; whole days are expanded to
 * the day's first and last millisecond in UTC at the edge).
 */
import type { ManifestEntry } from "../format/manifest";

export interface RestoreFilter {
  pathPrefix: string;
  extensions: string[];
  modifiedFrom: string | null;
  modifiedTo: string | null;
}

export const NO_FILTER: RestoreFilter = { pathPrefix: "", extensions: [], modifiedFrom: null, modifiedTo: null };

export function extensionOf(key: string): string | null {
  const name = key.slice(key.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot > 0 && dot < name.length - 1 ? name.slice(dot + 1).toLowerCase() : null;
}

export function pathMatches(filter: RestoreFilter, key: string): boolean {
  if (!key.startsWith(filter.pathPrefix)) return false;
  if (filter.extensions.length === 0) return true;
  const extension = extensionOf(key);
  return extension !== null && filter.extensions.includes(extension);
}

export function entryMatches(filter: RestoreFilter, entry: Pick<ManifestEntry, "key" | "lastModified">): boolean {
  if (!pathMatches(filter, entry.key)) return false;
  const modified = Date.parse(entry.lastModified);
  if (filter.modifiedFrom !== null && modified < Date.parse(filter.modifiedFrom)) return false;
  if (filter.modifiedTo !== null && modified > Date.parse(filter.modifiedTo)) return false;
  return true;
}
