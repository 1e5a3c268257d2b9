// Waiting for a backup or job to end, with a progress line, and what its end means for the exit code.
import { CliError, EXIT } from "./client.mjs";
import { bar, bytes, progressWriter } from "./output.mjs";

const RUNNING = new Set(["pending", "in_progress"]);
const POLL_MS = 1000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Throws once `maxWaitSeconds` (if any) have passed since `started`. */
function checkDeadline(started, maxWaitSeconds, what, status, hint) {
  if (maxWaitSeconds === undefined || performance.now() - started < maxWaitSeconds * 1000) return;
  throw new CliError(EXIT.stillRunning, `${what} is still ${status} after ${maxWaitSeconds} s; it goes on in the background (${hint}).`);
}

/** The newest completed snapshot's size: a running backup's progress is measured against it. */
async function referenceCount(client) {
  const { backups } = await client.get("/backup/list?status=completed&limit=1");
  return backups[0]?.snapshotFileCount ?? null;
}

export async function watchBackup(client, id, { quiet = false, maxWaitSeconds } = {}) {
  const started = performance.now();
  const progress = quiet ? null : progressWriter();
  const reference = await referenceCount(client);
  for (;;) {
    const { backup } = await client.get(`/backup/status/${encodeURIComponent(id)}`);
    const p = backup.progress;
    const total = RUNNING.has(backup.status) ? reference && Math.max(reference, p.filesProcessed) : p.filesProcessed;
    progress?.update(
      `${backup.id} ${backup.status.padEnd(11)} ${bar(p.filesProcessed, total)}  ${p.filesProcessed} objects  ${bytes(p.bytesProcessed)}${p.phase ? `  ${p.phase}` : ""}`,
    );
    if (!RUNNING.has(backup.status)) {
      progress?.done();
      return backup;
    }
    checkDeadline(started, maxWaitSeconds, `backup ${backup.id}`, backup.status, `r2-backup status ${backup.id} --watch`);
    await sleep(POLL_MS);
  }
}

export async function watchJob(client, id, { quiet = false, maxWaitSeconds } = {}) {
  const started = performance.now();
  const progress = quiet ? null : progressWriter();
  for (;;) {
    const { job } = await client.get(`/backup/jobs/${encodeURIComponent(id)}`);
    const { filesProcessed, filesTotal } = job.progress;
    progress?.update(
      `${job.id} ${job.kind} ${job.status.padEnd(11)} ${bar(filesProcessed, filesTotal)}  ${filesProcessed}${filesTotal ? ` of ${filesTotal}` : ""} objects`,
    );
    if (!RUNNING.has(job.status)) {
      progress?.done();
      return job;
    }
    checkDeadline(started, maxWaitSeconds, `${job.kind} job ${job.id}`, job.status, `r2-backup job ${job.id} --watch`);
    await sleep(POLL_MS);
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
