/**
 * The bench's CPU profile summary (scripts/bench/profile.mjs): self time per function from the
 * samples and their time deltas, the runtime's own entries apart, largest first.
 */
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without types
import { summarizeProfile } from "../../scripts/bench/profile.mjs";

const frame = (functionName: string, lineNumber = -1, url = "") => ({ functionName, url, lineNumber });

describe("summarizing a CPU profile", () => {
  it("adds each sample's time to its function, keeps the runtime's entries apart and ranks the rest", () => {
    const profile = {
      nodes: [
        { id: 1, callFrame: frame("(root)"), children: [2, 3, 4, 5] },
        { id: 2, callFrame: frame("(idle)") },
        { id: 3, callFrame: frame("runStep", 9, "file:///tmp/dev/index.js") },
        { id: 4, callFrame: frame("", 19, "file:///tmp/dev/index.js") },
        { id: 5, callFrame: frame("get") }, // a native binding call: no script
        { id: 6, callFrame: frame("runStep", 9, "file:///tmp/dev/index.js") }, // the same function, called elsewhere
      ],
      samples: [2, 3, 4, 3, 5, 6, 2],
      timeDeltas: [1000, 2000, 500, 2000, 1500, 1000, 2000],
    };
    const [totals, heading, ...functions] = summarizeProfile(profile);
    // 10 ms sampled: idle 3 ms; runStep 5 ms, get 1.5 ms and the anonymous function 0.5 ms are JavaScript.
    expect(totals).toBe(
      "  0.0 s sampled: JavaScript 70.0%; (idle) 30.0%, (program) 0.0%, (garbage collector) 0.0%, (root) 0.0%",
    );
    expect(heading).toBe("  the 3 functions with the most self time:");
    expect(functions.map((line: string) => line.trim().split(/\s{2,}/))).toEqual([
      ["50.0%", "5 ms", "runStep (index.js:10)"],
      ["15.0%", "2 ms", "get"],
      ["5.0%", "1 ms", "(anonymous) (index.js:20)"],
    ]);
  });
});
