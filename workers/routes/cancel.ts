/**
 * POST /api/backup/cancel/:id, for a backup id or a job id. The scope depends on what is
 * cancelled (write for a backup or a verification, restore for a restore, admin for a cleanup),
 * so it is checked once the id is known. The job stops at its next step boundary and ends
 * `cancelled`; cancelling one that has ended is 409.
 */
import type { BackupJobRow } from "../../schema";
import { findBackupRow, findJobRow } from "../../schema/queries";
import { openDatabase } from "../../durable-objects/engine/records";
import { requireScope, type Scope } from "../auth";
import type { HandlerContext } from "../context";
import { badRequest, conflict, jsonResponse, notFound } from "../http-error";
import { presentBackup } from "../../schema/present";
import { findBackup } from "./backups";
import { findJob, jobResource } from "./jobs";
import { jobStub } from "../../durable-objects/oversight/watchdog";

const CANCEL_SCOPE: Record<BackupJobRow["kind"], Scope> = {
  verify: "backup:write",
  restore: "backup:restore",
  cleanup: "backup:admin",
  replicate: "backup:write",
};

export async function cancelBackupOrJob(context: HandlerContext, id: string): Promise<Response> {
  if ((await context.request.text()).trim() !== "") throw badRequest("cancel takes no body.");
  const db = openDatabase(context.env.DB);
  const backup = await findBackupRow(db, id);
  if (backup) {
    requireScope(context.principal, "backup:write");
    const accepted = await context.env.BACKUP_JOB.getByName(backup.id).cancel(context.principal.subject);
    if (!accepted)
      throw conflict(`Backup ${backup.id} is ${backup.status}: only a running backup can be cancelled.`, {
        backupId: backup.id,
        status: backup.status,
      });
    return jsonResponse({ backup: presentBackup(await findBackup(context, id)) }, 202);
  }
  const job = await findJobRow(db, id);
  if (!job) throw notFound(`No backup or job with id ${id}.`);
  requireScope(context.principal, CANCEL_SCOPE[job.kind]);
  const accepted = await jobStub(context.env, job.kind, job.id).cancel(context.principal.subject);
  if (!accepted)
    throw conflict(`Job ${job.id} is ${job.status}: only a running job can be cancelled.`, {
      jobId: job.id,
      status: job.status,
    });
  return jsonResponse({ job: await jobResource(context, await findJob(context, id)) }, 202);
}
