// One backup: its figures, actions (verify, cancel, restore), its snapshot's files and its log.
import { api, waitForJob } from "../api.js";
import { actionButton, field, h, notice, render } from "../dom.js";
import { bytes, duration, number, rate, RUNNING, time } from "../format.js";
import { can } from "../session.js";
import { progressBar, statusBadge } from "./backups.js";
import { changesSinceParent } from "./changes.js";
import { fileBrowser } from "./files.js";
import { jobProgress } from "./jobs.js";
import { logList } from "./logs.js";
import { restoreForm } from "./restore.js";

const RESTORABLE = new Set(["completed", "partial"]);

export function backupView(main, view, id) {
  const summary = h("section", { class: "card", "aria-labelledby": "summary-title" });
  const actions = h("div");
  const lower = h("div");
  let shownStatus = null;

  async function load() {
    const { backup } = await api("GET", `/backup/status/${encodeURIComponent(id)}`);
    render(summary, summaryOf(backup), holdControls(backup, load));
    // Actions, files and the log are rebuilt only when the status changes (a form being filled
    // in must not be wiped by the live refresh).
    if (backup.status !== shownStatus) {
      shownStatus = backup.status;
      render(actions, actionsOf(backup, load));
      render(
        lower,
        RESTORABLE.has(backup.status) && can("backup:restore") ? restoreForm(backup) : null,
        RESTORABLE.has(backup.status) ? fileBrowser(backup) : null,
        // A parent a cleanup expired answers 409; the section then shows the server's message.
        RESTORABLE.has(backup.status) && backup.parentId ? changesSinceParent(backup) : null,
        logList(backup.id),
      );
    }
    view.refreshIf(RUNNING.has(backup.status), load);
  }

  render(main, h("p", {}, h("a", { href: "#/backups" }, "← All backups")), summary, actions, lower);
  load().catch((error) => render(summary, notice("error", error.message)));
}

function summaryOf(backup) {
  const row = (label, value) => [h("dt", {}, label), h("dd", {}, value)];
  const p = backup.performance ?? {};
  return [
    h("h1", { id: "summary-title" }, `Backup ${backup.id} `, statusBadge(backup.status)),
    RUNNING.has(backup.status) ? progressBar(backup, null) : null,
    backup.error ? notice("error", backup.error) : null,
    h(
      "dl",
      { class: "figures" },
      row("Type", `${backup.type} (${backup.trigger}, by ${backup.requestedBy})`),
      row("Template", backup.template ?? "default"),
      row(
        "Parent",
        backup.parentId
          ? h("a", { href: `#/backups/${encodeURIComponent(backup.parentId)}` }, backup.parentId)
          : "none",
      ),
      row("Requested", time(backup.backupDate)),
      row("Finished", time(backup.completedAt)),
      row("Files recorded", `${number(backup.fileCount)} (${bytes(backup.totalSize)})`),
      row("Snapshot", `${number(backup.snapshotFileCount)} objects (${bytes(backup.snapshotSize)})`),
      row("Deleted since parent", number(backup.deletedCount)),
      row("Failed", number(backup.failedCount)),
      row("Uploaded", bytes(backup.bytesUploaded)),
      row("Duration", duration(p.durationSeconds)),
      row("Throughput", rate(backup)),
      row("Steps / retries", `${number(p.steps)} / ${number(p.retries)}`),
      row("Checksum", backup.checksum ? h("code", { class: "wrap" }, backup.checksum) : "–"),
      row("Last verified", lastVerification(backup)),
      row("Legal hold", holdText(backup.hold)),
      // Shown only where a replica is configured (null: none was when it completed).
      backup.replicaStatus
        ? row(
            "Replica",
            `${backup.replicaStatus}${backup.replicaCompletedAt ? ` (${time(backup.replicaCompletedAt)})` : ""}`,
          )
        : null,
    ),
    shardTable(backup.progress?.shards),
  ];
}

function holdText(hold) {
  if (!hold) return "none";
  const placed = `held since ${time(hold.at)} by ${hold.by}${hold.reason ? ` (${hold.reason})` : ""}`;
  return hold.releaseAt ? `${placed}; release takes effect ${time(hold.releaseAt)}` : placed;
}

/** Admins place a legal hold, ask for its release (in effect after the deployment's delay), or cancel that. */
function holdControls(backup, reload) {
  if (!RESTORABLE.has(backup.status) || !can("backup:admin")) return null;
  const region = h("div", { "aria-live": "polite", dataset: { testid: "hold-status" } });
  const act = (method, label) =>
    actionButton(label, () => api(method, `/backup/hold/${encodeURIComponent(backup.id)}`), reload, region);
  const hold = backup.hold;
  return h(
    "div",
    { class: "actions" },
    !hold
      ? act("POST", "Place legal hold")
      : hold.releaseAt
        ? act("POST", "Cancel the release")
        : act("DELETE", "Release hold"),
    region,
  );
}

