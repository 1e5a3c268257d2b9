// The dashboard's shell: hash routes (#/backups, #/backups/ID, #/health), the signed-in header,
// the end of a session when its token expires, and timers that stop when the page changes.
import { h, notice, render } from "./dom.js";
import { currentSession, signOut } from "./session.js";
import { backupView } from "./views/backup.js";
import { backupsView } from "./views/backups.js";
import { healthView } from "./views/health.js";
import { signInView } from "./views/signin.js";

const main = document.getElementById("main");
const header = document.getElementById("session");
const REFRESH_MS = 2000;

let timers = [];

/** What a view may ask of the shell: its query parameters and refreshes that end with the view. */
function viewContext(params) {
  return {
    params,
    /** Calls `load` again in a moment when `condition` holds (live progress). */
    refreshIf(condition, load) {
      if (!condition) return;
      timers.push(setTimeout(() => load().catch(() => {}), REFRESH_MS));
    },
    refreshEvery(ms, load) {
      timers.push(setInterval(() => load().catch(() => {}), ms));
    },
  };
}

function route() {
  for (const timer of timers) (clearTimeout(timer), clearInterval(timer));
  timers = [];
  const session = currentSession();
  drawHeader(session);
  if (!session) return signInView(main);
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const view = viewContext(new URLSearchParams(query));
  const backup = /^\/backups\/([^/]+)$/.exec(path);
  document
    .querySelectorAll("nav.main a")
    .forEach((a) => a.toggleAttribute("aria-current", path.startsWith(a.getAttribute("href").slice(1))));
  if (backup) {
    const id = decodedOrNull(backup[1]);
    return id === null ? notFoundView(path) : backupView(main, view, id);
  }
  if (path === "/health") return healthView(main, view);
  if (path === "/backups") return backupsView(main, view);
  // Only the bare address goes to the list; any other address is said to be unknown.
  if (path !== "" && path !== "/") return notFoundView(path);
  history.replaceState(null, "", "#/backups");
  return backupsView(main, view);
}

/** A hash typed or pasted by hand may not be valid percent-encoding ("%E0%A4%A"). */
function decodedOrNull(component) {
  try {
    return decodeURIComponent(component);
  } catch {
    return null;
  }
}

function notFoundView(path) {
  render(
    main,
    h(
      "section",
      { class: "card narrow", dataset: { testid: "not-found" } },
      h("h1", {}, "Not found"),
      notice("warning", `There is no page at #${path}.`),
      h("p", {}, h("a", { href: "#/backups" }, "← Back to the backups")),
    ),
  );
}

function drawHeader(session) {
  if (!session) return render(header);
  render(
    header,
    h("span", { class: "who" }, `${session.subject} · ${session.scopes.join(" ") || "no scopes"}`),
    h("button", { type: "button", onclick: () => signOut("Signed out.") }, "Sign out"),
  );
}

// A token that expires while the page is open ends the session with a message.
setInterval(() => {
  const session = currentSession();
  if (session?.expiresAt && session.expiresAt <= Date.now())
    signOut("Your token expired: paste a new one to continue.");
}, 5000);

window.addEventListener("hashchange", route);
window.addEventListener("session-ended", route);
window.addEventListener("session-started", route);
route();
