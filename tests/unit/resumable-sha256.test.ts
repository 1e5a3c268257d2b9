import { describe, expect, it } from "vitest";
import { ResumableSha256 } from "../../durable-objects/engine/format/resumable-sha256";

async function webCryptoHex(bytes: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}

describe("ResumableSha256", () => {
  it("matches WebCrypto for lengths around every block boundary", async () => {
    for (const length of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 100_000]) {
      const data = bytes(length, length + 1);
      expect(new ResumableSha256().update(data).digestHex(), `length ${length}`).toBe(await webCryptoHex(data));
    }
  });

  it("gives the same digest when paused and resumed from its saved state at arbitrary points", async () => {
    const data = bytes(300_001);
    let state = new ResumableSha256().state();
    for (const [from, to] of [
      [0, 7],
      [7, 64],
      [64, 65_537],
      [65_537, 200_000],
      [200_000, 300_001],
    ] as const) {
      const hasher = new ResumableSha256(JSON.parse(JSON.stringify(state)));
      hasher.update(data.subarray(from, to));
      state = hasher.state();
    }
    expect(new ResumableSha256(state).digestHex()).toBe(await webCryptoHex(data));
  });
});
