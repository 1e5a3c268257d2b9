/**
 * Every alert over its whole life, on a controllable clock: it opens on its condition with one
 * webhook delivery, stays one row (and one delivery) however often it is checked while open,
 * resolves with one delivery when the condition clears, and opens afresh, as a new alert with a
 * new delivery, when the condition returns.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { alertRows, checkAt, insertHistory, queuedDeliveries } from "../helpers/monitoring";

const T0 = Date.parse("2026-11-01T02:00:00Z");
const at = (hours: number) => new Date(T0 + hours * 3_600_000).toISOString();

interface Lifecycle {
  code: string;
  severity: "warning" | "critical";
  /** Makes the condition hold; returns the time to check at. */
  open(): Promise<string>;
  clear(): Promise<string>;
  reopen(): Promise<string>;
}

let seq = 0;
const id = (prefix: string) => `${prefix}-${String(++seq).padStart(4, "0")}`;

const scheduledRuns = async (outcome: "skipped" | "accepted", count: number, hour: number) => {
  for (let i = 0; i < count; i++) {
    await env.DB.prepare(
      "INSERT INTO audit_events (at, actor, action, target, outcome, status, detail) VALUES (?, 'cron', 'schedule.run', NULL, ?, NULL, ?)",
    )
      .bind(at(hour + i), outcome, `cron run ${i}: ${outcome}`)
      .run();
  }
};

const lifecycles: Lifecycle[] = [
  {
    code: "consecutive_failures",
    severity: "critical",
    async open() {
      await insertHistory([{ id: id("bk"), status: "completed", at: at(0) }]);
      await insertHistory(
        [1, 2, 3].map((h) => ({
          id: id("bk"),
          status: h === 2 ? ("partial" as const) : ("failed" as const),
          at: at(h),
          error: "R2 down",
        })),
      );
      return at(4);
    },
    async clear() {
      await insertHistory([{ id: id("bk"), status: "completed", at: at(5) }]);
      return at(6);
    },
    async reopen() {
      await insertHistory([7, 8, 9].map((h) => ({ id: id("bk"), status: "failed" as const, at: at(h) })));
      return at(10);
    },
  },
  {
    code: "no_recent_backup",
    severity: "critical",
    async open() {
      await insertHistory([{ id: id("bk"), status: "completed", at: at(0) }]);
      return at(49);
    },
    async clear() {
      await insertHistory([{ id: id("bk"), status: "completed", at: at(50) }]);
      return at(51);
    },
    async reopen() {
      return at(100);
    },
  },
  {
    code: "verification_failed",
    severity: "critical",
    async open() {
      await insertHistory([
        { id: "bk-verified", status: "completed", at: at(0), lastVerificationValid: false },
        { id: id("bk"), status: "completed", at: at(1) },
      ]);
      return at(2);
    },
    async clear() {
      // A later verification of the same backup was valid.
      await env.DB.prepare("UPDATE r2_backups SET last_verification_valid = 1 WHERE id = 'bk-verified'").run();
      return at(3);
    },
    async reopen() {
      await env.DB.prepare("UPDATE r2_backups SET last_verification_valid = 0 WHERE id = 'bk-verified'").run();
      return at(4);
    },
  },
  {
    code: "storage_growth",
    severity: "warning",
    async open() {
      await insertHistory(
        [0, 1, 2, 3].map((h) => ({ id: id("bk"), status: "completed" as const, at: at(h), storedBytes: 1000 })),
      );
      await insertHistory([{ id: id("bk"), status: "completed", at: at(4), storedBytes: 5001 }]); // > 5 × 1000
      return at(5);
    },
    async clear() {
      await insertHistory([{ id: id("bk"), status: "completed", at: at(6), storedBytes: 900 }]);
      return at(7);
    },
    async reopen() {
      await insertHistory([{ id: id("bk"), status: "completed", at: at(8), storedBytes: 50_000 }]);
      return at(9);
    },
  },
  {
    code: "schedule_skipped",
    severity: "warning",
    async open() {
      await insertHistory([{ id: id("bk"), status: "in_progress", at: at(0) }]);
      await scheduledRuns("skipped", 3, 1);
      return at(4);
    },
    async clear() {
      await scheduledRuns("accepted", 1, 5);
      return at(6);
    },
    async reopen() {
      await scheduledRuns("skipped", 3, 7);
      return at(10);
    },
  },
  {
    code: "changes_pending",
    severity: "warning",
    // The coordinator's summary of waiting changes, as its queue consumer and releases leave it.
    async open() {
      await pendingSince(at(0));
      return at(6); // BACKUP_ALERT_PENDING_HOURS (6) later
    },
    async clear() {
      await pendingSince(null);
      return at(7);
    },
    async reopen() {
      await pendingSince(at(8));
      return at(14);
    },
  },
];

