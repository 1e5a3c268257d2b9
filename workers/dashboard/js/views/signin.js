// Sign in by pasting a token (`npm run token -- --scope backup:admin` prints one locally).
import { field, h, notice, render } from "../dom.js";
import { claimsOf, signIn, takeSignInMessage } from "../session.js";

export function signInView(main) {
  const message = takeSignInMessage();
  const input = h("textarea", {
    name: "token",
    rows: 4,
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "token-hint",
  });
  const status = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card narrow", onsubmit: (event) => submit(event, input, status) },
    h("h1", {}, "Sign in"),
    message ? notice("warning", message) : null,
    field("API token (JWT)", input),
    h(
      "p",
      { id: "token-hint", class: "hint" },
      "Kept in this tab's session storage only. Locally, ",
      h("code", {}, "npm run token -- --scope backup:admin"),
      " prints one.",
    ),
    h("p", {}, h("button", { type: "submit" }, "Sign in")),
    status,
  );
  main.replaceChildren(form);
  input.focus();
}

async function submit(event, input, status) {
  event.preventDefault();
  const token = input.value.trim();
  const claims = claimsOf(token);
  if (!claims) return render(status, notice("error", "That is not a JWT: three base64url parts separated by dots."));
  if (typeof claims.exp === "number" && claims.exp * 1000 <= Date.now())
    return render(status, notice("error", "That token has expired."));
  // Tried once before it is kept, so a refused token never becomes the session.
  let response;
  try {
    response = await fetch("/api/backup/list?limit=1", {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(20_000),
    });
  } catch (error) {
    return render(status, notice("error", `The server did not answer: ${error.message}`));
  }
  if (response.ok) {
    signIn(token);
    // A new hash routes by itself; the same one needs telling.
    if (location.hash !== "#/backups") location.hash = "#/backups";
    else window.dispatchEvent(new Event("session-started"));
    return;
  }
  const reason = (await response.json().catch(() => null))?.error?.message ?? `HTTP ${response.status}`;
  if (response.status === 403)
    return render(status, notice("error", "The token is valid but lacks the backup:read scope the dashboard needs."));
  render(status, notice("error", `The server refused the token: ${reason}`));
}
