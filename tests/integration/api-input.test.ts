import { createExecutionContext, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../workers/index";
import { api } from "../helpers/api";
import { putObjects, variedObjects } from "../helpers/buckets";
import { runBackupToEnd } from "../helpers/jobs";
import { mintToken } from "../helpers/tokens";

async function backupCount(): Promise<number> {
  return (await env.DB.prepare("SELECT count(*) AS n FROM r2_backups").first<{ n: number }>())!.n;
}

describe("bad input", () => {
  const badBodies: [string, string, RegExp][] = [
    ["malformed JSON", '{"type": "full"', /Malformed JSON/],
    ["an unknown type", '{"type": "weekly"}', /type must be one of full, incremental, auto/],
    ["a wrongly typed field", '{"type": 1}', /type must be one of/],
    ["an unknown field", '{"type": "full", "force": true}', /unknown field: force/],
    ["an array", '["full"]', /JSON object/],
  ];
  for (const [name, rawBody, message] of badBodies) {
    it(`answers ${name} with 400 and starts nothing`, async () => {
      const response = await api("POST", "/api/backup/create", { rawBody });
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: "validation_failed", message: expect.stringMatching(message) });
      expect(await backupCount()).toBe(0);
    });
  }

  it("answers a body over the limit with 413", async () => {
    const response = await api("POST", "/api/backup/create", {
      rawBody: JSON.stringify({ type: "full", pad: "x".repeat(20_000) }),
    });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe("payload_too_large");
    expect(await backupCount()).toBe(0);
  });

  const badQueries = [
    "limit=0",
    "limit=101",
    "limit=abc",
    "status=done",
    "type=weekly",
    "cursor=%%%",
    "cursor=bm9wZQ",
    "sort=asc",
    "limit=5&limit=6",
  ];
  for (const query of badQueries) {
    it(`answers list?${query} with 400`, async () => {
      const response = await api("GET", `/api/backup/list?${query}`);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe("validation_failed");
    });
  }

  it("answers log queries with a bad level or limit with 400", async () => {
    const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
    for (const query of ["level=debug", "limit=1001", "cursor=zz"]) {
      expect((await api("GET", `/api/backup/logs/${created.body.backup.id}?${query}`)).status).toBe(400);
    }
  });

  it("answers an unknown backup id with 404", async () => {
    for (const path of [
      "/api/backup/status/bk-20260101T000000Z-00000000",
      "/api/backup/logs/nope",
      `/api/backup/status/${"x".repeat(300)}`,
    ]) {
      const response = await api("GET", path);
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe("not_found");
    }
  });

  it("answers an unknown endpoint with 404 and a wrong method with 405", async () => {
    expect((await api("GET", "/api/nothing")).status).toBe(404);
    expect((await api("DELETE", "/api/backup/list")).status).toBe(405);
  });
});

describe("one backup per bucket", () => {
  it("answers a concurrent create with 409 naming the running backup", async () => {
    const [first, second] = await Promise.all([
      api("POST", "/api/backup/create", { body: { type: "full" } }),
      api("POST", "/api/backup/create", { body: { type: "full" } }),
    ]);
    const statuses = [first.status, second.status].sort();
    expect(statuses).toEqual([202, 409]);
    const winner = first.status === 202 ? first : second;
    const loser = first.status === 202 ? second : first;
    expect(loser.body.error).toMatchObject({ code: "conflict", details: { backupId: winner.body.backup.id } });
    expect(loser.body.error.message).toContain(winner.body.backup.id);
    expect(await backupCount()).toBe(1);
  });

  it("accepts a new backup once the running one finished", async () => {
    const first = await api("POST", "/api/backup/create", { body: { type: "full" } });
    await runBackupToEnd(first.body.backup.id);
    expect((await api("POST", "/api/backup/create", { body: { type: "full" } })).status).toBe(202);
  });
});

describe("listing", () => {
  it("lists newest first with status and type filters and cursor pagination", async () => {
    await putObjects(variedObjects(12));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
      ids.push(created.body.backup.id);
      await runBackupToEnd(created.body.backup.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { backups: { id: string }[]; nextCursor: string | null } } = await api(
        "GET",
        `/api/backup/list?limit=2${cursor ? `&cursor=${cursor}` : ""}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.backups.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.backups.map((b) => b.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    expect(
      (await api("GET", "/api/backup/list?status=completed&limit=1")).body.backups.map((b: { id: string }) => b.id),
    ).toEqual([ids[4]]);
    expect((await api("GET", "/api/backup/list?status=failed")).body).toEqual({ backups: [], nextCursor: null });
    expect((await api("GET", "/api/backup/list?type=full")).body.backups).toHaveLength(5);
  });

  it("pages a backup's logs and filters them by minimum level", async () => {
    await putObjects(variedObjects(250));
    const created = await api("POST", "/api/backup/create", { body: { type: "full" } });
    const id = created.body.backup.id;
    await runBackupToEnd(id);
    const first = await api("GET", `/api/backup/logs/${id}?limit=2`);
    expect(first.body.logs.map((l: { eventType: string }) => l.eventType)).toEqual(["start", "progress"]);
    const second = await api("GET", `/api/backup/logs/${id}?limit=10&cursor=${first.body.nextCursor}`);
    expect(second.body.logs.map((l: { eventType: string }) => l.eventType)).toEqual([
      "progress",
      "progress",
      "complete",
    ]);
    expect(second.body.nextCursor).toBeNull();
    expect((await api("GET", `/api/backup/logs/${id}?level=warn`)).body.logs).toEqual([]);
  });
});

describe("configuration", () => {
  async function callWith(overrides: Record<string, unknown>) {
    const request = new Request("http://backup.test/api/backup/list", {
      headers: { authorization: `Bearer ${await mintToken()}` },
    });
    const response = await worker.fetch(
      request as Request<unknown, IncomingRequestCfProperties>,
      { ...env, ...overrides } as Env,
      createExecutionContext(),
    );
    return {
      status: response.status,
      body: (await response.json()) as { error: { code: string; message: string; details: { variables: string[] } } },
    };
  }

  it("fails every request with an error naming a bad variable", async () => {
    const { status, body } = await callWith({ BACKUP_RETENTION_DAYS: "abc" });
    expect(status).toBe(500);
    expect(body.error.code).toBe("configuration_invalid");
    expect(body.error.message).toMatch(/BACKUP_RETENTION_DAYS must be a whole number/);
    expect(body.error.details.variables).toEqual(["BACKUP_RETENTION_DAYS"]);
  });

  it("names a missing JWT_SECRET", async () => {
    const { body } = await callWith({ JWT_SECRET: undefined });
    expect(body.error.message).toMatch(/JWT_SECRET is required/);
  });
});
