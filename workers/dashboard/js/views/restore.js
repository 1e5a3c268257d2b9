// The restore form: filters, a target prefix and the overwrite choice; a dry run previews what
// would be written, and only a previewed form can be run.
import { api, waitForJob } from "../api.js";
import { field, h, notice, render } from "../dom.js";
import { bytes, number } from "../format.js";
import { jobProgress } from "./jobs.js";

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
      field("Restore under (target prefix)", input("targetPrefix", { placeholder: "restored/" }), "empty: the original keys"),
    ),
    h("label", { class: "check" }, input("overwriteExisting", { type: "checkbox" }), " Overwrite objects that exist (otherwise they are skipped)"),
    h("label", { class: "check" }, input("verifyAfterRestore", { type: "checkbox", checked: true }), " Verify each restored object by SHA-256"),
  );
  const preview = h("div", { "aria-live": "polite" });
  const previewButton = h("button", { type: "button" }, "Preview (dry run)");
  const runButton = h("button", { type: "button", class: "danger", disabled: true }, "Run restore");
  form.append(h("div", { class: "actions" }, previewButton, runButton), preview);

  let previewed = null; // the request body the preview ran with
  form.addEventListener("input", () => {
    previewed = null;
    runButton.disabled = true;
  });

  previewButton.addEventListener("click", async () => {
    const request = requestOf(form);
    previewButton.disabled = true;
    runButton.disabled = true;
    render(preview, notice("info", "Previewing…"));
    try {
      const job = await startAndWait(backup.id, { ...request, dryRun: true }, preview);
      if (job.status !== "completed") return render(preview, notice("error", `The preview ${job.status}: ${job.error ?? ""}`));
      previewed = request;
      render(preview, previewResult(job));
      runButton.disabled = job.result.filesRestored === 0 && job.result.filesSkipped === 0;
      runButton.textContent = `Restore ${number(job.result.filesRestored)} objects`;
    } catch (error) {
      render(preview, notice("error", error.message));
    } finally {
      previewButton.disabled = false;
    }
  });

  runButton.addEventListener("click", async () => {
    if (!previewed) return;
    runButton.disabled = true;
    previewButton.disabled = true;
    try {
      const job = await startAndWait(backup.id, { ...previewed, dryRun: false }, preview);
      render(preview, restoreResult(job));
    } catch (error) {
      render(preview, notice("error", error.message));
    } finally {
      previewButton.disabled = false;
    }
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
    filters.dateRange = { ...(text("since") ? { start: text("since") } : {}), ...(text("until") ? { end: text("until") } : {}) };
  return {
    filters,
    ...(text("targetPrefix") ? { targetPrefix: text("targetPrefix") } : {}),
    overwriteExisting: data.get("overwriteExisting") === "on",
    verifyAfterRestore: data.get("verifyAfterRestore") === "on",
  };
}

async function startAndWait(backupId, body, region) {
  const { job } = await api("POST", `/backup/restore/${encodeURIComponent(backupId)}`, body);
  return waitForJob(job.id, (reading) => render(region, jobProgress(reading)));
}

function previewResult(job) {
  const { filesRestored, filesSkipped, planned = [] } = job.result;
  return h(
    "div",
    { class: "preview", dataset: { testid: "restore-preview" } },
    h("p", {}, `Would write ${number(filesRestored)} objects (${bytes(job.result.bytesRestored)}); ${number(filesSkipped)} exist and would be skipped.`),
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
  if (job.status !== "completed") return notice("error", `Restore ${job.status}: ${job.error ?? ""}`);
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
