import { describe, expect, it } from "vitest";
import wranglerToml from "../../wrangler.toml?raw";
import { backupDue, SCHEDULES, scheduleProblem, type Schedule } from "../../durable-objects/engine/settings/schedule";

const at = (iso: string) => new Date(iso);

describe("BACKUP_SCHEDULE against the cron trigger", () => {
  it.each<[Schedule, string, RegExp | null]>([
    ["daily", "0 * * * *", null],
    ["daily", "0 2 * * *", null],
    ["daily", "*/15 * * * *", null],
    ["daily", "30 3 * * *", /cannot run a daily schedule: it does not fire between 02:00 and 03:00 UTC/],
    ["hourly", "0 * * * *", null],
    ["hourly", "0 2 * * *", /cannot run a hourly schedule/],
    ["hourly", "0 */2 * * *", /cannot run a hourly schedule/],
    ["weekly", "0 2 * * *", null],
    ["weekly", "0 2 * * SUN", null],
    ["weekly", "0 2 * * MON", /cannot run a weekly schedule: .* on Sundays/],
    ["manual", "0 2 1 1 *", null],
    ["daily", "not a cron", /is not a valid cron expression/],
  ])("%s with %s", (schedule, cron, problem) => {
    const found = scheduleProblem(schedule, cron);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toMatch(problem);
  });

  it("the shipped trigger serves every schedule", () => {
    const crons = [...wranglerToml.matchAll(/^crons\s*=\s*\[(.*)\]/gm)].flatMap((m) =>
      [...m[1]!.matchAll(/"([^"]+)"/g)].map((c) => c[1]!),
    );
    expect(crons).toEqual(["0 * * * *"]);
    for (const schedule of SCHEDULES)
      for (const cron of crons) expect(scheduleProblem(schedule, cron), `${schedule} / ${cron}`).toBeNull();
  });

  it("starts one backup per slot: the first firing inside it", () => {
    const hourly = "0 * * * *";
    expect(backupDue("daily", hourly, at("2026-12-01T02:00:00Z"))).toBe(true);
    expect(backupDue("daily", hourly, at("2026-12-01T03:00:00Z"))).toBe(false);
    expect(backupDue("daily", hourly, at("2026-12-01T01:00:00Z"))).toBe(false);
    expect(backupDue("hourly", hourly, at("2026-12-01T17:00:00Z"))).toBe(true);
    expect(backupDue("weekly", hourly, at("2026-12-06T02:00:00Z"))).toBe(true); // a Sunday
    expect(backupDue("weekly", hourly, at("2026-12-07T02:00:00Z"))).toBe(false);
    expect(backupDue("manual", hourly, at("2026-12-01T02:00:00Z"))).toBe(false);
    // A trigger that fires every quarter hour starts the slot's backup at its first firing only.
    const quarterly = "*/15 * * * *";
    expect(backupDue("daily", quarterly, at("2026-12-01T02:00:00Z"))).toBe(true);
    expect(backupDue("daily", quarterly, at("2026-12-01T02:15:00Z"))).toBe(false);
    expect(backupDue("hourly", quarterly, at("2026-12-01T09:45:00Z"))).toBe(false);
  });
});
