/**
 * Legal holds on the local stack: placed and released through the API (admin, audited, logged),
 * a release that takes effect only after BACKUP_HOLD_RELEASE_DELAY_HOURS (24 here) and that a new
 * hold cancels, and cleanups that keep a held backup whatever their policy says until then.
 */
import { describe, expect, it } from "vitest";
import { advanceClock } from "../../durable-objects/engine/clock";
import { api } from "../helpers/api";
import { putObjects } from "../helpers/buckets";
import { cleanup, completedBackup, crashedBackup } from "../helpers/flows";
import { mintToken } from "../helpers/tokens";

async function threeBackups(): Promise<[string, string, string]> {
  const ids: string[] = [];
  for (const [i, type] of (["full", "incremental", "incremental"] as const).entries()) {
    await putObjects([{ key: `doc-${i}.txt`, body: `version ${i}` }]);
    ids.push((await completedBackup(type)).id);
  }
  return ids as [string, string, string];
}

const statusOf = async (id: string) => (await api("GET", `/api/backup/status/${id}`)).body.backup;
const KEEP_NEWEST = { retentionDays: 0, keep: { last: 1 } };

describe("legal holds", () => {
  it("are placed and released by an admin, with a delay a new hold cancels, each change audited and logged", async () => {
    const [oldest] = await threeBackups();
    const held = await api("POST", `/api/backup/hold/${oldest}`, { body: { reason: "litigation 17" } });
    expect(held.status, JSON.stringify(held.body)).toBe(200);
    expect(held.body.backup.hold).toEqual({
      by: "tester",
      at: expect.any(String),
      reason: "litigation 17",
      releaseAt: null,
    });
    // Holding a held backup changes nothing.
    expect((await api("POST", `/api/backup/hold/${oldest}`, { body: { reason: "other" } })).body.backup.hold).toEqual(
      held.body.backup.hold,
    );

    const released = await api("DELETE", `/api/backup/hold/${oldest}`);
    expect(released.status).toBe(200);
    const releaseAt = Date.parse(released.body.backup.hold.releaseAt);
    expect(releaseAt - Date.parse(held.body.backup.hold.at)).toBeGreaterThanOrEqual(24 * 3_600_000);
    expect(releaseAt - Date.now()).toBeLessThanOrEqual(24 * 3_600_000 + 1000);
    // Placing it again cancels the release; the hold itself is the original one.
    const kept = await api("POST", `/api/backup/hold/${oldest}`);
    expect(kept.body.backup.hold).toEqual({ ...held.body.backup.hold, releaseAt: null });

    const log = (await api("GET", `/api/backup/logs/${oldest}?level=warn`)).body.logs.map(
      (l: { message: string }) => l.message,
    );
    expect(log).toEqual([
      "Legal hold placed by tester: litigation 17. It never expires until the hold is released.",
      expect.stringMatching(/^Release of its legal hold asked for by tester: it takes effect at /),
      expect.stringMatching(/^The release of its legal hold \(due .*\) was cancelled by tester: the hold stands\.$/),
    ]);
    const audit = (await api("GET", "/api/backup/audit")).body.events as { action: string; target: string }[];
    expect(
      audit.filter((e) => e.action.startsWith("backup.hold") || e.action === "backup.release").map((e) => e.action),
    ).toEqual(["backup.hold", "backup.release", "backup.hold", "backup.hold"]);
  });

  it("refuses what cannot be held or released, and tokens without admin", async () => {
    const [oldest, middle] = await threeBackups();
    const refused = async (method: string, path: string, options: { body?: unknown; token?: string } = {}) => {
      const answer = await api(method, path, options);
      return [answer.status, answer.body?.error?.code];
    };
    expect(await refused("POST", "/api/backup/hold/bk-nope")).toEqual([404, "not_found"]);
    expect(await refused("POST", `/api/backup/hold/${await crashedBackup()}`)).toEqual([409, "conflict"]);
    expect(await refused("DELETE", `/api/backup/hold/${middle}`)).toEqual([409, "conflict"]);
    expect(await refused("POST", `/api/backup/hold/${oldest}`, { body: { reason: "" } })).toEqual([
      400,
      "validation_failed",
    ]);
    expect(await refused("POST", `/api/backup/hold/${oldest}`, { body: { why: "x" } })).toEqual([
      400,
      "validation_failed",
    ]);
    const write = await mintToken({ scope: "backup:write backup:restore" });
    expect(await refused("POST", `/api/backup/hold/${oldest}`, { token: write })).toEqual([403, "forbidden"]);
    expect((await api("GET", `/api/backup/status/${oldest}`)).body.backup.hold).toBeNull();
  });

  it("keep a held backup through every cleanup until its release takes effect", async () => {
    const [oldest, middle, newest] = await threeBackups();
    await api("POST", `/api/backup/hold/${oldest}`, { body: { reason: "audit" } });

    const preview = await cleanup({ ...KEEP_NEWEST, dryRun: true });
    expect(preview.result).toMatchObject({
      backupsExpired: 1,
      keptByHold: 1,
      backupIdsExpired: [middle],
      keptByHoldOrLock: [{ backupId: oldest, reasons: ["legal_hold"] }],
    });
    const run = await cleanup(KEEP_NEWEST);
    expect(run.result).toMatchObject({ backupsExpired: 1, keptByHold: 1, backupIdsExpired: [middle] });
    expect((await statusOf(oldest)).status).toBe("completed");
    expect((await statusOf(newest)).status).toBe("completed");

    // Asked for, the release is not yet in effect: still kept.
    await api("DELETE", `/api/backup/hold/${oldest}`);
    expect((await cleanup(KEEP_NEWEST)).result).toMatchObject({ backupsExpired: 0, keptByHold: 1 });
    // A day later it is, and the next cleanup expires it.
    advanceClock(24 * 3_600_000 + 60_000);
    expect((await statusOf(oldest)).hold).toBeNull();
    expect((await cleanup(KEEP_NEWEST)).result).toMatchObject({
      backupsExpired: 1,
      keptByHold: 0,
      backupIdsExpired: [oldest],
    });
  });
});
