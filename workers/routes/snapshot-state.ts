/**
 * Only a completed or partial backup has a snapshot to list, verify, restore or replicate. The
 * refusal (409) says why in the operator's terms: still running, ended without one, or expired
 * (when, and by which cleanup) with its snapshot deleted.
 */
import { and, eq } from "drizzle-orm";
import { jobFindings, type BackupRow } from "../../schema";
import { openDatabase } from "../../durable-objects/engine/records";
import type { HandlerContext } from "../context";
import { conflict } from "../http-error";

export async function requireSnapshot(
  context: HandlerContext,
  backup: BackupRow,
  action: "listed" | "verified" | "restored" | "replicated" | "compared" | "downloaded" | "held",
): Promise<void> {
  if (backup.status === "completed" || backup.status === "partial") return;
  const details = { backupId: backup.id, status: backup.status };
  if (backup.status === "expired") {
    const [expiry] = await openDatabase(context.env.DB)
      .select({ jobId: jobFindings.jobId })
      .from(jobFindings)
      .where(and(eq(jobFindings.list, "expired"), eq(jobFindings.path, backup.id)))
      .limit(1);
    const by = expiry ? `cleanup ${expiry.jobId}` : "a cleanup";
    throw conflict(
      `Backup ${backup.id} expired at ${backup.updatedAt} (by ${by}): its snapshot was deleted, so it cannot be ${action}.`,
      {
        ...details,
        expiredAt: backup.updatedAt,
        ...(expiry ? { cleanupJobId: expiry.jobId } : {}),
      },
    );
  }
  const why =
    backup.status === "pending" || backup.status === "in_progress"
      ? "it is still running"
      : `it ended ${backup.status}, without a snapshot`;
  throw conflict(
    `Backup ${backup.id} is ${backup.status}: ${why}; only a completed or partial backup can be ${action}.`,
    details,
  );
}
