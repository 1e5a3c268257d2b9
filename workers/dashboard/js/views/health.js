// Health: the figures from /stats, open alerts, charts of the recent backups, and cleanup with a
// dry-run preview.
import { api } from "../api.js";
import { barChart, lineChart } from "../charts.js";
import { actionButton, field, h, notice, render } from "../dom.js";
import { bytes, duration, number, time } from "../format.js";
import { can } from "../session.js";
import { previewGate } from "./preview-gate.js";

export function healthView(main, view) {
  const figures = h(
    "section",
    { class: "card", "aria-labelledby": "health-title" },
    h("h1", { id: "health-title" }, "Health"),
  );
  const alerts = h("section", { class: "card", "aria-labelledby": "alerts-title" });
  const charts = h("div");

  async function load() {
    const [stats, open] = await Promise.all([
      api("GET", "/backup/stats"),
      api("GET", "/backup/alerts?state=open&limit=100"),
    ]);
    render(figures, h("h1", { id: "health-title" }, "Health"), figureList(stats));
    render(
      alerts,
      h("h2", { id: "alerts-title" }, `Open alerts (${open.alerts.length})`),
      alertList(open.alerts, load),
    );
    render(charts, stats.buckets.flatMap(templateCharts));
  }

  render(main, figures, alerts, charts, can("backup:admin") ? cleanupForm(load) : null);
  load().catch((error) => render(figures, notice("error", error.message)));
  view.refreshEvery(15_000, load);
}

function figureList(stats) {
  const tile = (label, value, testid) =>
    h("div", { class: "tile", dataset: { testid } }, h("span", { class: "label" }, label), h("strong", {}, value));
  return h(
    "div",
    { class: "tiles" },
    tile("Success rate", stats.successRate === null ? "–" : `${number(stats.successRate, 1)} %`, "success-rate"),
    tile("Last backup", time(stats.lastBackupDate), "last-backup"),
    tile("Last successful", time(stats.lastSuccessfulBackupDate), "last-success"),
    tile("Failures in a row", number(stats.consecutiveFailures), "failures"),
    tile("Backups", `${number(stats.completedBackups)} completed of ${number(stats.totalBackups)}`, "backups"),
    tile("Stored", `${bytes(stats.storedBytes)} (${stats.storage.source})`, "stored"),
    tile("Logical", bytes(stats.logicalBytes), "logical"),
    tile("Dedup ratio", stats.dedupRatio === null ? "–" : `${number(stats.dedupRatio, 2)} ×`, "dedup"),
    tile("Average duration", duration(stats.averageDurationSeconds), "duration"),
    tile("Schedule", stats.schedule.schedule, "schedule"),
    tile(
      "Changes not yet backed up",
      stats.unprotectedChanges.keys || stats.unprotectedChanges.overflow
        ? `${stats.unprotectedChanges.overflow ? "over " : ""}${number(stats.unprotectedChanges.keys)} keys, since ${time(stats.unprotectedChanges.oldestAt)}`
        : "none",
      "unprotected",
    ),
    tile(
      "Protected from cleanup",
      `${number(stats.protection.heldBackups)} held` +
        (stats.protection.releasesPending ? ` (${number(stats.protection.releasesPending)} releasing)` : "") +
        (stats.protection.retentionLockDays
          ? `; lock ${number(stats.protection.retentionLockDays)} days`
          : "; no lock") +
        stats.protection.massChangeHolds
          .map((m) => `; ${m.bucketName}: everything before ${time(m.heldBefore)} (mass change)`)
          .join(""),
      "protection",
    ),
  );
}

function alertList(alerts, reload) {
  if (alerts.length === 0) return notice("success", "No open alerts.");
  return h(
    "ul",
    { class: "alerts" },
    alerts.map((a) =>
      h(
        "li",
        { class: `alert ${a.severity}`, dataset: { code: a.code } },
        h("span", { class: `badge ${a.severity}` }, a.severity),
        " ",
        h("strong", {}, a.code),
        ` · ${a.bucketName} · since ${time(a.openedAt)}`,
        h("p", {}, a.message),
        a.code === "mass_change" ? resolutionControls(a, reload) : null,
      ),
    ),
  );
}

/**
 * mass_change resolves only when an admin asks, and only after the deployment's delay: the
 * pending request is shown to everyone, the buttons to admins.
 */
function resolutionControls(alert, reload) {
  const region = h("div", { "aria-live": "polite", dataset: { testid: "resolution-status" } });
  const path = `/backup/alerts/${encodeURIComponent(alert.id)}/resolve`;
  const pending = alert.resolution;
  return h(
    "div",
    { class: "actions" },
    h(
      "p",
      {},
      pending
        ? `Resolution asked for by ${pending.requestedBy} at ${time(pending.requestedAt)}: it takes effect ${time(pending.takesEffectAt)}; until then older backups stay held.`
        : "Older backups are held from cleanup until this alert is resolved.",
    ),
    can("backup:admin")
      ? pending
        ? actionButton("Cancel the resolution", () => api("DELETE", path), reload, region)
        : actionButton("Resolve (takes effect after the delay)", () => api("POST", path), reload, region)
      : null,
    region,
  );
}

