import { describe, expect, it } from "vitest";
import { periodsOf, planRetention, type BackupForRetention } from "../../durable-objects/engine/cleanup/keep-policy";

const NONE = { last: 0, daily: 0, weekly: 0, monthly: 0 };
const backup = (id: string, backupDate: string, status = "completed"): BackupForRetention => ({
  id,
  backupDate,
  status,
});
const keptIds = (plan: ReturnType<typeof planRetention>) => [...plan.kept.keys()].sort();

describe("periods", () => {
  it("uses UTC days, ISO weeks (with their week-year) and UTC months", () => {
    expect(periodsOf("2026-11-30T23:59:59.999Z")).toEqual({
      daily: "2026-11-30",
      weekly: "2026-W49",
      monthly: "2026-11",
    });
    expect(periodsOf("2026-12-01T00:00:00.000Z")).toEqual({
      daily: "2026-12-01",
      weekly: "2026-W49",
      monthly: "2026-12",
    });
    expect(periodsOf("2026-12-31T12:00:00.000Z").weekly).toBe("2026-W53");
    expect(periodsOf("2027-01-01T12:00:00.000Z").weekly).toBe("2026-W53");
    expect(periodsOf("2027-01-04T00:00:00.000Z").weekly).toBe("2027-W01");
    expect(periodsOf("2024-12-30T00:00:00.000Z").weekly).toBe("2025-W01");
    expect(periodsOf("2028-02-29T23:00:00.000Z")).toMatchObject({ daily: "2028-02-29", monthly: "2028-02" });
  });
});

describe("planRetention", () => {
  const now = new Date("2026-12-01T02:00:00.000Z");

  it("keeps what is younger than the retention days, and expires the rest", () => {
    const plan = planRetention(
      [
        backup("a", "2026-11-30T02:00:00.000Z"),
        backup("b", "2026-11-01T02:00:00.001Z"),
        backup("c", "2026-11-01T01:59:59.999Z"),
      ],
      { retentionDays: 30, keep: NONE },
      now,
    );
    expect(keptIds(plan)).toEqual(["a", "b"]);
    expect(plan.expired).toEqual(["c"]);
  });

  it("never expires the newest completed backup, even with retentionDays 0 and no keep rule", () => {
    const plan = planRetention(
      [
        backup("old", "2026-01-01T00:00:00.000Z"),
        backup("newer-partial", "2026-02-01T00:00:00.000Z", "partial"),
        backup("failed", "2026-03-01T00:00:00.000Z", "failed"),
      ],
      { retentionDays: 0, keep: NONE },
      now,
    );
    expect([...plan.kept]).toEqual([["old", ["newest_completed"]]]);
    expect(plan.expired).toEqual(["failed", "newer-partial"]);
  });

  it("keeps the newest backup of each of the last N days, weeks and months that have one, across month ends and a leap day", () => {
    const history = [
      backup("feb28-a", "2028-02-28T01:00:00.000Z"),
      backup("feb29-a", "2028-02-29T01:00:00.000Z"),
      backup("feb29-b", "2028-02-29T23:59:59.999Z"),
      backup("mar01-a", "2028-03-01T00:00:00.000Z"),
      backup("mar01-failed", "2028-03-01T05:00:00.000Z", "failed"),
      backup("jan31", "2028-01-31T12:00:00.000Z"),
    ];
    const at = new Date("2028-06-01T00:00:00.000Z");
    expect(keptIds(planRetention(history, { retentionDays: 0, keep: { ...NONE, daily: 2 } }, at))).toEqual([
      "feb29-b",
      "mar01-a",
    ]);
    // 2028-02-28 (Mon) to 2028-03-01 (Wed) is one ISO week; Jan 31 (Mon) is the week before.
    expect(keptIds(planRetention(history, { retentionDays: 0, keep: { ...NONE, weekly: 2 } }, at))).toEqual([
      "jan31",
      "mar01-a",
    ]);
    expect(keptIds(planRetention(history, { retentionDays: 0, keep: { ...NONE, monthly: 3 } }, at))).toEqual([
      "feb29-b",
      "jan31",
      "mar01-a",
    ]);
    expect(keptIds(planRetention(history, { retentionDays: 0, keep: { ...NONE, last: 3 } }, at))).toEqual([
      "feb29-a",
      "feb29-b",
      "mar01-a",
    ]);
  });

  it("a backup just before UTC midnight and one just after are two days", () => {
    const history = [
      backup("before", "2026-11-29T23:59:59.999Z"),
      backup("after", "2026-11-30T00:00:00.000Z"),
      backup("same-day-earlier", "2026-11-29T00:00:00.000Z"),
    ];
    expect(keptIds(planRetention(history, { retentionDays: 0, keep: { ...NONE, daily: 2 } }, now))).toEqual([
      "after",
      "before",
    ]);
  });

  it("keeps what a running job reads, and never plans backups that are still running", () => {
    const plan = planRetention(
      [
        backup("running", "2026-11-30T00:00:00.000Z", "in_progress"),
        backup("read-by-restore", "2025-01-01T00:00:00.000Z"),
        backup("newest", "2026-11-29T00:00:00.000Z"),
      ],
      { retentionDays: 0, keep: NONE },
      now,
      new Set(["read-by-restore"]),
    );
    expect(keptIds(plan)).toEqual(["newest", "read-by-restore"]);
    expect(plan.expired).toEqual([]);
  });

  it("counts only backups with a snapshot for keep rules", () => {
    const plan = planRetention(
      [
        backup("f1", "2026-11-30T00:00:00.000Z", "failed"),
        backup("c1", "2026-11-29T00:00:00.000Z", "cancelled"),
        backup("p1", "2026-11-28T00:00:00.000Z", "partial"),
        backup("c2", "2026-11-27T00:00:00.000Z"),
      ],
      { retentionDays: 0, keep: { ...NONE, last: 2 } },
      now,
    );
    expect(keptIds(plan)).toEqual(["c2", "p1"]);
    expect(plan.expired).toEqual(["f1", "c1"]);
  });

  it("keeps a held backup and every backup younger than the retention lock, whatever the policy asks", () => {
    const plan = planRetention(
      [
        backup("newest", "2026-11-29T00:00:00.000Z"),
        backup("locked", "2026-11-25T00:00:00.000Z"),
        { ...backup("held", "2025-06-01T00:00:00.000Z"), held: true },
        backup("old", "2025-01-01T00:00:00.000Z"),
      ],
      { retentionDays: 0, keep: NONE },
      now,
      new Set(),
      { minRetentionDays: 7 },
    );
    expect(Object.fromEntries(plan.kept)).toEqual({
      newest: ["retention_lock", "newest_completed"],
      locked: ["retention_lock"],
      held: ["legal_hold"],
    });
    expect(plan.expired).toEqual(["old"]);
  });
});
