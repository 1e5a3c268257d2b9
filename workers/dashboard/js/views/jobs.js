// A verify, restore or cleanup job's progress as it runs.
import { h } from "../dom.js";
import { number } from "../format.js";

export function jobProgress(job) {
  const { filesProcessed, filesTotal } = job.progress;
  const label = `${job.kind} ${job.status.replace("_", " ")}: ${number(filesProcessed)}${filesTotal ? ` of ${number(filesTotal)}` : ""} objects`;
  return h(
    "div",
    { class: "progress" },
    filesTotal
      ? h("progress", { max: filesTotal, value: filesProcessed, "aria-label": label })
      : h("progress", { "aria-label": label }),
    h("small", {}, label),
  );
}
