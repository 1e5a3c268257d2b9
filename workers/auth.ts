/**
 * Bearer-token authentication and scope checks, as the API contract pins them: HS256 with
 * JWT_SECRET, or RS256/ES256/EdDSA against JWT_JWKS_URL; `exp` required; 60 s of clock skew;
 * issuer and audience checked when configured.
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { Config } from "../durable-objects/engine/settings/config";
import { HttpError } from "./http-error";

export const SCOPES = ["backup:read", "backup:write", "backup:restore", "backup:admin"] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  subject: string;
  scopes: ReadonlySet<string>;
}

const SYMMETRIC_ALGORITHMS = ["HS256"];
const ASYMMETRIC_ALGORITHMS = ["RS256", "ES256", "EdDSA"];
const CLOCK_SKEW_SECONDS = 60;

const remoteKeySets = new Map<string, JWTVerifyGetKey>();

function remoteKeySet(url: string): JWTVerifyGetKey {
  let keySet = remoteKeySets.get(url);
  if (!keySet) {
    keySet = createRemoteJWKSet(new URL(url));
    remoteKeySets.set(url, keySet);
  }
  return keySet;
}

const unauthorized = (message: string) => new HttpError(401, "unauthorized", message);

export async function authenticate(request: Request, config: Config): Promise<Principal> {
  const header = request.headers.get("authorization");
  if (!header) throw unauthorized("Missing Authorization header: send `Authorization: Bearer <token>`.");
  const match = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)\s*$/i.exec(header);
  if (!match) throw unauthorized("Malformed Authorization header: expected `Bearer <JWT>`.");
  const token = match[1]!;

  const options = {
    requiredClaims: ["exp"],
    clockTolerance: CLOCK_SKEW_SECONDS,
    ...(config.JWT_ISSUER ? { issuer: config.JWT_ISSUER } : {}),
    ...(config.JWT_AUDIENCE ? { audience: config.JWT_AUDIENCE } : {}),
  };
  let payload: JWTPayload;
  try {
    if (config.JWT_JWKS_URL) {
      ({ payload } = await jwtVerify(token, remoteKeySet(config.JWT_JWKS_URL), {
        ...options,
        algorithms: ASYMMETRIC_ALGORITHMS,
      }));
    } else {
      const secret = new TextEncoder().encode(config.JWT_SECRET);
      ({ payload } = await jwtVerify(token, secret, { ...options, algorithms: SYMMETRIC_ALGORITHMS }));
    }
  } catch (error) {
    throw unauthorized(describeVerificationFailure(error));
  }
  // jose checks `iat` only against a maximum age; the contract honours it like `nbf`. Token times
  // are the issuer's wall clock, so they are compared with the runtime's, never the engine's.
  if (typeof payload.iat === "number" && payload.iat > Date.now() / 1000 + CLOCK_SKEW_SECONDS) {
    throw unauthorized(
      `Token is not yet valid: it was issued in the future (iat), beyond the ${CLOCK_SKEW_SECONDS} s allowed for clock skew.`,
    );
  }
  return {
    subject: typeof payload.sub === "string" && payload.sub !== "" ? payload.sub : "unknown",
    scopes: scopesOf(payload),
  };
}

function describeVerificationFailure(error: unknown): string {
  if (error instanceof errors.JWTExpired)
    return `Token has expired (a token is accepted up to ${CLOCK_SKEW_SECONDS} s past its exp, for clock skew).`;
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "exp") return "Token must carry an `exp` claim.";
    if (error.claim === "nbf" || error.claim === "iat") return "Token is not yet valid.";
    if (error.claim === "iss") return "Token issuer is not accepted.";
    if (error.claim === "aud") return "Token audience is not accepted.";
    return `Token claim \`${error.claim}\` is invalid.`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return "Token algorithm is not accepted.";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "Token signature is invalid.";
  if (error instanceof errors.JWKSNoMatchingKey) return "No key matches the token.";
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    console.error("JWKS unavailable", error);
    return "Token could not be verified: the key set is unavailable.";
  }
  return "Token is malformed or invalid.";
}

function scopesOf(payload: JWTPayload): Set<string> {
  const scopes = new Set<string>();
  if (typeof payload.scope === "string") for (const s of payload.scope.split(" ")) if (s) scopes.add(s);
  if (Array.isArray(payload.scopes)) for (const s of payload.scopes) if (typeof s === "string" && s) scopes.add(s);
  return scopes;
}

/** `backup:admin` allows everything; any other scope allows only what it names. */
export function requireScope(principal: Principal, scope: Scope): void {
  if (principal.scopes.has(scope) || principal.scopes.has("backup:admin")) return;
  throw new HttpError(403, "forbidden", `This endpoint requires the \`${scope}\` scope.`, { requiredScope: scope });
}
