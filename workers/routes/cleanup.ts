/** POST /api/backup/cleanup: retention and garbage collection as a job, under the bucket's lease. */
import { newId } from "../../durable-objects/ids";
import type { HandlerContext } from "../context";
import { conflict, jsonResponse } from "../http-error";
import { parseJsonBody } from "../request-body";
import { cleanupBody } from "../schemas";
import { findJob, jobResource } from "./jobs";
import { requireTemplate } from "./templates";
import { DEFAULT_TEMPLATE } from "../../durable-objects/templates";

export async function startCleanup(context: HandlerContext): Promise<Response> {
  const body = await parseJsonBody(context.request, cleanupBody, { allowEmpty: true });
  const template = await requireTemplate(context, body.template ?? DEFAULT_TEMPLATE);
  const jobId = newId("job", new Date());
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
  if (!result.ok) {
    throw conflict(`A ${result.kind} of ${template.bucketName} is running (${result.holderId}); clean up when it has finished.`, {
      ...(result.kind === "backup" ? { backupId: result.holderId } : { jobId: result.holderId }),
      kind: result.kind,
    });
  }
  return jsonResponse({ job: await jobResource(context, await findJob(context, jobId)) }, 202);
}
