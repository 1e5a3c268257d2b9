/**
 * The retention lock (BACKUP_MIN_RETENTION_DAYS, 7 in this project): no cleanup expires a backup
 * younger than the lock, whatever its request asks, and its result says which backups the lock
 * kept; once older, the same request expires them.
 */
import { describe, expect, it } from "vitest";
import { advanceClock } from "../../durable-objects/engine/clock";
import { api } from "../helpers/api";
import { putObjects } from "../helpers/buckets";
import { cleanup, completedBackup } from "../helpers/flows";

describe("the retention lock", () => {
  it("keeps every backup younger than the lock from any cleanup, then lets them go", async () => {
    const ids: string[] = [];
    for (const [i, type] of (["full", "incremental", "incremental"] as const).entries()) {
      await putObjects([{ key: `doc-${i}.txt`, body: `version ${i}` }]);
      ids.push((await completedBackup(type)).id);
    }
    const [oldest, middle] = ids;
    const asked = { retentionDays: 0, keep: { last: 1 } };
    const locked = await cleanup(asked);
    expect(locked.result).toMatchObject({
      backupsExpired: 0,
      keptByLock: 2,
      keptByHoldOrLock: expect.arrayContaining([
        { backupId: oldest, reasons: ["retention_lock"] },
        { backupId: middle, reasons: ["retention_lock"] },
      ]),
    });
    const log = (await api("GET", `/api/backup/logs/${locked.id}`)).body.logs as { message: string }[];
    expect(log[0]!.message).toContain("the retention lock keeps every backup younger than 7 days");

    advanceClock(7 * 86_400_000 + 60_000);
    const free = await cleanup(asked);
    expect(free.result).toMatchObject({ backupsExpired: 2, keptByLock: 0 });
    expect(free.result.backupIdsExpired.sort()).toEqual([oldest, middle].sort());
  });
});
