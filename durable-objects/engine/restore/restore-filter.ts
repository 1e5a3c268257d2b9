/**
 * Restore filters, combined with AND: a key prefix, file extensions (case-insensitive, stored
 * without the dot), a last-modified range (inclusive ISO bounds; whole days are expanded to the
 * day's first and last millisecond in UTC at the edge), include and exclude globs (engine/glob.ts:
 * a key must match one include, when there are any, and no exclude, which wins), a size range
 * (bytes, inclusive) and content types (`image/*` for a whole type; parameters ignored).
 * The last four are absent from restores started before they existed: no constraint.
 */
import type { ManifestEntry } from "../format/manifest";
import { compileGlob } from "../glob";

export interface RestoreFilter {
  pathPrefix: string;
  extensions: string[];
  modifiedFrom: string | null;
  modifiedTo: string | null;
  include?: string[];
  exclude?: string[];
  sizeMin?: number | null;
  sizeMax?: number | null;
  contentTypes?: string[];
}

/** The filters a restore request names (workers/schemas.ts, after parsing). */
export interface RequestedFilters {
  pathPrefix: string;
  fileExtensions?: string[];
  dateRange?: { start?: string; end?: string };
  include?: string[];
  exclude?: string[];
  sizeRange?: { min?: number; max?: number };
  contentTypes?: string[];
}

export function restoreFilterOf(requested: RequestedFilters): RestoreFilter {
  return {
    pathPrefix: requested.pathPrefix,
    extensions: requested.fileExtensions ?? [],
    modifiedFrom: requested.dateRange?.start ?? null,
    modifiedTo: requested.dateRange?.end ?? null,
    include: requested.include ?? [],
    exclude: requested.exclude ?? [],
    sizeMin: requested.sizeRange?.min ?? null,
    sizeMax: requested.sizeRange?.max ?? null,
    contentTypes: requested.contentTypes ?? [],
  };
}

export const NO_FILTER: RestoreFilter = { pathPrefix: "", extensions: [], modifiedFrom: null, modifiedTo: null };

/** Globs compiled once per pattern (a filter is applied to every entry of a snapshot). */
const compiled = new Map<string, ReturnType<typeof compileGlob>>();
const globMatches = (pattern: string, key: string) => {
  let glob = compiled.get(pattern);
  if (!glob) {
    if (compiled.size > 1000) compiled.clear();
    compiled.set(pattern, (glob = compileGlob(pattern)));
  }
  return glob.matches(key);
};

export function extensionOf(key: string): string | null {
  const name = key.slice(key.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot > 0 && dot < name.length - 1 ? name.slice(dot + 1).toLowerCase() : null;
}

/** What the key alone decides: prefix, extensions and globs. */
export function pathMatches(filter: RestoreFilter, key: string): boolean {
  if (!key.startsWith(filter.pathPrefix)) return false;
  if (filter.exclude?.some((pattern) => globMatches(pattern, key))) return false;
  if (filter.include?.length && !filter.include.some((pattern) => globMatches(pattern, key))) return false;
  if (filter.extensions.length === 0) return true;
  const extension = extensionOf(key);
  return extension !== null && filter.extensions.includes(extension);
}

export function entryMatches(
  filter: RestoreFilter,
  entry: Pick<ManifestEntry, "key" | "lastModified" | "size" | "httpMetadata">,
): boolean {
  if (!pathMatches(filter, entry.key)) return false;
  const modified = Date.parse(entry.lastModified);
  if (filter.modifiedFrom !== null && modified < Date.parse(filter.modifiedFrom)) return false;
  if (filter.modifiedTo !== null && modified > Date.parse(filter.modifiedTo)) return false;
  if (filter.sizeMin != null && entry.size < filter.sizeMin) return false;
  if (filter.sizeMax != null && entry.size > filter.sizeMax) return false;
  if (
    filter.contentTypes?.length &&
    !filter.contentTypes.some((type) => typeMatches(type, entry.httpMetadata.contentType))
  )
    return false;
  return true;
}

/** `image/png` or `image/*` against a stored Content-Type (its parameters ignored; none stored: no match). */
function typeMatches(wanted: string, stored: string | undefined): boolean {
  if (!stored) return false;
  const type = stored.split(";")[0]!.trim().toLowerCase();
  return wanted.endsWith("/*") ? type.startsWith(wanted.slice(0, -1)) : type === wanted;
}

/** The filter in words, for the restore's first log line ("" when it selects everything). */
export function describeFilter(filter: RestoreFilter): string {
  const parts: string[] = [];
  if (filter.pathPrefix) parts.push(`under ${filter.pathPrefix}`);
  if (filter.extensions.length) parts.push(`extensions ${filter.extensions.join(", ")}`);
  if (filter.modifiedFrom) parts.push(`modified from ${filter.modifiedFrom}`);
  if (filter.modifiedTo) parts.push(`modified until ${filter.modifiedTo}`);
  if (filter.include?.length) parts.push(`matching ${filter.include.join(" or ")}`);
  if (filter.exclude?.length) parts.push(`not matching ${filter.exclude.join(" or ")}`);
  if (filter.sizeMin != null) parts.push(`of at least ${filter.sizeMin} bytes`);
  if (filter.sizeMax != null) parts.push(`of at most ${filter.sizeMax} bytes`);
  if (filter.contentTypes?.length) parts.push(`of type ${filter.contentTypes.join(" or ")}`);
  return parts.join("; ");
}
