/**
 * The audit trail: every mutating call and every scheduled run is recorded with who, what, the
 * outcome and when; GET /api/backup/audit (admin) pages it, filtered by actor, action and time.
 */
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../workers/index";
import { api } from "../helpers/api";
import { emptyBucket, putObjects } from "../helpers/buckets";
import { completedBackup } from "../helpers/flows";
import { runBackupToEnd } from "../helpers/jobs";
import { mintToken } from "../helpers/tokens";

interface AuditEvent {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  status: number | null;
  detail: string | null;
}

const audit = async (query = "") =>
  (await api("GET", `/api/backup/audit${query}`)).body as { events: AuditEvent[]; nextCursor: string | null };

describe("audit trail", () => {
  it("records every mutating call with its actor, target and outcome, refusals included, and pages them newest first", async () => {
    await env.DB.prepare("DELETE FROM audit_events").run();
    await emptyBucket(env.R2_BUCKET);
    await putObjects([{ key: "a.txt", body: "A" }]);
    const started = new Date().toISOString();
    const backup = await completedBackup("full"); // by "tester" (admin)
    const reader = await mintToken({ sub: "reader", scope: "backup:read" });
    expect((await api("POST", `/api/backup/restore/${backup.id}`, { body: {}, token: reader })).status).toBe(403);
    expect((await api("POST", `/api/backup/verify/${backup.id}`, { body: { mode: "sideways" } })).status).toBe(400);
    const operator = await mintToken({ sub: "operator", scope: "backup:write" });
    const verify = await api("POST", `/api/backup/verify/${backup.id}`, { body: { mode: "quick" }, token: operator });
    expect(verify.status).toBe(202);
    expect((await api("POST", "/api/backup/create", { body: { type: "full" }, token: null })).status).toBe(401); // no actor: not recorded

    const { events } = await audit();
    expect(events.map((e) => [e.actor, e.action, e.target, e.outcome, e.status])).toEqual([
      ["operator", "backup.verify", verify.body.job.id, "accepted", 202],
      ["tester", "backup.verify", backup.id, "refused", 400],
      ["reader", "backup.restore", backup.id, "refused", 403],
      ["tester", "backup.create", backup.id, "accepted", 202],
    ]);
    expect(events[1]!.detail).toMatch(/^validation_failed: /);
    expect(events.every((e) => e.at >= started)).toBe(true);

    // Filters and paging.
    expect((await audit("?actor=operator")).events.map((e) => e.action)).toEqual(["backup.verify"]);
    expect((await audit("?action=backup.restore")).events.map((e) => e.actor)).toEqual(["reader"]);
    expect((await audit(`?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).events).toEqual(
      [],
    );
    expect((await audit(`?to=${encodeURIComponent(new Date(Date.parse(started) - 1).toISOString())}`)).events).toEqual(
      [],
    );
    const first = await audit("?limit=3");
    expect(first.events).toHaveLength(3);
    const rest = await audit(`?limit=3&cursor=${first.nextCursor}`);
    expect(rest).toMatchObject({ events: [expect.objectContaining({ action: "backup.create" })], nextCursor: null });
  });

  it("is admin-only, and refuses bad filters", async () => {
    const reader = await mintToken({ scope: "backup:read" });
    expect((await api("GET", "/api/backup/audit", { token: reader })).status).toBe(403);
    for (const query of [
      "?action=backup.explode",
      "?from=yesterday",
      "?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
      "?limit=0",
      "?cursor=xyz",
      "?who=me",
    ]) {
      const response = await api("GET", `/api/backup/audit${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body.error.code, query).toBe("validation_failed");
    }
    expect((await api("POST", "/api/backup/audit")).status).toBe(405);
  });

  it("records every scheduled run: what it started, that it waits and behind what, or that it missed its slot", async () => {
    await env.DB.prepare("DELETE FROM audit_events").run();
    await emptyBucket(env.R2_BUCKET);
    await putObjects([{ key: "b.txt", body: "B" }]);
    const fireCron = async () => {
      const ctx = createExecutionContext();
      await worker.scheduled(
        createScheduledController({ cron: "0 * * * *", scheduledTime: Date.parse("2026-12-01T02:00:00Z") }),
        env,
        ctx,
      );
      await waitOnExecutionContext(ctx);
    };
    await fireCron();
    await fireCron(); // the first backup is still running: this run waits
    await fireCron(); // ...and this one finds it still waiting: missed
    const { events } = await audit("?actor=cron");
    const [missed, queued, ran] = events;
    expect(ran).toMatchObject({
      action: "schedule.run",
      outcome: "accepted",
      status: null,
      detail: "cron 0 * * * * (daily): started a full backup",
    });
    expect(queued).toMatchObject({
      action: "schedule.run",
      outcome: "accepted",
      detail: `cron 0 * * * * (daily): queued behind backup ${ran!.target}; it starts when the bucket is free`,
      target: ran!.target,
    });
    expect(missed).toMatchObject({
      action: "schedule.run",
      outcome: "skipped",
      detail: `cron 0 * * * * (daily): skipped, the previous scheduled run still waits behind backup ${ran!.target}: this slot is missed`,
    });
    // ...and the running backup's log says so.
    const logs = await env.DB.prepare(
      "SELECT level, message FROM backup_logs WHERE backup_id = ? AND event_key LIKE '%:schedule-%' ORDER BY id",
    )
      .bind(ran!.target)
      .all();
    expect(logs.results).toEqual([
      { level: "warn", message: "The scheduled backup of 2026-12-01T02:00:00.000Z waits for this backup to end." },
      {
        level: "warn",
        message:
          "The scheduled backup of 2026-12-01T02:00:00.000Z was missed: the previous scheduled run still waits for this backup to end.",
      },
    ]);
    await runBackupToEnd(ran!.target!);
  });
});
