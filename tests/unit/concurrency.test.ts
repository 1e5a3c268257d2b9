/** mapWithConcurrency (engine/concurrency.ts): order, the limit, and a failure that leaves nothing running. */
import { describe, expect, it } from "vitest";
import { mapWithConcurrency } from "../../durable-objects/engine/concurrency";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("mapWithConcurrency", () => {
  it("keeps the input order with at most `limit` operations in flight", async () => {
    let inFlight = 0;
    let most = 0;
    const results = await mapWithConcurrency([30, 5, 20, 1, 10, 2, 8], 3, async (ms, index) => {
      most = Math.max(most, ++inFlight);
      await pause(ms);
      inFlight -= 1;
      return `${index}:${ms}`;
    });
    expect(results).toEqual(["0:30", "1:5", "2:20", "3:1", "4:10", "5:2", "6:8"]);
    expect(most).toBe(3);
  });

  it("after a failure starts nothing more, and rejects with it only once the operations in flight have settled", async () => {
    const events: string[] = [];
    const outcome = mapWithConcurrency([0, 1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
      events.push(`start ${item}`);
      if (item === 1) {
        await pause(5);
        events.push("fail 1");
        throw new Error("item 1 failed");
      }
      await pause(item === 0 ? 40 : 20);
      events.push(`end ${item}`);
      return item;
    }).catch((error: Error) => {
      events.push(`rejected: ${error.message}`);
    });
    await outcome;
    // 0, 1 and 2 started together; 1 failed; 0 and 2 ran to their end before the rejection, and
    // no later item started (a bare Promise.all rejected at once and went on with 3 to 7).
    expect(events).toEqual(["start 0", "start 1", "start 2", "fail 1", "end 2", "end 0", "rejected: item 1 failed"]);
  });
});
