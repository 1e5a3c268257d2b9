/**
 * The 409 a backup, restore or cleanup gets while another job holds the bucket's lease
 * (BucketCoordinator). A holder whose row already shows how it ended is finishing, not running:
 * a backup records `completed` first and checks its alerts before it lets go of the bucket, so a
 * client that starts a restore the moment it reads `completed` is told that, with Retry-After,
 * rather than that the backup is still running.
 */
import type { HandlerContext } from "../context";
import { openDatabase } from "../../durable-objects/engine/records";
import { findBackupRow, findJobRow } from "../../schema/queries";
import { HttpError } from "../http-error";

export interface LeaseHolder {
  holderId: string;
  kind: "backup" | "restore" | "cleanup";
}

/** Seconds a client waits before asking again when the holder is finishing. */
const FINISHING_RETRY_SECONDS = 1;

/** `then`: what the caller may do once the holder has finished ("restore when it has finished"). */
export async function leaseConflict(
  context: HandlerContext,
  bucketName: string,
  holder: LeaseHolder,
  then: string,
): Promise<HttpError> {
  const details = {
    ...(holder.kind === "backup" ? { backupId: holder.holderId } : { jobId: holder.holderId }),
    kind: holder.kind,
  };
  const db = openDatabase(context.env.DB);
  // A failed lookup only loses the finer answer: the conflict stands either way.
  const lookup = holder.kind === "backup" ? findBackupRow(db, holder.holderId) : findJobRow(db, holder.holderId);
  const row = await lookup.catch((error: unknown) => {
    console.warn(`lease conflict: could not read the row of ${holder.kind} ${holder.holderId}`, error);
    return undefined;
  });
  if (row && row.status !== "pending" && row.status !== "in_progress") {
    return new HttpError(
      409,
      "conflict",
      `A ${holder.kind} of ${bucketName} (${holder.holderId}) has ended (${row.status}) and is letting go of the bucket; try again in a moment.`,
      { ...details, finishing: true },
      { headers: { "retry-after": String(FINISHING_RETRY_SECONDS) } },
    );
  }
  return new HttpError(409, "conflict", `A ${holder.kind} of ${bucketName} is running (${holder.holderId}); ${then}.`, {
    ...details,
    finishing: false,
  });
}
