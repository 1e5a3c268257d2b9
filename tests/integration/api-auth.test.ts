import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { mintToken } from "../helpers/tokens";

function base64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

describe("authentication", () => {
  it("serves /api/health without a token", async () => {
    expect(await api("GET", "/api/health", { token: null })).toEqual({ status: 200, body: { ok: true } });
  });

  const now = Math.floor(Date.now() / 1000);
  const cases: [string, () => Promise<string | null>, RegExp][] = [
    ["no token", async () => null, /Missing Authorization header/],
    ["garbage", async () => "not-a-jwt", /Malformed Authorization header/],
    [
      "an expired token",
      () => mintToken({ expiresInSeconds: -3600 }),
      /expired \(a token is accepted up to 60 s past its exp/,
    ],
    ["a token without exp", () => mintToken({ expiresInSeconds: null }), /`exp`/],
    [
      "a token signed with another secret",
      () => mintToken({ secret: "another-secret-that-is-also-32-chars-long!" }),
      /signature/,
    ],
    ["a token that is not yet valid", () => mintToken({ claims: { nbf: now + 3600 } }), /not yet valid/],
    [
      "a token issued an hour in the future",
      () => mintToken({ claims: { iat: now + 3600 } }),
      /issued in the future \(iat\), beyond the 60 s/,
    ],
    [
      "alg: none",
      async () =>
        `${base64url({ alg: "none", typ: "JWT" })}.${base64url({ sub: "mallory", scope: "backup:admin", exp: now + 600 })}.`,
      /algorithm|invalid/i,
    ],
    [
      "an HS512 token (algorithm not pinned)",
      async () => {
        const { SignJWT } = await import("jose");
        return new SignJWT({ scope: "backup:admin" })
          .setProtectedHeader({ alg: "HS512" })
          .setExpirationTime("10m")
          .sign(
            new TextEncoder().encode("test-secret-that-is-at-least-32-characters-long-test-secret-that-is-at-least-64"),
          );
      },
      /algorithm/,
    ],
  ];
  for (const [name, token, message] of cases) {
    it(`rejects ${name} with 401 in the contract's error format`, async () => {
      const response = await api("GET", "/api/backup/list", { token: await token() });
      expect(response.status).toBe(401);
      expect(response.body).toEqual({
        error: { code: "unauthorized", message: expect.stringMatching(message), details: {} },
      });
    });
  }

  it("accepts a token within the 60 s clock skew", async () => {
    const response = await api("GET", "/api/backup/list", {
      token: await mintToken({ scope: "backup:read", claims: { nbf: now + 30 } }),
    });
    expect(response.status).toBe(200);
    const issuedSoon = await api("GET", "/api/backup/list", {
      token: await mintToken({ scope: "backup:read", claims: { iat: now + 30 } }),
    });
    expect(issuedSoon.status).toBe(200);
  });
});

describe("scopes", () => {
  it("requires backup:write to create a backup", async () => {
    const response = await api("POST", "/api/backup/create", {
      body: { type: "full" },
      token: await mintToken({ scope: "backup:read" }),
    });
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: "forbidden", details: { requiredScope: "backup:write" } });
  });

  it("requires backup:read for GET endpoints, accepting it from a scopes array", async () => {
    expect((await api("GET", "/api/backup/list", { token: await mintToken({ scope: "backup:write" }) })).status).toBe(
      403,
    );
    expect(
      (
        await api("GET", "/api/backup/list", {
          token: await mintToken({ scope: "", claims: { scopes: ["backup:read"] } }),
        })
      ).status,
    ).toBe(200);
  });

  it("lets backup:admin do everything and records the subject as requestedBy", async () => {
    const response = await api("POST", "/api/backup/create", {
      body: { type: "full" },
      token: await mintToken({ scope: "backup:admin", sub: "alice" }),
    });
    expect(response.status).toBe(202);
    expect(response.body.backup.requestedBy).toBe("alice");
    const logs = await api("GET", `/api/backup/logs/${response.body.backup.id}`);
    expect(logs.body.logs[0]).toMatchObject({ eventType: "start", requestedBy: "alice" });
  });
});
