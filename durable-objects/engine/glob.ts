/**
 * Key globs for the files listing and restore filters: `*` any characters within one path segment,
 * `**` any characters across segments (`a/**\/b` also matches `a/b`), `?` one character other than
 * `/`; everything else stands for itself (no classes or braces, so a key's `[` or `{` needs no
 * escaping). A glob matches the whole key.
 */

export interface KeyGlob {
  readonly pattern: string;
  matches(key: string): boolean;
  /** The characters before the first wildcard: every matching key starts with them (a listing's seek). */
  readonly literalPrefix: string;
}

const escape = (text: string) => text.replace(/[.+^${}()|[\]\\/]/g, "\\$&");

export function compileGlob(pattern: string): KeyGlob {
  let source = "";
  for (let i = 0; i < pattern.length;) {
    if (pattern.startsWith("**/", i)) {
      source += "(?:.*/)?";
      i += 3;
    } else if (pattern.startsWith("**", i)) {
      source += ".*";
      i += 2;
    } else if (pattern[i] === "*") {
      source += "[^/]*";
      i += 1;
    } else if (pattern[i] === "?") {
      source += "[^/]";
      i += 1;
    } else {
      source += escape(pattern[i]!);
      i += 1;
    }
  }
  const regex = new RegExp(`^${source}$`, "s");
  const wildcard = pattern.search(/[*?]/);
  return {
    pattern,
    matches: (key) => regex.test(key),
    literalPrefix: wildcard < 0 ? pattern : pattern.slice(0, wildcard),
  };
}

/**
 * The prefix to list for keys under `prefix` that can match `glob`: the longer of the two when one
 * extends the other, or null when no key can satisfy both.
 */
export function listingPrefixFor(prefix: string, glob: KeyGlob | null): string | null {
  if (!glob) return prefix;
  const literal = glob.literalPrefix;
  if (literal.startsWith(prefix)) return literal;
  if (prefix.startsWith(literal)) return prefix;
  return null;
}
