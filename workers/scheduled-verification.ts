/**
 * Verification on a schedule (BACKUP_VERIFY_SCHEDULE): at the 04:00 UTC firing, after the night's
 * backups, each watched bucket's newest completed backup is verified, sampled
 * (BACKUP_VERIFY_SAMPLE_PERCENT, each day's run taking the slice after the day before's, so that
 * 100 / percent days cover every key) or whole on Sundays, in the backup bucket and, when its replica is
 * complete, in the replica too. A backup that stops verifying valid opens `verification_failed`;
 * one that is never verified, `not_verified` (BACKUP_VERIFY_STALE_DAYS). Each start is audited
 * (`schedule.verify`), as are the buckets that had nothing to verify.
 */
import { and, desc, eq } from "drizzle-orm";
import { r2Backups } from "../schema";
import type { Config } from "../durable-objects/engine/settings/config";
import { backupDue } from "../durable-objects/engine/settings/schedule";
import { newId } from "../durable-objects/engine/ids";
import { openDatabase } from "../durable-objects/engine/records";
import { clock } from "../durable-objects/engine/clock";
import { recordAudit } from "./audit";

export const VERIFY_SLOT_HOUR_UTC = 4;

/** What the firing at `at` verifies: a sample, the whole backup, or nothing. */
export function verificationDue(config: Config, cron: string, at: Date): "sampled" | "full" | null {
  const schedule = config.BACKUP_VERIFY_SCHEDULE;
  if (schedule === "manual") return null;
  if (!backupDue("daily", cron, at, VERIFY_SLOT_HOUR_UTC)) return null;
  const sunday = at.getUTCDay() === 0;
  if (schedule === "weekly" && !sunday) return null;
  return sunday || config.BACKUP_VERIFY_SAMPLE_PERCENT === 100 ? "full" : "sampled";
}

/** The day's slice of the keyspace: consecutive days take consecutive slices, so 100 / percent days cover it all. */
export function sampleOffsetOn(at: Date, percent: number): number {
  const day = Math.floor(at.getTime() / 86_400_000);
  return (day * percent) % 100;
}

export async function startScheduledVerification(
  env: Env,
  config: Config,
  bucketName: string,
  kind: "sampled" | "full",
  at: Date,
): Promise<void> {
  const db = openDatabase(env.DB);
  const [newest] = await db
    .select({ id: r2Backups.id, checksum: r2Backups.checksum, replicaStatus: r2Backups.replicaStatus })
    .from(r2Backups)
    .where(and(eq(r2Backups.bucketName, bucketName), eq(r2Backups.status, "completed")))
    .orderBy(desc(r2Backups.backupDate))
    .limit(1);
  const audit = (target: string | null, detail: string) =>
    recordAudit(env.DB, {
      at: at.toISOString(),
      actor: "cron",
      action: "schedule.verify",
      target,
      outcome: target ? "accepted" : "skipped",
      status: null,
      detail,
    });
  if (!newest) return audit(null, `${bucketName}: no completed backup to verify`);
  const copies: ("primary" | "replica")[] =
    env.R2_REPLICA_BUCKET && newest.replicaStatus === "complete" ? ["primary", "replica"] : ["primary"];
  // The slice rotates with the day, not with the backup: with daily backups the newest is a new
  // backup every day, so a per-backup rotation would check the same slice of keys every day. Both
  // copies check the same slice.
  const percent = config.BACKUP_VERIFY_SAMPLE_PERCENT;
  const sample = kind === "sampled" ? { percent, offset: sampleOffsetOn(at, percent) } : null;
  for (const copy of copies) {
    const jobId = newId("job", clock.date());
    await env.VERIFY_JOB.getByName(jobId).start({
      jobId,
      backupId: newest.id,
      requestedBy: "cron",
      mode: "full",
      copy,
      sample,
      recordedChecksum: newest.checksum,
    });
    await audit(
      jobId,
      `${bucketName}: ${sample ? `${sample.percent}% sample (from ${sample.offset}%)` : "full"} verification of ${newest.id} (${copy} copy)`,
    );
  }
}
