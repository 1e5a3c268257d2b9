#!/usr/bin/env node
// `npm run token -- --scope "backup:admin" [--sub NAME] [--ttl SECONDS]`: prints an HS256 token
// signed with the local JWT_SECRET from .dev.vars (or the JWT_SECRET environment variable).
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { readDevVars } from "./dev-vars.mjs";

const { values } = parseArgs({
  options: {
    scope: { type: "string", default: "backup:admin" },
    sub: { type: "string", default: "local-admin" },
    ttl: { type: "string", default: "3600" },
    iss: { type: "string" },
    aud: { type: "string" },
  },
});
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) {
  console.error("--ttl must be a positive whole number of seconds");
  process.exit(2);
}
const secret = process.env.JWT_SECRET ?? readDevVars().JWT_SECRET;
if (!secret) {
  console.error("No JWT_SECRET in the environment or .dev.vars");
  process.exit(2);
}
const jwt = new SignJWT({ scope: values.scope })
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setSubject(values.sub)
  .setIssuedAt()
  .setExpirationTime(`${ttl}s`);
if (values.iss) jwt.setIssuer(values.iss);
if (values.aud) jwt.setAudience(values.aud);
console.log(await jwt.sign(new TextEncoder().encode(secret)));
