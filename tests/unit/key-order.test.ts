import { describe, expect, it } from "vitest";
import { compareKeys } from "../../durable-objects/engine/format/key-order";

function utf8Compare(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

describe("compareKeys", () => {
  it("orders keys as R2 does (UTF-8 byte order), unlike JavaScript's code-unit order", () => {
    const astral = "📦"; // U+1F4E6, a surrogate pair in UTF-16
    const privateUse = "\uE000";
    expect(astral < privateUse).toBe(true); // JavaScript gets this wrong for R2
    expect(compareKeys(astral, privateUse)).toBeGreaterThan(0);
  });

  it("agrees with UTF-8 byte order on a mixed set of keys", () => {
    const keys = [
      "a",
      "a/b",
      "a b",
      "A",
      "z",
      "é",
      "日本",
      "📦",
      "\uFFFD",
      "\uE000x",
      "a\u0000",
      "",
      "ab",
      "aé",
      "a📦",
    ];
    const ours = [...keys].sort(compareKeys);
    const bytes = [...keys].sort(utf8Compare);
    expect(ours).toEqual(bytes);
  });
});
