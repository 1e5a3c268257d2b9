/**
 * The command-line client's progress lines (scripts/cli/): what a running, finished or cancelled
 * backup shows, with and without an earlier snapshot to measure against.
 */
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without types
import { bar, plain } from "../../scripts/cli/output.mjs";
// @ts-expect-error: a plain .mjs script without types
import { backupLine, watchBackup } from "../../scripts/cli/watch.mjs";
// @ts-expect-error: a plain .mjs script without types
import { backupDetails } from "../../scripts/cli/print.mjs";

const backup = (status: string, filesProcessed: number, bytesProcessed = filesProcessed * 1024) => ({
  id: "bk-1",
  status,
  progress: { filesProcessed, bytesProcessed, phase: status === "in_progress" ? "listing" : null },
});

describe("progress lines", () => {
  it("show figures and a rate, and no bar, when nothing earlier of the same scope exists", () => {
    const line: string = backupLine(backup("in_progress", 120), null, 4);
    expect(line).not.toMatch(/\[|%/);
    expect(line).toMatch(/in_progress\s+120 objects {2}120.0 KiB {2}30 objects\/s {2}listing$/);
  });

  it("never claim 100 % while running, even past the reference", () => {
    expect(backupLine(backup("in_progress", 50), 200, 1)).toContain("]  25 %");
    expect(backupLine(backup("in_progress", 600), 219, 1)).toContain("[#######################-]  99 %");
    expect(bar(10, 10, { running: true })).toContain(" 99 %");
  });

  it("end a completed backup at a full bar, a cancelled or failed one with its figures only", () => {
    expect(backupLine(backup("completed", 300), 219, 10)).toMatch(/completed\s+\[#{24}\] 100 % {2}300 objects/);
    for (const status of ["cancelled", "failed"]) {
      const line: string = backupLine(backup(status, 40), 300, 10);
      expect(line).toMatch(new RegExp(`${status}\\s+40 objects`));
      expect(line).not.toContain("%");
    }
  });

  it("show a fanned-out backup's shards: how many are done while it runs, each one's line in its details", () => {
    const shard = (index: number, status: string, filesProcessed: number, after: string | null) => ({
      index,
      range: { after, through: null },
      status,
      filesProcessed,
      bytesProcessed: filesProcessed * 1024,
      failedCount: 0,
      steps: 3,
      retries: index,
      error: null,
    });
    const running = {
      ...backup("in_progress", 300),
      progress: {
        filesProcessed: 300,
        bytesProcessed: 300 * 1024,
        phase: "shards",
        shards: [shard(0, "completed", 200, null), shard(1, "running", 100, "m/0042")],
      },
    };
    expect(backupLine(running, null, 10)).toMatch(/30 objects\/s {2}shards {2}1\/2 shards done$/);
    const details: string = backupDetails({ ...running, performance: {} });
    expect(details).toMatch(/shard 1\/2: +completed +200 objects \(200\.0 KiB\) +keys from the first/);
    expect(details).toMatch(/shard 2\/2: +running +100 objects \(100\.0 KiB\), 1 retried steps +keys after m\/0042/);
  });

  it("print objects in a result as JSON, never [object Object]", () => {
    expect(plain({ last: 1, daily: 0 })).toBe('{"last":1,"daily":0}');
    expect(plain(null)).toBe("null");
    expect(plain(12)).toBe("12");
  });

  it("asks for the reference once, even when there is none", async () => {
    const statuses = ["in_progress", "in_progress", "completed"];
    const asked: string[] = [];
    const client = {
      get: async (path: string) => {
        asked.push(path.split("?")[0]!);
        if (path.startsWith("/backup/list")) return { backups: [] };
        return { backup: { ...backup(statuses.shift()!, 5), template: "default" } };
      },
    };
    const ended = await watchBackup(client, "bk-1", { quiet: true });
    expect(ended.status).toBe("completed");
    expect(asked).toEqual(["/backup/status/bk-1", "/backup/list", "/backup/status/bk-1", "/backup/status/bk-1"]);
  });
});
