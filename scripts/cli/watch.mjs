// Waiting for a backup or job to end, with a progress line, and what its end means for the exit code.
import { CliError, EXIT } from "./client.mjs";
import { bar, bytes, progressWriter } from "./output.mjs";

const RUNNING = new Set(["pending", "in_progress"]);
const POLL_MS = 1000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Throws once `maxWaitSeconds` (if any) have passed since `started`. */
function checkDeadline(started, maxWaitSeconds, what, status, hint) {
  if (maxWaitSeconds === undefined || performance.now() - started < maxWaitSeconds * 1000) return;
  throw new CliError(
    EXIT.stillRunning,
    `${what} is still ${status} after ${maxWaitSeconds} s; it goes on in the background (${hint}).`,
  );
}

/** The next poll, or the deadline if it comes first (then one last look decides). */
function untilNextLook(started, maxWaitSeconds) {
  if (maxWaitSeconds === undefined) return POLL_MS;
  return Math.max(0, Math.min(POLL_MS, maxWaitSeconds * 1000 - (performance.now() - started)));
}

/**
 * The size of the newest completed snapshot of the same scope (bucket and template): a running
 * backup's progress is measured against it. Another template's snapshot (one prefix of the
 * bucket) would be no measure of a whole-bucket backup, and the reverse.
 */
async function referenceCount(client, backup) {
  const { backups } = await client.get(
    `/backup/list?status=completed&limit=1&template=${encodeURIComponent(backup.template ?? "default")}`,
  );
  return backups[0]?.snapshotFileCount || null;
}

/** One progress line: a bar against the reference while running, what is known otherwise. */
export function backupLine(backup, reference, elapsedSeconds) {
  const p = backup.progress;
  const running = RUNNING.has(backup.status);
  const figures = `${p.filesProcessed} objects  ${bytes(p.bytesProcessed)}`;
  const rate = running && elapsedSeconds >= 1 ? `  ${Math.round(p.filesProcessed / elapsedSeconds)} objects/s` : "";
  // A bar only while running against an estimate, or for a backup that completed; a cancelled or
  // failed one ends with its figures, never a full bar.
  const shown = running
    ? bar(p.filesProcessed, reference && Math.max(reference, p.filesProcessed), { running: true })
    : backup.status === "completed"
      ? bar(1, 1)
      : "";
  // A fanned-out backup: how many of its shards have ended.
  const shards = p.shards?.length
    ? `  ${p.shards.filter((s) => s.status !== "pending" && s.status !== "running").length}/${p.shards.length} shards done`
    : "";
  return `${backup.id} ${backup.status.padEnd(11)} ${shown ? `${shown}  ` : ""}${figures}${rate}${p.phase && running ? `  ${p.phase}` : ""}${running ? shards : ""}`;
}

export async function watchBackup(client, id, { quiet = false, maxWaitSeconds } = {}) {
  const started = performance.now();
  const progress = quiet ? null : progressWriter();
  let reference;
  for (;;) {
    const { backup } = await client.get(`/backup/status/${encodeURIComponent(id)}`);
    // Asked once: null (no earlier snapshot of this template) is an answer too.
    if (reference === undefined) reference = await referenceCount(client, backup);
    progress?.update(backupLine(backup, reference, (performance.now() - started) / 1000));
    if (!RUNNING.has(backup.status)) {
      progress?.done();
      return backup;
    }
    checkDeadline(
      started,
      maxWaitSeconds,
      `backup ${backup.id}`,
      backup.status,
      `r2-backup status ${backup.id} --watch`,
    );
    await sleep(untilNextLook(started, maxWaitSeconds));
  }
}

export async function watchJob(client, id, { quiet = false, maxWaitSeconds } = {}) {
  const started = performance.now();
  const progress = quiet ? null : progressWriter();
  for (;;) {
    const { job } = await client.get(`/backup/jobs/${encodeURIComponent(id)}`);
    const { filesProcessed, filesTotal } = job.progress;
    const running = RUNNING.has(job.status);
    const shown = running
      ? bar(filesProcessed, filesTotal, { running: true })
      : job.status === "completed"
        ? bar(1, 1)
        : "";
    progress?.update(
      `${job.id} ${job.kind} ${job.status.padEnd(11)} ${shown ? `${shown}  ` : ""}${filesProcessed}${filesTotal ? ` of ${filesTotal}` : ""} objects`,
    );
    if (!RUNNING.has(job.status)) {
      progress?.done();
      return job;
    }
    checkDeadline(started, maxWaitSeconds, `${job.kind} job ${job.id}`, job.status, `r2-backup job ${job.id} --watch`);
    await sleep(untilNextLook(started, maxWaitSeconds));
  }
}

/** 0 for work that ended well; 1 for failed, partial or cancelled work, or an invalid verification. */
export function exitCodeOfBackup(backup) {
  return backup.status === "completed" ? EXIT.ok : EXIT.jobFailed;
}

export function exitCodeOfJob(job) {
  if (job.status !== "completed") return EXIT.jobFailed;
  if (job.kind === "verify" && job.result?.valid === false) return EXIT.jobFailed;
  if (job.kind === "restore" && (job.result?.filesFailed ?? 0) > 0) return EXIT.jobFailed;
  if (job.kind === "replicate" && job.result?.complete === false) return EXIT.jobFailed;
  return EXIT.ok;
}
