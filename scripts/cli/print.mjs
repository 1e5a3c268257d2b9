// How each resource reads in a terminal.
import { bytes, fields, plain, seconds, table } from "./output.mjs";

export function backupDetails(backup) {
  const p = backup.performance ?? {};
  return fields([
    ["id", backup.id],
    ["status", backup.status + (backup.error ? ` (${backup.error})` : "")],
    ["type", `${backup.type}, ${backup.trigger}, by ${backup.requestedBy}`],
    ["template", backup.template ?? "default"],
    ["parent", backup.parentId ?? "none"],
    ["requested", backup.backupDate],
    ["completed", backup.completedAt],
    [
      "files",
      `${backup.fileCount} recorded (${bytes(backup.totalSize)}), ${backup.failedCount} failed, ${backup.deletedCount} deleted`,
    ],
    ["snapshot", `${backup.snapshotFileCount} objects (${bytes(backup.snapshotSize)})`],
    ["uploaded", bytes(backup.bytesUploaded)],
    ["duration", seconds(p.durationSeconds)],
    [
      "throughput",
      p.objectsPerSecond === null || p.objectsPerSecond === undefined
        ? "-"
        : `${p.objectsPerSecond} objects/s, ${p.megabytesPerSecond} MB/s`,
    ],
    ["checksum", backup.checksum],
    [
      "verified",
      backup.lastVerifiedAt
        ? `${backup.lastVerifiedAt} (${backup.lastVerificationValid ? "valid" : "INVALID"})`
        : "never",
    ],
    ["legal hold", holdLine(backup.hold)],
    ...shardFields(backup.progress?.shards),
  ]);
}

function holdLine(hold) {
  if (!hold) return "none";
  const placed = `since ${hold.at} by ${hold.by}${hold.reason ? ` (${hold.reason})` : ""}`;
  return hold.releaseAt ? `${placed}; release takes effect ${hold.releaseAt}` : placed;
}

/** A restore's run may start and end inside a leaf: "from leaf 3 entry 40 to leaf 8 entry 11" (both included). */
function leavesOf({ fromLeaf, toLeaf, fromOffset, toOffset }) {
  if (!fromOffset && !toOffset) return `leaves ${fromLeaf}–${toLeaf - 1}`;
  const start = `leaf ${fromLeaf}${fromOffset ? ` entry ${fromOffset}` : ""}`;
  return `from ${start} to ${toOffset ? `leaf ${toLeaf} entry ${toOffset - 1}` : `the end of leaf ${toLeaf - 1}`}`;
}

/**
 * A fanned-out job's shards, one line each: how far it is, and where its range starts (a
 * backup's: a key; a restore's, verification's or replication's: the snapshot's leaves).
 */
function shardFields(shards) {
  if (!shards?.length) return [];
  const where = ({ range }) =>
    "fromLeaf" in range ? leavesOf(range) : `keys ${range.after === null ? "from the first" : `after ${range.after}`}`;
  return shards.map((shard) => [
    `shard ${shard.index + 1}/${shards.length}`,
    `${shard.status.padEnd(9)} ${shard.filesProcessed} objects` +
      (shard.bytesProcessed === undefined ? "" : ` (${bytes(shard.bytesProcessed)})`) +
      (shard.failedCount ? `, ${shard.failedCount} failed` : "") +
      (shard.retries ? `, ${shard.retries} retried steps` : "") +
      `  ${where(shard)}` +
      (shard.error ? `  (${shard.error})` : ""),
  ]);
}

export function backupTable(backups) {
  return table(
    [
      { title: "ID", value: (b) => b.id },
      { title: "STATUS", value: (b) => b.status },
      { title: "TYPE", value: (b) => b.type },
      { title: "TRIGGER", value: (b) => b.trigger },
      { title: "TEMPLATE", value: (b) => b.template ?? "default" },
      { title: "REQUESTED", value: (b) => b.backupDate },
      { title: "OBJECTS", value: (b) => b.snapshotFileCount, right: true },
      { title: "SIZE", value: (b) => bytes(b.snapshotSize), right: true },
      { title: "DURATION", value: (b) => seconds(b.performance?.durationSeconds), right: true },
    ],
    backups,
  );
}

