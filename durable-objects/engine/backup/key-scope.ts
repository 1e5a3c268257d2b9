/**
 * Which source keys a backup template covers: those under any include prefix (every key when
 * there is none), minus those under any exclude prefix. A property of the key alone, so a listing
 * filtered by it and a parent snapshot taken with it agree on every key.
 */
export interface KeyScope {
  includePrefixes: readonly string[];
  excludePrefixes: readonly string[];
}

export function inScope(scope: KeyScope | null | undefined, key: string): boolean {
  if (!scope) return true;
  const included = scope.includePrefixes.length === 0 || scope.includePrefixes.some((prefix) => key.startsWith(prefix));
  return included && !scope.excludePrefixes.some((prefix) => key.startsWith(prefix));
}

/**
 * The one prefix the whole scope lies under, for R2's listing (`prefix`), or "" when there is
 * none: with a single include prefix, the rest of the bucket is never listed.
 */
export function listingPrefix(scope: KeyScope | null | undefined): string {
  return scope?.includePrefixes.length === 1 ? scope.includePrefixes[0]! : "";
}
