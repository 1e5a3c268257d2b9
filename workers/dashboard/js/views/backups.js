// The backups list: filters, paging, live progress of running backups, and "start a backup".
import { api } from "../api.js";
import { field, h, notice, render } from "../dom.js";
import { bytes, duration, number, rate, RUNNING, time } from "../format.js";
import { can } from "../session.js";

const STATUSES = ["", "pending", "in_progress", "completed", "partial", "failed", "cancelled", "expired"];
const TYPES = ["", "full", "incremental"];
const TRIGGERS = ["", "api", "cron", "event"];
const PAGE_SIZE = 20;

export function backupsView(main, view) {
  const state = {
    status: view.params.get("status") ?? "",
    type: view.params.get("type") ?? "",
    trigger: view.params.get("trigger") ?? "",
    /** The newest completed snapshot's object count, once a running backup needs it. */
    reference: undefined,
    cursors: [null],
    page: 0,
  };
  const table = h("div", { "aria-live": "polite" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const message = h("div");

  const select = (name, options, value) =>
    h(
      "select",
      { name, onchange: (event) => ((state[name] = event.target.value), (state.cursors = [null]), (state.page = 0), load()) },
      options.map((option) => h("option", { value: option, selected: option === value }, option === "" ? "any" : option.replace("_", " "))),
    );

  const startForm = can("backup:write")
    ? h(
        "form",
        { class: "inline", onsubmit: (event) => start(event) },
        field(
          "Type",
          h(
            "select",
            { name: "type" },
            ["auto", "full", "incremental"].map((t) => h("option", { value: t }, t)),
          ),
        ),
        h("button", { type: "submit" }, "Start backup"),
      )
    : null;

  async function start(event) {
    event.preventDefault();
    const type = new FormData(event.target).get("type");
    try {
      const { backup } = await api("POST", "/backup/create", { type });
      render(message, notice("success", `Backup ${backup.id} (${backup.type}) started.`));
      state.cursors = [null];
      state.page = 0;
      await load();
    } catch (error) {
      render(message, notice("error", error.message));
    }
  }

  async function load() {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.status) query.set("status", state.status);
    if (state.type) query.set("type", state.type);
    if (state.trigger) query.set("trigger", state.trigger);
    const cursor = state.cursors[state.page];
    if (cursor) query.set("cursor", cursor);
    const { backups, nextCursor } = await api("GET", `/backup/list?${query}`);
    const running = backups.some((b) => RUNNING.has(b.status));
    // Asked for once per page view, and only when a progress bar needs it (not on every refresh).
    if (running) state.reference ??= await referenceSize();
    const reference = state.reference ?? null;
    state.cursors[state.page + 1] = nextCursor;
    render(table, backups.length === 0 ? notice("info", "No backups match.") : backupTable(backups, reference));
    render(
      pager,
      h("button", { type: "button", disabled: state.page === 0, onclick: () => ((state.page -= 1), load()) }, "← Newer"),
      h("span", {}, `Page ${state.page + 1}`),
      h("button", { type: "button", disabled: !nextCursor, onclick: () => ((state.page += 1), load()) }, "Older →"),
    );
    // Live progress: refresh while anything shown is running.
    view.refreshIf(running, load);
  }

  render(
    main,
    h("header", { class: "page-head" }, h("h1", {}, "Backups"), startForm),
    message,
    h(
      "form",
      { class: "inline filters", "aria-label": "Filters" },
      field("Status", select("status", STATUSES, state.status)),
      field("Type", select("type", TYPES, state.type)),
      field("Trigger", select("trigger", TRIGGERS, state.trigger)),
    ),
    table,
    pager,
  );
  load().catch((error) => render(table, notice("error", error.message)));
}

/** The newest finished snapshot's object count: what a running backup's progress is measured against. */
async function referenceSize() {
  const { backups } = await api("GET", "/backup/list?status=completed&limit=1");
  return backups[0]?.snapshotFileCount ?? null;
}

function backupTable(backups, reference) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, "Backups, newest first"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Backup", "Status", "Type", "Trigger", "Started", "Size", "Duration", "Throughput"].map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h(
        "tbody",
        {},
        backups.map((b) => backupRow(b, reference)),
      ),
    ),
  );
}

function backupRow(backup, reference) {
  return h(
    "tr",
    { dataset: { backupId: backup.id, status: backup.status } },
    h("td", {}, h("a", { href: `#/backups/${encodeURIComponent(backup.id)}` }, backup.id)),
    h("td", {}, statusBadge(backup.status), RUNNING.has(backup.status) ? progressBar(backup, reference) : null),
    h("td", {}, backup.type),
    h("td", {}, backup.trigger),
    h("td", {}, time(backup.startedAt ?? backup.backupDate)),
    h("td", { class: "num" }, bytes(backup.snapshotSize || backup.progress.bytesProcessed)),
    h("td", { class: "num" }, duration(backup.performance?.durationSeconds)),
    h("td", { class: "num" }, rate(backup)),
  );
}

export function statusBadge(status) {
  return h("span", { class: `badge ${status}` }, status.replace("_", " "));
}

/**
 * A running backup does not know its total until it has listed the bucket: progress is shown
 * against the newest completed snapshot's size, capped below 100 % until it ends.
 */
export function progressBar(backup, reference) {
  const done = backup.progress.filesProcessed;
  const label = `${number(done)} objects, ${bytes(backup.progress.bytesProcessed)} read${backup.progress.phase ? ` (${backup.progress.phase})` : ""}`;
  if (!reference) return h("div", { class: "progress" }, h("progress", { "aria-label": label }), h("small", {}, label));
  const percent = Math.min(99, Math.round((100 * done) / reference));
  return h(
    "div",
    { class: "progress" },
    h("progress", { max: 100, value: percent, "aria-label": `${label}, about ${percent} %` }),
    h("small", {}, `≈ ${percent} % · ${label}`),
  );
}
