import { describe, expect, it } from "vitest";
import {
  desiredAlerts,
  type AlertThresholds,
  type BucketFacts,
} from "../../durable-objects/engine/monitor/alert-rules";

const limits: AlertThresholds = {
  consecutiveFailures: 3,
  staleHours: 48,
  growthFactor: 5,
  growthWindow: 10,
  growthMinBytes: 1000,
  skippedRuns: 3,
  pendingChanges: 1000,
  pendingHours: 6,
  massChange: { sharePercent: 25, factor: 5, incompressibleRisePercent: 40, minObjects: 100, windowHours: 24 },
  verifyStaleDays: 3,
};
const now = new Date("2026-12-01T12:00:00Z");
const quiet: BucketFacts = {
  bucketName: "files",
  failuresSinceSuccess: { count: 0, newest: [] },
  lastCompletedAt: "2026-12-01T02:10:00Z",
  firstBackupAt: "2026-11-01T02:00:00Z",
  invalidVerifications: { count: 0, backupIds: [] },
  growth: null,
  skippedRuns: { count: 0, lastDetail: null },
  replicaProblems: { count: 0, backupIds: [] },
  pendingChanges: null,
  changes: { history: [], acknowledgedThrough: null },
  verification: { lastValidAt: "2026-11-30T04:10:00Z", firstCompletedAt: "2026-11-01T02:10:00Z" },
};
const codes = (facts: Partial<BucketFacts>, overrides: Partial<AlertThresholds> = {}) =>
  desiredAlerts({ ...quiet, ...facts }, { ...limits, ...overrides }, now).map((a) => a.code);

describe("alert rules", () => {
  it("a healthy bucket wants no alert", () => {
    expect(codes({})).toEqual([]);
  });

  it("not_verified after the stale days without a valid verification, counted from the first backup when never verified", () => {
    expect(codes({ verification: { lastValidAt: "2026-11-28T12:00:01Z", firstCompletedAt: null } })).toEqual([]);
    const [stale] = desiredAlerts(
      { ...quiet, verification: { lastValidAt: "2026-11-28T12:00:00Z", firstCompletedAt: "2026-11-01T02:10:00Z" } },
      limits,
      now,
    );
    expect(stale).toMatchObject({ code: "not_verified", severity: "warning", details: { days: 3, thresholdDays: 3 } });
    const [never] = desiredAlerts(
      { ...quiet, verification: { lastValidAt: null, firstCompletedAt: "2026-11-01T02:10:00Z" } },
      limits,
      now,
    );
    expect(never?.message).toContain("has ever verified valid");
    expect(codes({ verification: { lastValidAt: null, firstCompletedAt: null } })).toEqual([]);
  });

  it("consecutive_failures at the threshold, naming the latest failure", () => {
    expect(codes({ failuresSinceSuccess: { count: 2, newest: [] } })).toEqual([]);
    const [alert] = desiredAlerts(
      { ...quiet, failuresSinceSuccess: { count: 3, newest: [{ id: "bk-3", error: "R2 down" }] } },
      limits,
      now,
    );
    expect(alert).toMatchObject({
      code: "consecutive_failures",
      severity: "critical",
      details: { count: 3, backupIds: ["bk-3"] },
    });
    expect(alert!.message).toBe("3 backups of files in a row did not complete (latest: bk-3: R2 down).");
    expect(codes({ failuresSinceSuccess: { count: 1, newest: [] } }, { consecutiveFailures: 1 })).toEqual([
      "consecutive_failures",
    ]);
  });

  it("no_recent_backup after the stale hours, from the first attempt when none ever completed", () => {
    expect(codes({ lastCompletedAt: "2026-11-29T12:00:01Z" })).toEqual([]);
    expect(codes({ lastCompletedAt: "2026-11-29T12:00:00Z" })).toEqual(["no_recent_backup"]);
    expect(codes({ lastCompletedAt: null, firstBackupAt: null })).toEqual([]);
    expect(codes({ lastCompletedAt: null, firstBackupAt: "2026-11-29T11:00:00Z" })).toEqual(["no_recent_backup"]);
  });

  it("storage_growth needs history, the factor and the absolute floor", () => {
    const growth = (storedBytes: number, previous: number[]) =>
      codes({ growth: { backupId: "bk-new", storedBytes, previous } });
    expect(growth(100_000, [1000, 1000])).toEqual([]); // too little history
    expect(growth(5000, [1000, 1000, 1000])).toEqual([]); // exactly 5×: not above
    expect(growth(5001, [1000, 1000, 1000])).toEqual(["storage_growth"]);
    expect(growth(900, [0, 0, 0])).toEqual([]); // under the floor, however "infinite" the factor
    expect(growth(1001, [0, 0, 0])).toEqual(["storage_growth"]);
    // Only the window's backups make the average: an old huge one no longer hides a surge.
    expect(
      codes(
        { growth: { backupId: "bk", storedBytes: 6000, previous: [1000, 1000, 1000, 1_000_000] } },
        { growthWindow: 3 },
      ),
    ).toEqual(["storage_growth"]);
  });

  it("verification_failed and schedule_skipped", () => {
    expect(codes({ invalidVerifications: { count: 2, backupIds: ["bk-1", "bk-2"] } })).toEqual(["verification_failed"]);
    expect(codes({ skippedRuns: { count: 2, lastDetail: null } })).toEqual([]);
    expect(codes({ skippedRuns: { count: 3, lastDetail: "backup bk-1 is still running" } })).toEqual([
      "schedule_skipped",
    ]);
  });

  it("replica_incomplete while a kept backup's replica is incomplete or failed, naming it", () => {
    const [alert] = desiredAlerts({ ...quiet, replicaProblems: { count: 1, backupIds: ["bk-7"] } }, limits, now);
    expect(alert).toMatchObject({
      code: "replica_incomplete",
      severity: "warning",
      details: { count: 1, backupIds: ["bk-7"] },
    });
    expect(alert!.message).toContain("(bk-7)");
  });

  it("changes_pending when change events pile up past the threshold or the coordinator's limit, or grow old", () => {
    const pending = (count: number, hoursAgo: number, overflow = false) => ({
      pendingChanges: {
        count,
        firstReceivedAt: now.getTime() - hoursAgo * 3_600_000,
        overflowSince: overflow ? now.getTime() : null,
      },
    });
    expect(codes({ pendingChanges: { count: 0, firstReceivedAt: null, overflowSince: null } })).toEqual([]);
    expect(codes(pending(999, 5.9))).toEqual([]);
    expect(codes(pending(1000, 0))).toEqual(["changes_pending"]);
    expect(codes(pending(3, 6))).toEqual(["changes_pending"]);
    expect(codes(pending(3, 0, true))).toEqual(["changes_pending"]);
    const [alert] = desiredAlerts({ ...quiet, ...pending(1200, 7) }, limits, now);
    expect(alert).toMatchObject({
      code: "changes_pending",
      severity: "warning",
      details: { count: 1200, hours: 7, overflow: false },
    });
    expect(alert!.message).toContain("1200 changed key(s) of files are waiting for a backup");
  });
});