/**
 * Charts of a bucket's recent finished backups (oldest first), one card per template: a template
 * backs up part of the bucket, so its sizes on one line with whole-bucket backups would zig-zag
 * like data loss.
 */
function templateCharts(bucket) {
  const byTemplate = new Map();
  for (const backup of bucket.recentBackups ?? []) {
    const template = backup.template ?? "default";
    byTemplate.set(template, [...(byTemplate.get(template) ?? []), backup]);
  }
  return [...byTemplate].map(([template, backups]) =>
    backupCharts(bucket.bucketName, template, [...backups].reverse()),
  );
}

function backupCharts(bucketName, template, recent) {
  const labels = recent.map((b) =>
    new Date(b.backupDate).toLocaleDateString(undefined, { month: "short", day: "numeric" }),
  );
  let stored = 0;
  const storedOverTime = recent.map((b) => (stored += b.storedBytes ?? 0));
  return h(
    "section",
    { class: "card", "aria-label": `Charts for ${bucketName}, template ${template}`, dataset: { template } },
    h("h2", {}, `${bucketName}, template ${template}: the last ${recent.length} backups`),
    h(
      "div",
      { class: "charts" },
      lineChart({
        title: "Logical bytes (snapshot size) and bytes stored by these backups (cumulative)",
        labels,
        series: [
          { name: "logical", values: recent.map((b) => b.snapshotSize ?? null), className: "logical" },
          { name: "stored", values: storedOverTime, className: "stored" },
        ],
        format: bytes,
      }),
      barChart({ title: "Duration", labels, values: recent.map((b) => b.durationSeconds), format: duration }),
      barChart({
        title: "Throughput (MB/s)",
        labels,
        values: recent.map((b) => b.megabytesPerSecond),
        format: (v) => number(v, 1),
        className: "bars alt",
      }),
    ),
  );
}

function cleanupForm(reload) {
  const number0 = (name, label) =>
    field(
      label,
      h("input", { name, type: "number", min: 0, max: name === "retentionDays" ? 3650 : 10000, inputmode: "numeric" }),
    );
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "cleanup-title" },
    h("h2", { id: "cleanup-title" }, "Cleanup (retention)"),
    h(
      "p",
      { class: "hint" },
      "Empty fields use the server's policy (BACKUP_RETENTION_DAYS, BACKUP_KEEP). The newest completed backup and any backup a running job reads are always kept.",
    ),
    h(
      "div",
      { class: "grid" },
      number0("retentionDays", "Keep backups younger than (days)"),
      number0("last", "Keep the newest"),
      number0("daily", "Daily"),
      number0("weekly", "Weekly"),
      number0("monthly", "Monthly"),
    ),
  );
  const summary = (job, dryRun) => {
    const r = job.result;
    return h(
      "div",
      { dataset: { testid: dryRun ? "cleanup-preview" : "cleanup-result" } },
      notice(
        dryRun ? "info" : "success",
        `${dryRun ? "Would expire" : "Expired"} ${number(r.backupsExpired)} backups and ${dryRun ? "delete" : "deleted"} ${number(r.blobsDeleted)} blobs (${bytes(r.bytesFreed)}).`,
      ),
      r.keptByHoldOrLock?.length
        ? h(
            "p",
            { class: "hint", dataset: { testid: "cleanup-held" } },
            `Kept whatever the policy says: ${r.keptByHoldOrLock.map((k) => `${k.backupId} (${k.reasons.join(", ").replaceAll("_", " ")})`).join("; ")}.`,
          )
        : null,
      r.waitingForGrace?.objects > 0
        ? h(
            "p",
            { class: "hint", dataset: { testid: "cleanup-grace" } },
            `${number(r.waitingForGrace.objects)} unneeded blobs and chunks (${bytes(r.waitingForGrace.bytes)}) are younger than the ${r.graceHours} h grace period: reclaimable from ${time(r.waitingForGrace.reclaimableFrom)}.`,
          )
        : null,
      (r.backupIdsExpired ?? []).length
        ? h(
            "ul",
            { class: "keys" },
            r.backupIdsExpired.map((id) => h("li", {}, id)),
          )
        : null,
    );
  };
  previewGate(form, {
    requestOf: () => bodyOf(form),
    path: "/backup/cleanup",
    showPreview: (job) => summary(job, true),
    showResult: (job) => summary(job, false),
    idleLabel: "Run cleanup",
    runLabel: (job) => (job.result.backupsExpired > 0 || job.result.blobsDeleted > 0 ? "Run cleanup" : null),
    afterRun: reload,
  });
  return form;
}

function bodyOf(form) {
  const data = new FormData(form);
  const value = (name) => (String(data.get(name) ?? "").trim() === "" ? undefined : Number(data.get(name)));
  const keep = Object.fromEntries(
    ["last", "daily", "weekly", "monthly"].map((k) => [k, value(k)]).filter(([, v]) => v !== undefined),
  );
  return {
    ...(value("retentionDays") === undefined ? {} : { retentionDays: value("retentionDays") }),
    ...(Object.keys(keep).length ? { keep } : {}),
  };
}
