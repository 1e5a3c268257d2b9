import { describe, expect, it } from "vitest";
import { chooseBackupType, type BackupTypeInput } from "../../durable-objects/engine/coordinator/backup-type";

const now = new Date("2026-11-28T02:00:00.000Z");
const daysAgo = (days: number) => new Date(now.getTime() - days * 86_400_000).toISOString();
const input = (overrides: Partial<BackupTypeInput> = {}): BackupTypeInput => ({
  bucketName: "cutty-files",
  template: "default",
  requested: "auto",
  incrementalEnabled: true,
  fullIntervalDays: 7,
  now,
  ...overrides,
});
const history = (fullDaysAgo: number | null, lastDaysAgo = fullDaysAgo) => ({
  lastCompletedFull: fullDaysAgo === null ? null : { id: "full", backupDate: daysAgo(fullDaysAgo) },
  lastCompleted: lastDaysAgo === null ? null : { id: "latest", backupDate: daysAgo(lastDaysAgo) },
});

describe("chooseBackupType", () => {
  it("auto: full with no completed backup, incremental at 6 days, full at 8 days", () => {
    expect(chooseBackupType(input(), history(null))).toMatchObject({ type: "full", parentId: null });
    expect(chooseBackupType(input(), history(6, 1))).toEqual({ type: "incremental", parentId: "latest", note: null });
    expect(chooseBackupType(input(), history(8, 1))).toMatchObject({
      type: "full",
      note: expect.stringMatching(/older than 7 days/),
    });
  });

  it("auto is always full when incremental backups are disabled", () => {
    expect(chooseBackupType(input({ incrementalEnabled: false }), history(1))).toMatchObject({
      type: "full",
      note: expect.stringMatching(/disabled/),
    });
  });

  it("honours BACKUP_FULL_INTERVAL_DAYS", () => {
    expect(chooseBackupType(input({ fullIntervalDays: 3 }), history(4))).toMatchObject({ type: "full" });
  });

  it("an incremental request builds on the newest completed backup, or becomes full without one", () => {
    expect(chooseBackupType(input({ requested: "incremental" }), history(30, 2))).toMatchObject({
      type: "incremental",
      parentId: "latest",
    });
    expect(chooseBackupType(input({ requested: "incremental" }), history(null))).toMatchObject({
      type: "full",
      note: expect.stringMatching(/no finished backup/),
    });
  });

  it("a full request is full", () => {
    expect(chooseBackupType(input({ requested: "full" }), history(1))).toEqual({
      type: "full",
      parentId: null,
      note: null,
    });
  });
});
