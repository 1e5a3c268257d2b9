// The restore form: filters, a target prefix and the overwrite choice; a dry run previews what
// would be written, and only a previewed form can be run.
import { field, h, notice } from "../dom.js";
import { bytes, number } from "../format.js";
import { previewGate } from "./preview-gate.js";

const PREVIEW_SHOWN = 50;

export function restoreForm(backup) {
  const input = (name, attributes = {}) => h("input", { name, ...attributes });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "restore-title" },
    h("h2", { id: "restore-title" }, "Restore"),
    h(
      "div",
      { class: "grid" },
      field("Only keys under (prefix)", input("pathPrefix", { placeholder: "documents/" })),
      field("Only extensions", input("extensions", { placeholder: "pdf, csv" }), "comma-separated"),
      field("Modified on or after", input("since", { type: "date" })),
      field("Modified on or before", input("until", { type: "date" })),
      field(
        "Restore under (target prefix)",
        input("targetPrefix", { placeholder: "restored/" }),
        "empty: the original keys",
      ),
    ),
    h(
      "label",
      { class: "check" },
      input("overwriteExisting", { type: "checkbox" }),
      " Overwrite objects that exist (otherwise they are skipped)",
    ),
    h(
      "label",
      { class: "check" },
      input("verifyAfterRestore", { type: "checkbox", checked: true }),
      " Verify each restored object by SHA-256",
    ),
  );
  previewGate(form, {
    requestOf: () => requestOf(form),
    path: `/backup/restore/${encodeURIComponent(backup.id)}`,
    showPreview: previewResult,
    showResult: restoreResult,
    idleLabel: "Run restore",
    runLabel: (job) => (job.result.filesRestored > 0 ? `Restore ${number(job.result.filesRestored)} objects` : null),
  });
  return form;
}

/** The API's restore body from the form; empty fields are left out. */
export function requestOf(form) {
  const data = new FormData(form);
  const text = (name) => String(data.get(name) ?? "").trim();
  const filters = {};
  if (text("pathPrefix")) filters.pathPrefix = text("pathPrefix");
  const extensions = text("extensions")
    .split(/[\s,]+/)
    .filter(Boolean);
  if (extensions.length) filters.fileExtensions = extensions;
  if (text("since") || text("until"))
    filters.dateRange = {
      ...(text("since") ? { start: text("since") } : {}),
      ...(text("until") ? { end: text("until") } : {}),
    };
  return {
    filters,
    ...(text("targetPrefix") ? { targetPrefix: text("targetPrefix") } : {}),
    overwriteExisting: data.get("overwriteExisting") === "on",
    verifyAfterRestore: data.get("verifyAfterRestore") === "on",
  };
}

function previewResult(job) {
  const { filesRestored, filesSkipped, planned = [] } = job.result;
  return h(
    "div",
    { class: "preview", dataset: { testid: "restore-preview" } },
    h(
      "p",
      {},
      `Would write ${number(filesRestored)} objects (${bytes(job.result.bytesRestored)}); ${number(filesSkipped)} exist and would be skipped.`,
    ),
    planned.length
      ? h(
          "ul",
          { class: "keys" },
          planned.slice(0, PREVIEW_SHOWN).map((key) => h("li", {}, key)),
          planned.length > PREVIEW_SHOWN ? h("li", {}, `… and ${number(planned.length - PREVIEW_SHOWN)} more`) : null,
        )
      : null,
  );
}

function restoreResult(job) {
  const r = job.result;
  const failures = r.failures ?? [];
  return h(
    "div",
    { dataset: { testid: "restore-result" } },
    notice(
      r.filesFailed ? "warning" : "success",
      `Restored ${number(r.filesRestored)} objects (${bytes(r.bytesRestored)}); ${number(r.filesSkipped)} skipped; ${number(r.filesFailed)} failed${r.verified ? "; verified by SHA-256" : ""}.`,
    ),
    failures.length
      ? h(
          "ul",
          { class: "keys" },
          failures.map((f) => h("li", {}, `${f.path}: ${f.reason}`)),
        )
      : null,
  );
}
