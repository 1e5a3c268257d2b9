/** Runs with BACKUP_INCREMENTAL_ENABLED = "false" (the incremental-disabled project). */
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { putObjects, variedObjects } from "../helpers/buckets";
import { runBackupToEnd } from "../helpers/jobs";

describe("with incremental backups disabled", () => {
  it("answers an explicit incremental request with 409 and makes auto always full", async () => {
    await putObjects(variedObjects(5));
    const first = await api("POST", "/api/backup/create", { body: { type: "auto" } });
    expect(first.body.backup.type).toBe("full");
    await runBackupToEnd(first.body.backup.id);

    const incremental = await api("POST", "/api/backup/create", { body: { type: "incremental" } });
    expect(incremental.status).toBe(409);
    expect(incremental.body.error.message).toMatch(/BACKUP_INCREMENTAL_ENABLED is false/);

    const second = await api("POST", "/api/backup/create", { body: { type: "auto" } });
    expect(second.body.backup).toMatchObject({ type: "full", parentId: null });
  });
});
