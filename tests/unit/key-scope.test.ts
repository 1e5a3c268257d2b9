import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { inScope, listingPrefix, type KeyScope } from "../../durable-objects/engine/backup/key-scope";

const key = fc.stringMatching(/^[ab/]{0,6}$/);
const scope = fc.record({
  includePrefixes: fc.array(
    key.filter((k) => k.length > 0),
    { maxLength: 3 },
  ),
  excludePrefixes: fc.array(key, { maxLength: 3 }),
});

describe("a template's key scope", () => {
  it("takes keys under an include prefix (every key without one), minus those under an exclude prefix", () => {
    const reports: KeyScope = { includePrefixes: ["reports/", "images/"], excludePrefixes: ["reports/tmp/"] };
    expect(
      ["reports/q1.csv", "images/a.png", "reports/tmp/x", "other/b", "reports"].filter((k) => inScope(reports, k)),
    ).toEqual(["reports/q1.csv", "images/a.png"]);
    expect(inScope({ includePrefixes: [], excludePrefixes: ["tmp/"] }, "anything")).toBe(true);
    expect(inScope(null, "anything")).toBe(true);
  });

  it("lists only under a prefix every key in scope has: listing with it loses nothing the scope takes", () => {
    fc.assert(
      fc.property(scope, fc.array(key, { maxLength: 30 }), (s, keys) => {
        const prefix = listingPrefix(s);
        const fromWholeBucket = keys.filter((k) => inScope(s, k));
        const fromPrefixListing = keys.filter((k) => k.startsWith(prefix)).filter((k) => inScope(s, k));
        expect(fromPrefixListing).toEqual(fromWholeBucket);
      }),
    );
  });
});
