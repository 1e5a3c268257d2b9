import { SignJWT } from "jose";

export const TEST_SECRET = "test-secret-that-is-at-least-32-characters-long";

export interface TokenOptions {
  scope?: string;
  sub?: string;
  secret?: string;
  expiresInSeconds?: number | null;
  claims?: Record<string, unknown>;
}

export async function mintToken(options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ scope: options.scope ?? "backup:admin", ...options.claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(options.sub ?? "tester")
    // A test's own `iat` wins over the default (setIssuedAt would overwrite the claim).
    .setIssuedAt(typeof options.claims?.iat === "number" ? options.claims.iat : now);
  if (options.expiresInSeconds !== null) jwt.setExpirationTime(now + (options.expiresInSeconds ?? 600));
  return jwt.sign(new TextEncoder().encode(options.secret ?? TEST_SECRET));
}
