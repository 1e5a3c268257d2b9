// A browser of a backup's snapshot: the manifest lists keys in order, so a folder is a prefix and
// its subfolders are grouped from the keys under it. A folder's object count and size cover the
// keys loaded so far (a page is 1,000 keys; "load more" reads on), and say so while there are more.
import { api } from "../api.js";
import { h, notice, render, tableHead } from "../dom.js";
import { bytes, number, time } from "../format.js";
import { saveObject, showVersions } from "./object-actions.js";

const PAGE = 1000;

export function fileBrowser(backup) {
  const section = h("section", { class: "card", "aria-labelledby": "files-title" });
  // Outside what draw() replaces: a download's outcome and the versions panel stay while browsing.
  const status = h("div", { dataset: { testid: "object-status" } });
  const versions = h("div", { class: "versions-panel" });
  let prefix = "";
  let entries = [];
  let cursor = null;

  async function open(next) {
    prefix = next;
    entries = [];
    cursor = null;
    await more();
  }

  async function more() {
    const query = new URLSearchParams({ prefix, limit: String(PAGE) });
    if (cursor) query.set("cursor", cursor);
    try {
      const page = await api("GET", `/backup/files/${encodeURIComponent(backup.id)}?${query}`);
      entries = entries.concat(page.files);
      cursor = page.nextCursor;
      draw();
    } catch (error) {
      render(section, h("h2", { id: "files-title" }, "Files"), notice("error", error.message));
    }
  }

  function draw() {
    const { folders, files } = group(entries, prefix);
    const partial = cursor ? "≥ " : "";
    render(
      section,
      h("h2", { id: "files-title" }, "Files"),
      breadcrumbs(prefix, open),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "files" },
          h("caption", { class: "visually-hidden" }, `Contents of ${prefix || "the bucket"}`),
          tableHead(["Name", "Objects", "Size", "Modified", "Type", ""]),
          h(
            "tbody",
            {},
            folders.map((f) =>
              h(
                "tr",
                { class: "folder" },
                h(
                  "td",
                  {},
                  h("button", { type: "button", class: "link", onclick: () => open(f.prefix) }, `${f.name}/`),
                ),
                h("td", { class: "num" }, `${partial}${number(f.count)}`),
                h("td", { class: "num" }, `${partial}${bytes(f.size)}`),
                h("td", {}, ""),
                h("td", {}, ""),
                h("td", {}, ""),
              ),
            ),
            files.map((f) =>
              h(
                "tr",
                { class: "file" },
                h("td", { title: f.checksum }, f.path.slice(prefix.length)),
                h("td", { class: "num" }, ""),
                h("td", { class: "num" }, bytes(f.size)),
                h("td", {}, time(f.lastModified)),
                h("td", {}, f.contentType ?? ""),
                h(
                  "td",
                  { class: "actions" },
                  h(
                    "button",
                    {
                      type: "button",
                      "aria-label": `Download ${f.path}`,
                      onclick: () => saveObject(backup.id, f.path, status),
                    },
                    "Download",
                  ),
                  " ",
                  h(
                    "button",
                    {
                      type: "button",
                      "aria-label": `Versions of ${f.path}`,
                      onclick: () => showVersions(backup.bucketName, f.path, versions, status),
                    },
                    "Versions",
                  ),
                ),
              ),
            ),
          ),
        ),
      ),
      entries.length === 0 ? notice("info", "Nothing under this prefix.") : null,
      cursor && folders.length > 0
        ? h(
            "p",
            { class: "hint", dataset: { testid: "folder-figures" } },
            `Folder figures (≥) cover the ${number(entries.length)} keys loaded so far.`,
          )
        : null,
      cursor ? h("button", { type: "button", onclick: more }, `Load ${number(PAGE)} more`) : null,
      status,
      versions,
    );
  }

  open("");
  return section;
}

/** Folders (the next path segment under `prefix`, with counts and sizes) and the files directly in it. */
export function group(entries, prefix) {
  const folders = new Map();
  const files = [];
  for (const entry of entries) {
    const rest = entry.path.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash === -1) {
      files.push(entry);
      continue;
    }
    const name = rest.slice(0, slash);
    const folder = folders.get(name) ?? { name, prefix: `${prefix}${name}/`, size: 0, count: 0 };
    folder.size += entry.size;
    folder.count += 1;
    folders.set(name, folder);
  }
  return { folders: [...folders.values()], files };
}

function breadcrumbs(prefix, open) {
  const parts = prefix.split("/").filter(Boolean);
  return h(
    "nav",
    { class: "crumbs", "aria-label": "Folder" },
    h("button", { type: "button", class: "link", onclick: () => open("") }, "bucket"),
    parts.map((part, i) => [
      " / ",
      h("button", { type: "button", class: "link", onclick: () => open(`${parts.slice(0, i + 1).join("/")}/`) }, part),
    ]),
  );
}
