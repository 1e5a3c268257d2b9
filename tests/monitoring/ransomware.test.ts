/**
 * A simulated ransomware attack on the local stack: after ordinary days (a few text files edited
 * a day), one backup sees 60% of the bucket overwritten with incompressible content. The
 * mass_change alert opens with its webhook, naming the backup, the counts and the prefixes; a
 * cleanup with keep-last 1 keeps every pre-attack backup (shown in its preview and result, and in
 * stats); a restore of the last good backup brings the bucket back byte for byte; the alert does
 * not resolve by itself, and an admin's resolution takes effect only after the delay, cancellable
 * meanwhile, each step sent as a webhook, after which cleanups expire by policy again.
 */
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { advanceClock, clock } from "../../durable-objects/engine/clock";
import { api } from "../helpers/api";
import { listAll, pseudoRandom, putObjects, sha256Hex, type SeedObject } from "../helpers/buckets";
import { cleanup, completedBackup, restore } from "../helpers/flows";
import { checkAt, dispatcher, receiver } from "../helpers/monitoring";

const DAY = 86_400_000;
const FILES = 50;
const text = (key: string, version: number) =>
  `${key}, version ${version}: quarterly figures, minutes and notes, written by people.\n`.repeat(12);

function bucketAt(version: (index: number) => number): SeedObject[] {
  return Array.from({ length: FILES }, (_, i) => {
    const key = `${i % 5 === 0 ? "invoices" : "reports"}/file-${String(i).padStart(2, "0")}.txt`;
    return { key, body: text(key, version(i)), contentType: "text/plain" };
  });
}

async function contents(): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  for (const object of await listAll(env.R2_BUCKET)) {
    const body = await env.R2_BUCKET.get(object.key);
    result.set(object.key, await sha256Hex(await body!.arrayBuffer()));
  }
  return result;
}

const statusOf = async (id: string) => (await api("GET", `/api/backup/status/${id}`)).body.backup;
const massChangeAlerts = async () =>
  (await api("GET", "/api/backup/alerts")).body.alerts.filter((a: { code: string }) => a.code === "mass_change");
const KEEP_LAST_ONE = { retentionDays: 0, keep: { last: 1 } };

beforeEach(() => receiver.reset());

