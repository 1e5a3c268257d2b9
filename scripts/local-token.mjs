// Signs an HS256 token with the local JWT_SECRET (the environment's, else .dev.vars'): for local
// development only (`npm run token`, `r2-backup token`, the scripts that drive a local server).
import { SignJWT } from "jose";
import { readDevVars } from "./dev-vars.mjs";

/** `ttl`: seconds from now, or an absolute `exp` (Unix seconds) when `expiresAt` is given. */
export async function signLocalToken({
  scope = "backup:admin",
  sub = "local-admin",
  ttl = 3600,
  expiresAt,
  iss,
  aud,
} = {}) {
  const secret = process.env.JWT_SECRET ?? readDevVars().JWT_SECRET;
  if (!secret) throw new Error("No JWT_SECRET in the environment or .dev.vars");
  const jwt = new SignJWT({ scope })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(expiresAt ?? `${ttl}s`);
  if (iss) jwt.setIssuer(iss);
  if (aud) jwt.setAudience(aud);
  return jwt.sign(new TextEncoder().encode(secret));
}