async function pendingSince(firstReceivedAt: string | null): Promise<void> {
  await runInDurableObject(env.BUCKET_COORDINATOR.getByName("cutty-files"), (_o, state) =>
    state.storage.put("changes", {
      count: firstReceivedAt ? 3 : 0,
      firstReceivedAt: firstReceivedAt ? Date.parse(firstReceivedAt) : null,
      overflowSince: null,
    }),
  );
}

describe("alerts", () => {
  it.each(lifecycles)("$code opens once, stays single, resolves, and opens again as a new alert", async (life) => {
    const onlyThis = async () => (await alertRows()).filter((a) => a.code === life.code);
    const deliveriesOf = async () =>
      (await queuedDeliveries()).filter((d) => JSON.parse(d.body).data.alert?.code === life.code);

    expect(await onlyThis()).toEqual([]);
    const openedAt = await life.open();
    const first = await checkAt(openedAt);
    expect(first.opened.map((a) => a.code)).toContain(life.code);
    const [opened] = await onlyThis();
    expect(opened).toMatchObject({ code: life.code, severity: life.severity, opened_at: openedAt, resolved_at: null });

    // Checked again and again while the condition holds: still one alert, one delivery.
    for (const later of [openedAt, new Date(Date.parse(openedAt) + 60_000).toISOString()]) {
      const again = await checkAt(later);
      expect(again.opened.map((a) => a.code)).not.toContain(life.code);
    }
    expect(await onlyThis()).toHaveLength(1);
    const whileOpen = await deliveriesOf();
    expect(whileOpen.map((d) => d.event)).toEqual(["alert.opened"]);
    expect(JSON.parse(whileOpen[0]!.body)).toMatchObject({
      id: whileOpen[0]!.id,
      event: "alert.opened",
      data: {
        alert: {
          id: opened!.id,
          code: life.code,
          severity: life.severity,
          bucketName: "cutty-files",
          resolvedAt: null,
        },
      },
    });

    // The API shows it open, in stats and in the alert list.
    const stats = (await api("GET", "/api/backup/stats")).body;
    expect(stats.alerts.map((a: { code: string }) => a.code)).toContain(life.code);
    expect((await api("GET", "/api/backup/alerts?state=open")).body.alerts.map((a: { id: string }) => a.id)).toContain(
      opened!.id,
    );

    const clearedAt = await life.clear();
    const cleared = await checkAt(clearedAt);
    expect(cleared.resolved.map((a) => a.code)).toContain(life.code);
    expect(await onlyThis()).toEqual([{ ...opened, resolved_at: clearedAt }]);
    await checkAt(clearedAt); // resolving is not repeated
    expect((await deliveriesOf()).map((d) => d.event)).toEqual(["alert.opened", "alert.resolved"]);
    expect((await api("GET", "/api/backup/alerts?state=resolved")).body.alerts).toEqual([
      expect.objectContaining({ id: opened!.id, code: life.code, resolvedAt: clearedAt }),
    ]);

    const reopenedAt = await life.reopen();
    await checkAt(reopenedAt);
    const rows = await onlyThis();
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ code: life.code, resolved_at: null, opened_at: reopenedAt });
    expect(rows[1]!.id).not.toBe(opened!.id);
    const all = await deliveriesOf();
    expect(all.map((d) => d.event)).toEqual(["alert.opened", "alert.resolved", "alert.opened"]);
    expect(new Set(all.map((d) => d.id)).size).toBe(3);
  });

  it("never resolves an alert before it opened (a check for a later time, then one at an earlier time)", async () => {
    await insertHistory([{ id: "bk-old", status: "completed", at: at(0) }]);
    await checkAt(at(72)); // the dev cron fired as if three days later
    await insertHistory([{ id: "bk-fresh", status: "completed", at: at(1) }]);
    const earlier = await checkAt(at(2)); // then a backup's end, at the real time
    expect(earlier.resolved.map((a) => a.code)).toEqual(["no_recent_backup"]);
    expect((await alertRows()).map((a) => [a.code, a.opened_at, a.resolved_at])).toEqual([
      ["no_recent_backup", at(72), at(72)],
    ]);
    const delivered = (await queuedDeliveries()).map((d) => JSON.parse(d.body));
    expect(delivered.find((d) => d.event === "alert.resolved")).toMatchObject({
      createdAt: at(72),
      data: { alert: { resolvedAt: at(72) } },
    });
  });

  it("a failed backup that expires no longer counts; verification_failed clears when its backup expires", async () => {
    await insertHistory([
      { id: "bk-bad", status: "completed", at: at(0), lastVerificationValid: false },
      { id: "bk-new", status: "completed", at: at(24) },
    ]);
    await checkAt(at(25));
    expect((await alertRows()).map((a) => [a.code, a.resolved_at])).toEqual([["verification_failed", null]]);
    await env.DB.prepare("UPDATE r2_backups SET status = 'expired' WHERE id = 'bk-bad'").run();
    await checkAt(at(26));
    expect((await alertRows()).map((a) => [a.code, a.resolved_at])).toEqual([["verification_failed", at(26)]]);
  });

  it("watches nothing before the first backup, and a bucket whose backups never completed from its first attempt", async () => {
    expect((await checkAt(at(1000))).open).toEqual([]);
    await insertHistory([{ id: "bk-first", status: "failed", at: at(0) }]);
    expect((await checkAt(at(47))).open).toEqual([]);
    const late = await checkAt(at(48));
    expect(late.open.map((a) => a.code)).toEqual(["no_recent_backup"]);
    expect(late.open[0]!.message).toMatch(
      /has ever completed \(first attempt at 2026-11-01T02:00:00.000Z, 48 hours ago\)/,
    );
  });

  it("lists alerts newest first, pages them, and refuses bad queries with a 400", async () => {
    await insertHistory([{ id: "bk-old", status: "completed", at: at(0), lastVerificationValid: false }]);
    await checkAt(at(1)); // verification_failed
    await checkAt(at(49)); // and no_recent_backup
    const first = await api("GET", "/api/backup/alerts?limit=1");
    expect(first.status).toBe(200);
    expect(first.body.alerts.map((a: { code: string }) => a.code)).toEqual(["no_recent_backup"]);
    const second = await api("GET", `/api/backup/alerts?limit=1&cursor=${first.body.nextCursor}`);
    expect(second.body.alerts.map((a: { code: string }) => a.code)).toEqual(["verification_failed"]);
    expect(second.body.nextCursor).toBeNull();
    for (const query of ["?state=closed", "?limit=0", "?limit=101", "?cursor=nope", "?colour=red"]) {
      const response = await api("GET", `/api/backup/alerts${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body.error.code, query).toBe("validation_failed");
    }
    expect((await api("GET", "/api/backup/alerts", { token: null })).status).toBe(401);
  });
});
