import { describe, expect, it } from "vitest";
import { MAX_PARTS, partSizeFor } from "../../durable-objects/engine/multipart";

const MiB = 1024 * 1024;

describe("partSizeFor", () => {
  it("keeps the configured part size while 10,000 parts suffice", () => {
    expect(partSizeFor(100 * 1024 * MiB, 16 * MiB)).toBe(16 * MiB);
  });

  it("grows parts (in whole MiB) so R2's largest object fits in 10,000 parts", () => {
    const fiveTiB = 5 * 1024 * 1024 * MiB;
    const size = partSizeFor(fiveTiB, 16 * MiB);
    expect(size % MiB).toBe(0);
    expect(Math.ceil(fiveTiB / size)).toBeLessThanOrEqual(MAX_PARTS);
    expect(size).toBe(525 * MiB);
  });
});
