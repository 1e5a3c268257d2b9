/**
 * Without BACKUP_DEV_ROUTES (as in production) the local-development routes do not exist: 404 for
 * each, in the contract's format, and nothing written, fired or deleted.
 */
import { env } from "cloudflare:test";
import { expect, it } from "vitest";
import { api } from "../helpers/api";

it("answers every /api/dev route with 404 and does nothing", async () => {
  for (const [path, body] of [
    ["/api/dev/source-writes", { writes: [{ key: "a.txt", content: "x" }] }],
    ["/api/dev/cron", { time: new Date().toISOString() }],
    ["/api/dev/damage", { backupId: "bk-20260101T000000Z-00000000" }],
  ] as const) {
    const response = await api("POST", path, { body });
    expect([path, response.status, response.body.error?.code]).toEqual([path, 404, "not_found"]);
  }
  expect((await env.R2_BUCKET.list()).objects).toEqual([]);
  expect(
    (await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE actor = 'cron'").first<{ n: number }>())!.n,
  ).toBe(0);
});
