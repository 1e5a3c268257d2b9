#!/usr/bin/env node
// `npm run token -- --scope "backup:admin" [--sub NAME] [--ttl SECONDS]`: prints an HS256 token
// signed with the local JWT_SECRET from .dev.vars (or the JWT_SECRET environment variable).
import { parseArgs } from "node:util";
import { signLocalToken } from "./local-token.mjs";

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
try {
  console.log(await signLocalToken({ scope: values.scope, sub: values.sub, ttl, iss: values.iss, aud: values.aud }));
} catch (error) {
  console.error(error.message);
  process.exit(2);
}
