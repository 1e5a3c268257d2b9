import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { authenticate, requireScope } from "../../workers/auth";
import { parseConfig } from "../../durable-objects/engine/settings/config";

const secret = "unit-secret-that-is-at-least-32-characters";
const config = parseConfig({ JWT_SECRET: secret, JWT_ISSUER: "https://auth.cutty.example", JWT_AUDIENCE: "r2-backup" });

async function token(claims: { iss?: string; aud?: string; scope?: string }) {
  const jwt = new SignJWT({ scope: claims.scope ?? "backup:read" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("carol")
    .setExpirationTime("5m");
  if (claims.iss) jwt.setIssuer(claims.iss);
  if (claims.aud) jwt.setAudience(claims.aud);
  return jwt.sign(new TextEncoder().encode(secret));
}
const request = (jwt: string) =>
  new Request("http://x/api/backup/list", { headers: { authorization: `Bearer ${jwt}` } });

describe("issuer and audience", () => {
  it("accepts the configured issuer and audience", async () => {
    const principal = await authenticate(
      request(await token({ iss: "https://auth.cutty.example", aud: "r2-backup" })),
      config,
    );
    expect(principal.subject).toBe("carol");
    expect(() => requireScope(principal, "backup:read")).not.toThrow();
    expect(() => requireScope(principal, "backup:restore")).toThrow(/backup:restore/);
  });

  it.each([
    [{ iss: "https://evil.example", aud: "r2-backup" }, /issuer/],
    [{ iss: "https://auth.cutty.example", aud: "someone-else" }, /audience/],
    [{ aud: "r2-backup" }, /issuer|iss/],
  ])("rejects %o", async (claims, message) => {
    await expect(authenticate(request(await token(claims)), config)).rejects.toMatchObject({
      status: 401,
      message: expect.stringMatching(message),
    });
  });
});
