// What the file browser offers for one object: download it as the backup holds it, and the panel
// of its versions across the kept backups, each downloadable. A download is read into a Blob
// (the API needs the session's token, so a plain link cannot fetch it) and saved under the key's
// file name; the CLI's `r2-backup get` streams very large objects to disk instead.
import { api, downloadObject } from "../api.js";
import { h, notice, render, tableHead } from "../dom.js";
import { bytes, time } from "../format.js";

/** Saves `key` of backup `backupId`, reporting in `status`. */
export async function saveObject(backupId, key, status) {
  render(status, notice("info", `Downloading ${key}…`));
  try {
    const blob = await downloadObject(backupId, key);
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: key.split("/").filter(Boolean).at(-1) ?? "download" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    render(status, notice("info", `Downloaded ${key} (${bytes(blob.size)}), checked against its SHA-256.`));
  } catch (error) {
    render(status, notice("error", error.message));
  }
}

/** The versions of `key` in the backups of `bucket`, newest first, in `panel`. */
export async function showVersions(bucket, key, panel, status) {
  render(panel, h("h3", {}, `Versions of ${key}`), notice("info", "Looking through the kept backups…"));
  try {
    const { versions } = await api("GET", `/backup/history?${new URLSearchParams({ key, bucket, limit: "100" })}`);
    render(
      panel,
      h("h3", {}, `Versions of ${key}`),
      versions.length === 0
        ? notice("info", "No kept backup holds this key.")
        : h(
            "table",
            { class: "versions", dataset: { testid: "versions" } },
            h("caption", { class: "visually-hidden" }, `Versions of ${key}, newest first`),
            tableHead(["Modified", "Size", "SHA-256", "In backups", "Deleted", ""]),
            h(
              "tbody",
              {},
              versions.map((v) =>
                h(
                  "tr",
                  {},
                  h("td", {}, time(v.lastModified)),
                  h("td", { class: "num" }, bytes(v.size)),
                  h("td", { title: v.checksum }, v.checksum.slice(0, 12)),
                  h(
                    "td",
                    {},
                    v.backupIds.length === 1
                      ? v.lastBackupId
                      : `${time(v.firstSeen)} – ${time(v.lastSeen)} (${v.backupIds.length} backups)`,
                  ),
                  h("td", {}, v.deletedAt ? time(v.deletedAt) : ""),
                  h(
                    "td",
                    {},
                    h("button", { type: "button", onclick: () => saveObject(v.lastBackupId, key, status) }, "Download"),
                  ),
                ),
              ),
            ),
          ),
    );
  } catch (error) {
    render(panel, h("h3", {}, `Versions of ${key}`), notice("error", error.message));
  }
}
