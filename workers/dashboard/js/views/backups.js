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
    /** Per template: the newest completed snapshot's object count, once a running backup needs it. */
    references: new Map(),
    cursors: [null],
    page: 0,
  };
  const table = h("div", { "aria-live": "polite" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const message = h("div");

  const select = (name, options, value) =>
    h(
      "select",
      {
        name,
        onchange: (event) => ((state[name] = event.target.value), (state.cursors = [null]), (state.page = 0), load()),
      },
      options.map((option) =>
        h("option", { value: option, selected: option === value }, option === "" ? "all" : option.replace("_", " ")),
      ),
    );

  const startForm = can("backup:write")
    ? h(
        "form",
        { class: "inline", onsubmit: (event) => start(event) },
        field(
          "New backup type",
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
    const running = backups.filter((b) => RUNNING.has(b.status));
    // Asked for once per page view and template, and only when a progress bar needs it (not on
    // every refresh): a template's snapshot is no measure of a whole-bucket backup.
    for (const { template } of running) {
      if (!state.references.has(template)) state.references.set(template, await referenceSize(template));
    }
    state.cursors[state.page + 1] = nextCursor;
    render(table, backups.length === 0 ? notice("info", "No backups match.") : backupTable(backups, state.references));
    render(
      pager,
      h(
        "button",
        { type: "button", disabled: state.page === 0, onclick: () => ((state.page -= 1), load()) },
        "← Newer",
      ),
      h("span", {}, `Page ${state.page + 1}`),
      h("button", { type: "button", disabled: !nextCursor, onclick: () => ((state.page += 1), load()) }, "Older →"),
    );
    // Live progress: refresh while anything shown is running.
    view.refreshIf(running.length > 0, load);
  }

  render(
    main,
    h("header", { class: "page-head" }, h("h1", {}, "Backups"), startForm),
    message,
    h(
      "form",
      { class: "inline filters", "aria-label": "Filters" },
      field("Show status", select("status", STATUSES, state.status)),
      field("Show type", select("type", TYPES, state.type)),
      field("Show trigger", select("trigger", TRIGGERS, state.trigger)),
    ),
    table,
    pager,
  );
  load().catch((error) => render(table, notice("error", error.message)));
}

/** The template's newest completed snapshot's object count: what a running backup's progress is measured against. */
async function referenceSize(template) {
  const { backups } = await api(
    "GET",
    `/backup/list?status=completed&limit=1&template=${encodeURIComponent(template ?? "default")}`,
  );
  return backups[0]?.snapshotFileCount || null;
}

const COLUMNS = ["Backup", "Status", "Type", "Template", "Trigger", "Started", "Size", "Duration", "Throughput"];

function backupTable(backups, references) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      // On a phone each row is a card of labelled cells (style.css), never wider than the screen.
      { class: "stacked" },
      h("caption", { class: "visually-hidden" }, "Backups, newest first"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          COLUMNS.map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h(
        "tbody",
        {},
        backups.map((b) => backupRow(b, references.get(b.template) ?? null)),
      ),
    ),
  );
}

function backupRow(backup, reference) {
  const cells = [
    h("a", { href: `#/backups/${encodeURIComponent(backup.id)}` }, backup.id),
    [statusBadge(backup.status), RUNNING.has(backup.status) ? progressBar(backup, reference) : null],
    backup.type,
    backup.template ?? "default",
    backup.trigger,
    time(backup.startedAt ?? backup.backupDate),
    bytes(backup.snapshotSize || backup.progress.bytesProcessed),
    duration(backup.performance?.durationSeconds),
    rate(backup),
  ];
  return h(
    "tr",
    { dataset: { backupId: backup.id, status: backup.status } },
    cells.map((content, i) => h("td", { class: i >= 6 ? "num" : undefined, dataset: { label: COLUMNS[i] } }, content)),
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
