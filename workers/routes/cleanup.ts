/** POST /api/backup/cleanup: retention and garbage collection as a job, under the bucket's lease. */
import { newId } from "../../durable-objects/engine/ids";
import type { HandlerContext } from "../context";
import { eq } from "drizzle-orm";
import { r2Backups } from "../../schema";
import { openDatabase } from "../../durable-objects/engine/records";
import { jsonResponse, notFound } from "../http-error";
import { parseJsonBody } from "../request-body";
import { cleanupBody } from "../schemas";
import { findJob, jobResource } from "./jobs";
import { leaseConflict } from "./lease-conflict";
import { DEFAULT_TEMPLATE, findTemplate, type BackupTemplate } from "../../durable-objects/engine/settings/templates";
import { clock } from "../../durable-objects/engine/clock";

/**
 * Whose backups a cleanup keeps or expires: a template, or the backups left by a deleted one (its
 * name and bucket read from them, its rules the environment's unless the body gives them), so
 * deleting a template never leaves backups no retention can reach.
 */
async function cleanupScope(
  context: HandlerContext,
  name: string,
): Promise<Pick<BackupTemplate, "name" | "bucketName" | "retentionDays" | "keep">> {
  const template = await findTemplate(context.env, name);
  if (template) return template;
  const left = await openDatabase(context.env.DB).query.r2Backups.findFirst({
    where: eq(r2Backups.template, name),
    columns: { bucketName: true },
  });
  if (!left) throw notFound(`No backup template named ${name}, and no backups of one.`);
  return {
    name,
    bucketName: left.bucketName,
    retentionDays: context.config.BACKUP_RETENTION_DAYS,
    keep: context.config.BACKUP_KEEP,
  };
}

export async function startCleanup(context: HandlerContext): Promise<Response> {
  const body = await parseJsonBody(context.request, cleanupBody, { allowEmpty: true });
  const template = await cleanupScope(context, body.template ?? DEFAULT_TEMPLATE);
  const jobId = newId("job", clock.date());
  const result = await context.env.BUCKET_COORDINATOR.getByName(template.bucketName).startCleanup({
    jobId,
    bucketName: template.bucketName,
    requestedBy: context.principal.subject,
    dryRun: body.dryRun,
    template: template.name,
    // Without `keep` in the body, the template's rules apply (the default's: BACKUP_KEEP); rules
    // left out of a given `keep` are 0.
    policy: { retentionDays: body.retentionDays ?? template.retentionDays, keep: body.keep ?? template.keep },
  });
  if (!result.ok) throw await leaseConflict(context, template.bucketName, result, "clean up when it has finished");
  return jsonResponse({ job: await jobResource(context, await findJob(context, jobId)) }, 202);
}
