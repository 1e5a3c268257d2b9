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
    shardLine(job.progress.shards),
  );
}

/** A fanned-out restore, verification or replication: how many of its shards are done, and each one's count. */
function shardLine(shards) {
  if (!shards?.length) return null;
  const done = shards.filter((s) => s.status !== "pending" && s.status !== "running").length;
  const each = shards.map((s) => `${s.index + 1}: ${number(s.filesProcessed)} ${s.status}`).join(", ");
  return h("small", { class: "shards" }, `${done} of ${shards.length} shards done (${each})`);
}
