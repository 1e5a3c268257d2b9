// "Preview, then run", as restore and cleanup do it: a dry run of the form's request comes first,
// the run button is enabled only for the request as previewed (any edit of the form disables it
// again), and both show the job's progress while it runs.
import { api, waitForJob } from "../api.js";
import { h, notice, render } from "../dom.js";
import { jobProgress } from "./jobs.js";

/**
 * Appends the two buttons and a result region to `form`.
 * - `requestOf()`: the API body the form describes now (without `dryRun`);
 * - `path`: where the job is started (POST);
 * - `showPreview(job)`, `showResult(job)`: what a finished dry run and run look like;
 * - `idleLabel`: the run button's label before a preview;
 * - `runLabel(job)`: its label after a preview, or null when there is nothing to run;
 * - `afterRun()`: called once a run has ended (to refresh the page).
 */
export function previewGate(
  form,
  { requestOf, path, showPreview, showResult, idleLabel, runLabel, afterRun = async () => {} },
) {
  const region = h("div", { "aria-live": "polite" });
  const previewButton = h("button", { type: "button" }, "Preview (dry run)");
  const runButton = h("button", { type: "button", class: "danger", disabled: true }, idleLabel);
  form.append(h("div", { class: "actions" }, previewButton, runButton), region);

  let previewed = null; // the request the last preview ran with
  form.addEventListener("input", () => {
    previewed = null;
    runButton.disabled = true;
    runButton.textContent = idleLabel;
  });

  const go = async (dryRun) => {
    const request = dryRun ? requestOf() : previewed;
    if (!request) return;
    previewButton.disabled = runButton.disabled = true;
    try {
      const { job } = await api("POST", path, { ...request, dryRun });
      const done = await waitForJob(job.id, (reading) => render(region, jobProgress(reading)));
      if (done.status !== "completed")
        return render(
          region,
          notice("error", `${dryRun ? "The preview" : "The run"} ended ${done.status}: ${done.error ?? ""}`),
        );
      if (!dryRun) {
        previewed = null;
        render(region, showResult(done));
        return afterRun();
      }
      previewed = request;
      render(region, showPreview(done));
      const label = runLabel(done);
      runButton.disabled = label === null;
      runButton.textContent = label ?? "Nothing to run";
    } catch (error) {
      render(region, notice("error", error.message));
    } finally {
      previewButton.disabled = false;
    }
  };
  previewButton.addEventListener("click", () => go(true));
  runButton.addEventListener("click", () => go(false));
}
