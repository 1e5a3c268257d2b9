import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../durable-objects/engine/settings/config";
import { cleanupBody } from "../../workers/schemas";

const valid = { JWT_SECRET: "x".repeat(32) };

describe("cleanup configuration and body (issue 8 inputs)", () => {
  it("parses BACKUP_KEEP rules, with rules left out as 0, and defaults", () => {
    expect(parseConfig(valid)).toMatchObject({
      BACKUP_KEEP: { last: 3, daily: 7, weekly: 4, monthly: 6 },
      BACKUP_GC_GRACE_HOURS: 24,
      BACKUP_LOG_RETENTION_DAYS: 90,
    });
    expect(parseConfig({ ...valid, BACKUP_KEEP: "daily=14, monthly=12" }).BACKUP_KEEP).toEqual({
      last: 0,
      daily: 14,
      weekly: 0,
      monthly: 12,
    });
    expect(parseConfig({ ...valid, BACKUP_KEEP: "" }).BACKUP_KEEP).toEqual({
      last: 0,
      daily: 0,
      weekly: 0,
      monthly: 0,
    });
    expect(parseConfig({ ...valid, BACKUP_GC_GRACE_HOURS: "0" }).BACKUP_GC_GRACE_HOURS).toBe(0);
  });

  it.each([
    ["BACKUP_KEEP", "yearly=2", /BACKUP_KEEP must be rules such as/],
    ["BACKUP_KEEP", "daily=-1", /BACKUP_KEEP must be rules/],
    ["BACKUP_KEEP", "daily=20000", /BACKUP_KEEP must be rules/],
    ["BACKUP_GC_GRACE_HOURS", "721", /BACKUP_GC_GRACE_HOURS must be at most 720/],
    ["BACKUP_LOG_RETENTION_DAYS", "0", /BACKUP_LOG_RETENTION_DAYS must be at least 1/],
  ])("rejects %s=%s naming the variable", (variable, value, message) => {
    let error: unknown;
    try {
      parseConfig({ ...valid, [variable]: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(message);
    expect((error as ConfigError).variables).toEqual([variable]);
  });

  it("accepts the contract's cleanup body and refuses anything else", () => {
    expect(cleanupBody.parse({})).toEqual({ dryRun: false });
    expect(cleanupBody.parse({ dryRun: true, retentionDays: 0, keep: { last: 1 } })).toEqual({
      dryRun: true,
      retentionDays: 0,
      keep: { last: 1, daily: 0, weekly: 0, monthly: 0 },
    });
    for (const bad of [
      { retentionDays: -1 },
      { retentionDays: 1.5 },
      { keep: { yearly: 1 } },
      { keep: { last: "3" } },
      { force: true },
      { dryRun: "yes" },
    ]) {
      expect(cleanupBody.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