export function jobDetails(job) {
  const result = Object.entries(job.result ?? {})
    .filter(([, value]) => !Array.isArray(value))
    .map(([key, value]) => `${key}=${plain(value)}`)
    .join(" ");
  const lists = Object.entries(job.result ?? {}).filter(([, value]) => Array.isArray(value) && value.length > 0);
  return [
    fields([
      ["id", job.id],
      ["kind", job.kind],
      ["backup", job.backupId],
      ["status", job.status + (job.error ? ` (${job.error})` : "")],
      [
        "progress",
        `${job.progress.filesProcessed}${job.progress.filesTotal ? ` of ${job.progress.filesTotal}` : ""} objects`,
      ],
      ["result", result || "-"],
      ...shardFields(job.progress?.shards),
    ]),
    ...lists.map(
      ([name, values]) =>
        `${name}:\n${values.map((v) => `  ${typeof v === "string" ? v : Object.values(v).join("  ")}`).join("\n")}`,
    ),
  ].join("\n");
}

export function fileTable(files) {
  return table(
    [
      { title: "PATH", value: (f) => f.path },
      { title: "SIZE", value: (f) => bytes(f.size), right: true },
      { title: "MODIFIED", value: (f) => f.lastModified },
      { title: "TYPE", value: (f) => f.contentType },
    ],
    files,
  );
}

/** A key's versions, newest first: its content, when it was seen, and when it was found deleted. */
export function versionTable(versions) {
  if (versions.length === 0) return "No version of this key in the kept backups.";
  return table(
    [
      { title: "SHA-256", value: (v) => v.checksum.slice(0, 12) },
      { title: "SIZE", value: (v) => bytes(v.size), right: true },
      { title: "MODIFIED", value: (v) => v.lastModified },
      {
        title: "IN BACKUPS",
        value: (v) =>
          v.backupIds.length === 1 ? v.lastBackupId : `${v.firstBackupId} .. ${v.lastBackupId} (${v.backupIds.length})`,
      },
      { title: "DELETED", value: (v) => v.deletedAt ?? "" },
    ],
    versions,
  );
}

/** A diff's changes: what happened to each key, and its size before and after. */
export function changeTable(changes) {
  if (changes.length === 0) return "No changes.";
  const size = (entry) => (entry ? bytes(entry.size) : "-");
  return table(
    [
      { title: "CHANGE", value: (c) => c.change },
      { title: "PATH", value: (c) => c.path },
      { title: "BEFORE", value: (c) => size(c.before), right: true },
      { title: "AFTER", value: (c) => size(c.after), right: true },
    ],
    changes,
  );
}

export function logLines(logs) {
  return logs.map((log) => `${log.timestamp}  ${log.level.padEnd(5)}  ${log.message}`).join("\n");
}

export function statsDetails(stats) {
  return fields([
    [
      "backups",
      `${stats.totalBackups} (${stats.completedBackups} completed, ${stats.failedBackups} failed, ${stats.expiredBackups} expired)`,
    ],
    ["success rate", stats.successRate === null ? "-" : `${stats.successRate} %`],
    ["last backup", stats.lastBackupDate],
    ["last successful", stats.lastSuccessfulBackupDate],
    ["failures in a row", stats.consecutiveFailures],
    ["average duration", seconds(stats.averageDurationSeconds)],
    ["stored", `${bytes(stats.storedBytes)} (${stats.storage.source})`],
    ["logical", bytes(stats.logicalBytes)],
    ["dedup ratio", stats.dedupRatio],
    [
      "open alerts",
      stats.alerts.length ? stats.alerts.map((a) => `${a.severity} ${a.code}: ${a.message}`).join("; ") : "none",
    ],
    ["schedule", stats.schedule.schedule],
    [
      "not yet backed up",
      stats.unprotectedChanges.keys
        ? `${stats.unprotectedChanges.keys} changed keys since ${stats.unprotectedChanges.oldestAt}`
        : "none",
    ],
  ]);
}

export function alertTable(alerts) {
  return table(
    [
      { title: "OPENED", value: (a) => a.openedAt },
      { title: "SEVERITY", value: (a) => a.severity },
      { title: "CODE", value: (a) => a.code },
      {
        title: "STATE",
        value: (a) =>
          a.resolvedAt
            ? `resolved ${a.resolvedAt}`
            : a.resolution
              ? `open; resolves ${a.resolution.takesEffectAt}`
              : "open",
      },
      { title: "ID", value: (a) => a.id },
      { title: "MESSAGE", value: (a) => a.message },
    ],
    alerts,
  );
}