describe("a simulated ransomware attack", () => {
  it("opens mass_change, keeps the last good backups through cleanups, and restores the bucket byte for byte", async () => {
    // Ordinary days: a full backup, then an incremental a day: two files edited on the first day,
    // nothing on the others (a quiet day is measured too: it is what the median is made of).
    await putObjects(bucketAt(() => 0));
    const good: string[] = [(await completedBackup("full")).id];
    for (let day = 1; day <= 4; day++) {
      advanceClock(DAY);
      if (day === 1) await putObjects(bucketAt(() => 1).filter((_, i) => i === 1 || i === 11));
      good.push((await completedBackup("incremental")).id);
    }
    expect(await massChangeAlerts()).toEqual([]);
    const lastGood = await contents();

    // The attack: 30 of 50 files (60%) overwritten with noise, as encryption leaves them.
    advanceClock(DAY);
    const attacked = bucketAt(() => 0)
      .filter((_, i) => i % 5 !== 4 && i < 38)
      .slice(0, 30);
    expect(attacked).toHaveLength(30);
    await putObjects(attacked.map((o, i) => ({ ...o, body: pseudoRandom(1200, 1000 + i) })));
    const attack = await completedBackup("incremental");

    const [alert] = await massChangeAlerts();
    expect(alert).toMatchObject({
      code: "mass_change",
      severity: "critical",
      resolvedAt: null,
      resolution: null,
      details: {
        backupId: attack.id,
        scope: "backup",
        measures: ["changes", "incompressible"],
        modified: 30,
        deleted: 0,
        baseline: FILES,
        changedShare: 0.6,
        changedMedian: 0,
        sampled: 30,
        incompressible: 30,
        incompressibleMedian: 0,
      },
    });
    expect(alert.details.topPrefixes).toEqual([
      { prefix: "reports/", changes: 22 },
      { prefix: "invoices/", changes: 8 },
    ]);
    expect(alert.message).toContain(`Backup ${attack.id} of cutty-files: 30 modified and 0 deleted of 50 objects (60%`);
    await dispatcher().deliverDue();
    // (Days without a verification open not_verified too: only this alert's deliveries count here.)
    const ofThisAlert = async () =>
      (await receiver.deliveries()).filter((d) => JSON.parse(d.body).data.alert?.id === alert.id);
    const opened = (await ofThisAlert()).find((d) => d.event === "alert.opened");
    expect(JSON.parse(opened!.body).data.alert).toMatchObject({ id: alert.id, code: "mass_change" });
    expect(opened!.valid).toBe(true);

    // A later ordinary backup does not resolve it: it stays open until an admin resolves it.
    advanceClock(DAY);
    const after = await completedBackup("incremental");
    await checkAt(clock.date());
    expect((await massChangeAlerts())[0]).toMatchObject({ id: alert.id, resolvedAt: null });

    // Keep-last 1 would expire everything but `after`: every pre-attack backup is kept.
    const stats = (await api("GET", "/api/backup/stats")).body.protection;
    expect(stats.massChangeHolds).toEqual([
      expect.objectContaining({ alertId: alert.id, suspectBackupId: attack.id, resolveAt: null }),
    ]);
    const preview = await cleanup({ ...KEEP_LAST_ONE, dryRun: true });
    expect(preview.result).toMatchObject({ backupsExpired: 1, keptByAlert: 5, backupIdsExpired: [attack.id] });
    expect(preview.result.keptByHoldOrLock.map((k: { backupId: string }) => k.backupId).sort()).toEqual(
      [...good].sort(),
    );
    const run = await cleanup(KEEP_LAST_ONE);
    expect(run.result).toMatchObject({ backupsExpired: 1, keptByAlert: 5 });
    for (const id of good) expect((await statusOf(id)).status).toBe("completed");
    expect((await statusOf(after.id)).status).toBe("completed");

    // The last good backup restores the bucket exactly as it was before the attack.
    const restored = await restore(good.at(-1)!, { overwriteExisting: true });
    expect(restored.status).toBe("completed");
    expect(await contents()).toEqual(lastGood);

    // An admin resolves it: not at once (a stolen token must not suffice), and it can be cancelled.
    const asked = await api("POST", `/api/backup/alerts/${alert.id}/resolve`);
    expect(asked.status, JSON.stringify(asked.body)).toBe(200);
    expect(asked.body.alert.resolution).toMatchObject({ requestedBy: "tester" });
    expect(Date.parse(asked.body.alert.resolution.takesEffectAt) - clock.now()).toBeGreaterThan(23 * 3_600_000);
    const cancelled = await api("DELETE", `/api/backup/alerts/${alert.id}/resolve`);
    expect(cancelled.body.alert).toMatchObject({ resolution: null, resolvedAt: null });
    expect((await api("DELETE", `/api/backup/alerts/${alert.id}/resolve`)).status).toBe(409);
    await api("POST", `/api/backup/alerts/${alert.id}/resolve`);
    expect((await cleanup(KEEP_LAST_ONE)).result).toMatchObject({ backupsExpired: 0, keptByAlert: 5 });
    // The next backup sees every key rewritten by the restore, 30 of them changed back: to content
    // the store already holds, so not an attack, and the alert does not open again once its
    // resolution takes effect (the check below).
    const afterRestore = await completedBackup("incremental");
    expect((await statusOf(afterRestore.id)).fileCount).toBe(FILES);

    // A day later the resolution takes effect at the next check; the holds are lifted.
    advanceClock(DAY + 60_000);
    const changes = await checkAt(clock.date());
    expect(changes.resolved.map((a) => a.id)).toEqual([alert.id]);
    expect(changes.opened).toEqual([]);
    // The five pre-attack backups and the ordinary one after the attack.
    expect((await cleanup(KEEP_LAST_ONE)).result).toMatchObject({ backupsExpired: 6, keptByAlert: 0 });
    await dispatcher().deliverDue();
    expect((await ofThisAlert()).map((d) => d.event)).toEqual([
      "alert.opened",
      "alert.resolve_requested",
      "alert.resolve_cancelled",
      "alert.resolve_requested",
      "alert.resolved",
    ]);
    // The audit trail, newest first: the second cancellation had nothing to cancel.
    const audit = (await api("GET", "/api/backup/audit")).body.events as { action: string; outcome: string }[];
    expect(audit.filter((e) => e.action.startsWith("alert.")).map((e) => `${e.action} ${e.outcome}`)).toEqual([
      "alert.resolve accepted",
      "alert.resolve_cancel refused",
      "alert.resolve_cancel accepted",
      "alert.resolve accepted",
    ]);
  });

  it("refuses to resolve an alert that resolves by itself, or one unknown", async () => {
    await env.DB.prepare(
      "INSERT INTO alerts (id, bucket_name, code, severity, message, details, opened_at) VALUES ('al-x', 'cutty-files', 'no_recent_backup', 'critical', 'm', '{}', '2026-11-01T00:00:00Z')",
    ).run();
    const answer = await api("POST", "/api/backup/alerts/al-x/resolve");
    expect([answer.status, answer.body.error.code]).toEqual([409, "conflict"]);
    expect((await api("POST", "/api/backup/alerts/al-none/resolve")).status).toBe(404);
  });
});
