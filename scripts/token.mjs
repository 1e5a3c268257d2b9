#!/usr/bin/env node
// `npm run token -- --scope "backup:admin" [--sub NAME] [--ttl SECONDS]`: prints an HS256 token
// signed with the local JWT_SECRET from .dev.vars (or the JWT_SECRET environment variable).
import { scriptArgs } from "./script-args.mjs";
import { signLocalToken } from "./local-token.mjs";

const USAGE = `Usage: npm run token -- [options]
Prints a token signed with the local JWT_SECRET (.dev.vars): local development only.

  --scope SCOPES   space-separated scopes (default backup:admin)
  --sub NAME       the subject recorded as requestedBy (default local-admin)
  --ttl SECONDS    lifetime (default 3600)
  --iss ISSUER     the iss claim (when JWT_ISSUER is set)
  --aud AUDIENCE   the aud claim (when JWT_AUDIENCE is set)`;

const values = scriptArgs({
  usage: USAGE,
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
