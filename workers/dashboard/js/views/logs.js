// A backup's log, oldest first, filtered by level, a page at a time.
import { api } from "../api.js";
import { field, h, notice, render } from "../dom.js";
import { time } from "../format.js";

export function logList(id) {
  const section = h("section", { class: "card", "aria-labelledby": "logs-title" });
  const list = h("ol", { class: "logs" });
  const footer = h("div");
  let level = "";
  let cursor = null;

  const levelSelect = h(
    "select",
    {
      name: "level",
      onchange: (event) => ((level = event.target.value), list.replaceChildren(), (cursor = null), more()),
    },
    ["", "info", "warn", "error"].map((l) => h("option", { value: l }, l || "all")),
  );

  async function more() {
    const query = new URLSearchParams({ limit: "100" });
    if (level) query.set("level", level);
    if (cursor) query.set("cursor", cursor);
    try {
      const page = await api("GET", `/backup/logs/${encodeURIComponent(id)}?${query}`);
      list.append(
        ...page.logs.map((log) =>
          h(
            "li",
            { class: `log ${log.level}` },
            h("time", { datetime: log.timestamp }, time(log.timestamp)),
            h("span", { class: `badge ${log.level}` }, log.level),
            " ",
            log.message,
          ),
        ),
      );
      cursor = page.nextCursor;
      render(
        footer,
        list.children.length === 0 ? notice("info", "No log entries at this level.") : null,
        cursor ? h("button", { type: "button", onclick: more }, "More") : null,
      );
    } catch (error) {
      render(footer, notice("error", error.message));
    }
  }

  render(
    section,
    h("h2", { id: "logs-title" }, "Log"),
    h("form", { class: "inline", onsubmit: (e) => e.preventDefault() }, field("Level", levelSelect)),
    list,
    footer,
  );
  more();
  return section;
}
