/**
 * R2 lists keys in the byte order of their UTF-8 encoding. JavaScript's `<` compares UTF-16 code
 * units, which disagrees for characters above U+FFFF against U+E000..U+FFFF. Comparing code points
 * matches UTF-8 byte order exactly, so merges of a manifest with a listing agree with R2.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (0xD800-0xDFFF) encode code points above U+FFFF, which sort after every BMP unit.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}
