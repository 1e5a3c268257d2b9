import { describe, expect, it } from "vitest";
import { PermanentError, errorMessage } from "../../durable-objects/engine/errors";
import { cappedBackoff, withRetry } from "../../durable-objects/engine/retry";

describe("retries (review defect 10)", () => {
  it("never waits longer than the cap, whatever the attempt", () => {
    for (const attempt of [1, 5, 20, 60, 1000]) {
      const delay = cappedBackoff(250, attempt, 30_000);
      expect(delay).toBeLessThanOrEqual(30_000);
      expect(delay).toBeGreaterThanOrEqual(Math.min(30_000, 250 * 2 ** Math.min(attempt - 1, 30)) / 2);
    }
  });

  it("does not retry what cannot succeed, and retries what may", async () => {
    let calls = 0;
    await expect(
      withRetry({ attempts: 5, baseDelayMs: 0 }, async () => {
        calls++;
        throw new PermanentError("key too long");
      }),
    ).rejects.toThrow(/key too long/);
    expect(calls).toBe(1);
    calls = 0;
    expect(
      await withRetry({ attempts: 5, baseDelayMs: 0 }, async () => {
        if (++calls < 3) throw new Error("R2 unavailable");
        return "ok";
      }),
    ).toBe("ok");
    expect(calls).toBe(3);
  });

  it("names every failure: an error without a message still says what it was (review defect 3)", () => {
    expect(errorMessage(new Error(""))).toBe("Error");
    expect(errorMessage(Object.assign(new Error(""), { name: "" }))).toBe("unknown error");
    expect(errorMessage(undefined)).toBe("unknown error (no message)");
    expect(errorMessage("  ")).toBe("unknown error (no message)");
    expect(errorMessage(new TypeError("boom"))).toBe("boom");
  });
});
