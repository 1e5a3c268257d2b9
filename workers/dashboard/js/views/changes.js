// What changed since a backup's parent (GET /backup/diff), a page at a time: added, modified and
// deleted keys with their sizes before and after. The server compares the two manifests' trees,
// so a small change between large snapshots is quick to show.
import { api } from "../api.js";
import { h, notice, render } from "../dom.js";
import { bytes } from "../format.js";

const PAGE = 100;

export function changesSinceParent(backup) {
  const section = h("section", { class: "card", "aria-labelledby": "changes-title", dataset: { testid: "changes" } });
  const rows = h("tbody");
  const footer = h("div");
  let cursor = null;

  async function more() {
    const query = new URLSearchParams({ from: backup.parentId, to: backup.id, limit: String(PAGE) });
    if (cursor) query.set("cursor", cursor);
    try {
      const page = await api("GET", `/backup/diff?${query}`);
      rows.append(
        ...page.changes.map((c) =>
          h(
            "tr",
            { dataset: { change: c.change } },
            h("td", {}, h("span", { class: `badge change-${c.change}` }, c.change)),
            h("td", { class: "path" }, c.path),
            h("td", { class: "num" }, c.before ? bytes(c.before.size) : "–"),
            h("td", { class: "num" }, c.after ? bytes(c.after.size) : "–"),
          ),
        ),
      );
      cursor = page.nextCursor;
      render(
        footer,
        rows.children.length === 0 ? notice("info", "Nothing changed since the parent backup.") : null,
        cursor ? h("button", { type: "button", onclick: more }, `Load ${PAGE} more`) : null,
      );
    } catch (error) {
      render(footer, notice("error", error.message));
    }
  }

  render(
    section,
    h("h2", { id: "changes-title" }, "Changes since the parent"),
    h(
      "p",
      { class: "hint" },
      "From ",
      h("a", { href: `#/backups/${encodeURIComponent(backup.parentId)}` }, backup.parentId),
      ": keys added, modified (content or metadata) and deleted.",
    ),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "changes" },
        h("caption", { class: "visually-hidden" }, "Changes since the parent backup"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Change", "Path", "Before", "After"].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        rows,
      ),
    ),
    footer,
  );
  more();
  return section;
}