const SHARD_COLUMNS = ["Shard", "Keys", "Status", "Objects", "Read", "Failed", "Steps / retries"];

/** A fanned-out full backup: one row per shard, its key range and how far it is. */
function shardTable(shards) {
  if (!shards?.length) return null;
  const range = ({ after, through }) =>
    `${after === null ? "first key" : `after ${after}`} … ${through === null ? "last key" : `up to ${through}`}`;
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "stacked", "aria-labelledby": "shards-title" },
      h("caption", { id: "shards-title" }, `Fanned out over ${shards.length} shards`),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          SHARD_COLUMNS.map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h(
        "tbody",
        {},
        shards.map((shard) => {
          const cells = [
            `${shard.index + 1} of ${shards.length}`,
            h("code", { class: "wrap" }, range(shard.range)),
            [
              statusBadge(
                shard.status === "pending" ? "pending" : shard.status === "running" ? "in_progress" : shard.status,
              ),
              shard.error ? ` ${shard.error}` : null,
            ],
            number(shard.filesProcessed),
            bytes(shard.bytesProcessed),
            number(shard.failedCount),
            `${number(shard.steps)} / ${number(shard.retries)}`,
          ];
          return h(
            "tr",
            { dataset: { shard: String(shard.index), status: shard.status } },
            cells.map((content, i) =>
              h("td", { class: i >= 3 ? "num" : undefined, dataset: { label: SHARD_COLUMNS[i] } }, content),
            ),
          );
        }),
      ),
    ),
  );
}

/** "<time>: valid (quick, 10 % sample)": a sampled or quick check is not a full one, and says so. */
function lastVerification(backup) {
  if (!backup.lastVerifiedAt) return "never";
  const outcome = backup.lastVerificationValid ? "valid" : "INVALID";
  const mode = backup.lastVerificationMode;
  const percent = backup.lastVerificationSamplePercent;
  const scope = [mode, percent !== null && percent < 100 ? `${percent} % sample` : mode ? "every object" : null]
    .filter(Boolean)
    .join(", ");
  return `${time(backup.lastVerifiedAt)}: ${outcome}${scope ? ` (${scope})` : ""}`;
}

function actionsOf(backup, reload) {
  const region = h("div", { "aria-live": "polite" });
  const buttons = [];
  if (RESTORABLE.has(backup.status) && can("backup:write")) {
    const mode = h(
      "select",
      { name: "mode" },
      h("option", { value: "full" }, "full: read every blob, check its SHA-256"),
      h("option", { value: "quick" }, "quick: every blob exists, with its size"),
    );
    buttons.push(
      h(
        "form",
        {
          class: "inline",
          onsubmit: async (event) => {
            event.preventDefault();
            await runJob(
              region,
              () => api("POST", `/backup/verify/${encodeURIComponent(backup.id)}`, { mode: mode.value }),
              verifyOutcome,
            );
            await reload();
          },
        },
        field("Verification", mode),
        h("button", { type: "submit" }, "Verify"),
      ),
    );
  }
  if (RUNNING.has(backup.status) && can("backup:write")) {
    buttons.push(
      h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: async () => {
            try {
              await api("POST", `/backup/cancel/${encodeURIComponent(backup.id)}`);
              render(region, notice("info", "Cancelling: the backup stops at its next step."));
              await reload();
            } catch (error) {
              render(region, notice("error", error.message));
            }
          },
        },
        "Cancel backup",
      ),
    );
  }
  return buttons.length ? h("section", { class: "card actions-card", "aria-label": "Actions" }, buttons, region) : null;
}

async function runJob(region, start, outcome) {
  try {
    const { job } = await start();
    const finished = await waitForJob(job.id, (reading) => render(region, jobProgress(reading)));
    render(region, outcome(finished));
  } catch (error) {
    render(region, notice("error", error.message));
  }
}

function verifyOutcome(job) {
  if (job.status !== "completed") return notice("error", `Verification ${job.status}: ${job.error ?? ""}`);
  const r = job.result;
  const problems = r.problems ?? [];
  return h(
    "div",
    { dataset: { testid: "verify-result" } },
    notice(
      r.valid ? "success" : "error",
      `${r.valid ? "Valid" : "INVALID"}: ${number(r.filesChecked)} checked, ${number(r.filesMissing)} missing, ${number(r.checksumMismatches)} mismatched.`,
    ),
    problems.length
      ? h(
          "ul",
          { class: "keys" },
          problems.map((p) => h("li", {}, `${p.path}: ${p.problem}`)),
        )
      : null,
  );
}
