/**
 * Legal holds (admin, audited): POST /api/backup/hold/:id places one, and a held backup never
 * expires; DELETE asks for its release, which takes effect BACKUP_HOLD_RELEASE_DELAY_HOURS later
 * (the backup shows `hold.releaseAt` meanwhile), so that a stolen admin token cannot lift holds and
 * expire the last good backups at once; a new hold before then cancels the release. Each change
 * is also a line in the backup's log.
 */
import { clock } from "../../durable-objects/engine/clock";
import { insertLog, openDatabase, runBatch, updateBackup } from "../../durable-objects/engine/records";
import { presentBackup } from "../../schema/present";
import { holdStands, type BackupRow, type WebhookEvent } from "../../schema";
import type { HandlerContext } from "../context";
import { conflict, jsonResponse } from "../http-error";
import { parseJsonBody } from "../request-body";
import { holdBody } from "../schemas";
import { apiDeliveries, wakeAfterCommit } from "./api-deliveries";
import { findBackup } from "./backups";
import { requireSnapshot } from "./snapshot-state";

const HOUR_MS = 3_600_000;

export async function placeHold(context: HandlerContext, id: string): Promise<Response> {
  const body = await parseJsonBody(context.request, holdBody, { allowEmpty: true });
  const backup = await findBackup(context, id);
  await requireSnapshot(context, backup, "held");
  const now = clock.date();
  const by = context.principal.subject;
  if (holdStands(backup, now) && backup.holdReleaseAt === null) return answer(backup, now); // held already
  const cancelling = holdStands(backup, now);
  const values = cancelling
    ? { holdReleaseAt: null }
    : { holdBy: by, holdAt: now.toISOString(), holdReason: body.reason ?? null, holdReleaseAt: null };
  const message = cancelling
    ? `The release of its legal hold (due ${backup.holdReleaseAt}) was cancelled by ${by}: the hold stands.`
    : `Legal hold placed by ${by}${body.reason ? `: ${body.reason}` : ""}. It never expires until the hold is released.`;
  await record(context, backup, values, "hold", message, now, cancelling ? "backup.hold_release_cancelled" : null);
  return answer({ ...backup, ...values }, now);
}

export async function releaseHold(context: HandlerContext, id: string): Promise<Response> {
  const backup = await findBackup(context, id);
  const now = clock.date();
  if (!holdStands(backup, now))
    throw conflict(`Backup ${backup.id} is not under a legal hold.`, { backupId: backup.id });
  if (backup.holdReleaseAt !== null) return answer(backup, now); // asked for already
  const delayHours = context.config.BACKUP_HOLD_RELEASE_DELAY_HOURS;
  const releaseAt = new Date(now.getTime() + delayHours * HOUR_MS).toISOString();
  const by = context.principal.subject;
  const message =
    delayHours === 0
      ? `Legal hold released by ${by}.`
      : `Release of its legal hold asked for by ${by}: it takes effect at ${releaseAt} (BACKUP_HOLD_RELEASE_DELAY_HOURS ${delayHours}); placing the hold again before then cancels it.`;
  await record(context, backup, { holdReleaseAt: releaseAt }, "release", message, now, "backup.hold_release_requested");
  return answer({ ...backup, holdReleaseAt: releaseAt }, now);
}

async function record(
  context: HandlerContext,
  backup: BackupRow,
  values: Partial<BackupRow>,
  event: "hold" | "release",
  message: string,
  now: Date,
  /** The webhook it sends: a release asked for or cancelled (placing a hold sends none). */
  webhook: Extract<WebhookEvent, "backup.hold_release_requested" | "backup.hold_release_cancelled"> | null,
) {
  const db = openDatabase(context.env.DB);
  await runBatch(db, [
    updateBackup(db, backup.id, values),
    ...(webhook
      ? apiDeliveries(context, db, backup.id, webhook, { backup: presentBackup({ ...backup, ...values }, now) })
      : []),
    insertLog(db, {
      eventKey: `${backup.id}:${event}:${now.toISOString()}:${crypto.randomUUID()}`,
      backupId: backup.id,
      timestamp: now.toISOString(),
      eventType: "cleanup",
      level: "warn",
      message,
      requestedBy: context.principal.subject,
    }),
  ]);
  if (webhook) wakeAfterCommit(context);
}

/** The backup as it now stands (the row just written, not read again). */
function answer(backup: BackupRow, now: Date) {
  return jsonResponse({ backup: presentBackup(backup, now) });
}
