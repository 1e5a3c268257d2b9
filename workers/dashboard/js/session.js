// The signed-in token: kept in session storage only (gone when the tab closes, never in the URL),
// with its scopes and expiry read from its claims. The server still checks every call; the scopes
// here only decide what the page offers.

const TOKEN_KEY = "r2-backup.token";
const MESSAGE_KEY = "r2-backup.sign-in-message";

/** The token's claims, or null when it is not a JWT. Signature is the server's business. */
export function claimsOf(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const json = atob(
      parts[1]
        .replace(/-/g, "+")
        .replace(/_/g, "/")
        .padEnd(Math.ceil(parts[1].length / 4) * 4, "="),
    );
    const claims = JSON.parse(json);
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

export function scopesOf(claims) {
  if (Array.isArray(claims.scopes)) return claims.scopes.map(String);
  return typeof claims.scope === "string" ? claims.scope.split(" ").filter(Boolean) : [];
}

export function currentSession() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  const claims = claimsOf(token);
  if (!claims) return null;
  return {
    token,
    subject: claims.sub ?? "unknown",
    scopes: scopesOf(claims),
    expiresAt: typeof claims.exp === "number" ? claims.exp * 1000 : null,
  };
}

/** Whether the session's token carries `scope` (admin carries every one). */
export function can(scope) {
  const session = currentSession();
  return Boolean(session && (session.scopes.includes(scope) || session.scopes.includes("backup:admin")));
}

export function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.removeItem(MESSAGE_KEY);
}

/** Forgets the token; `message` is shown on the sign-in page (why the session ended). */
export function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (message) sessionStorage.setItem(MESSAGE_KEY, message);
  else sessionStorage.removeItem(MESSAGE_KEY);
  window.dispatchEvent(new Event("session-ended"));
}

export function takeSignInMessage() {
  const message = sessionStorage.getItem(MESSAGE_KEY);
  sessionStorage.removeItem(MESSAGE_KEY);
  return message;
}
