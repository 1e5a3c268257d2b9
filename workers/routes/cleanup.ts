/** POST /api/backup/cleanup: retention and garbage collection as a job, under the bucket's lease. */
import { newId } from "../../durable-objects/ids";
import type { HandlerContext } from "../context";
import { conflict, jsonResponse } from "../http-error";
import { parseJsonBody } from "../request-body";
import { cleanupBody } from "../schemas";
import { findJob, jobResource } from "./jobs";

export async function startCleanup(context: HandlerContext): Promise<Response> {
  const body = await parseJsonBody(context.request, cleanupBody, { allowEmpty: true });
  const { config } = context;
  const jobId = newId("job", new Date());
  const result = await context.env.BUCKET_COORDINATOR.getByName(config.BACKUP_SOURCE_BUCKET).startCleanup({
    jobId,
    bucketName: config.BACKUP_SOURCE_BUCKET,
    requestedBy: context.principal.subject,
    dryRun: body.dryRun,
    // Without `keep` in the body, BACKUP_KEEP applies; rules left out of a given `keep` are 0.
    policy: { retentionDays: body.retentionDays ?? config.BACKUP_RETENTION_DAYS, keep: body.keep ?? config.BACKUP_KEEP },
  });
  if (!result.ok) {
    throw conflict(`A ${result.kind} of ${config.BACKUP_SOURCE_BUCKET} is running (${result.holderId}); clean up when it has finished.`, {
      ...(result.kind === "backup" ? { backupId: result.holderId } : { jobId: result.holderId }),
      kind: result.kind,
    });
  }
  return jsonResponse({ job: await jobResource(context, await findJob(context, jobId)) }, 202);
}
