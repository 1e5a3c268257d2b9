/** Handlers of verify, restore and job status: authenticate, validate, start one job, shape it. */
import { and, count, eq, isNotNull } from "drizzle-orm";
import { newId } from "../../durable-objects/ids";
import { openDatabase } from "../../durable-objects/engine/records";
import { backupJobs, type BackupJobRow, type BackupRow } from "../../schema";
import type { HandlerContext } from "../context";
import { conflict, jsonResponse, notFound } from "../http-error";
import { presentJob } from "../present";
import { pokeJob } from "../watchdog";
import { parseJsonBody } from "../request-body";
import { restoreBody, verifyBody } from "../schemas";
import { findBackup } from "./backups";

/** Only a finished backup has a complete manifest to verify or restore. */
function requireRestorable(backup: BackupRow, action: "verify" | "restore"): void {
  if (backup.status === "completed" || backup.status === "partial") return;
  throw conflict(`Backup ${backup.id} is ${backup.status}: only a completed or partial backup can be ${action === "verify" ? "verified" : "restored"}.`, {
    backupId: backup.id,
    status: backup.status,
  });
}

export async function startVerify(context: HandlerContext, id: string): Promise<Response> {
  const body = await parseJsonBody(context.request, verifyBody, { allowEmpty: true });
  const backup = await findBackup(context, id);
  requireRestorable(backup, "verify");
  const db = openDatabase(context.env.DB);
  let sample: { percent: number; offset: number } | null = null;
  if (body.samplePercent !== undefined && body.samplePercent < 100) {
    // Each sampled run takes the next window of the keyspace, so repeated samples cover it all.
    const [previous] = await db
      .select({ n: count() })
      .from(backupJobs)
      .where(and(eq(backupJobs.backupId, backup.id), eq(backupJobs.kind, "verify"), isNotNull(backupJobs.result)));
    sample = { percent: body.samplePercent, offset: ((previous?.n ?? 0) * body.samplePercent) % 100 };
  }
  const jobId = newId("job", new Date());
  await context.env.VERIFY_JOB.get(context.env.VERIFY_JOB.idFromName(jobId)).start({
    jobId,
    backupId: backup.id,
    requestedBy: context.principal.subject,
    mode: body.mode,
    sample,
    recordedChecksum: backup.checksum,
  });
  return jsonResponse({ job: presentJob(await findJob(context, jobId)) }, 202);
}

export async function startRestore(context: HandlerContext, id: string): Promise<Response> {
  const body = await parseJsonBody(context.request, restoreBody, { allowEmpty: true });
  const backup = await findBackup(context, id);
  requireRestorable(backup, "restore");
  const jobId = newId("job", new Date());
  const request = {
    jobId,
    backupId: backup.id,
    bucketName: backup.bucketName,
    requestedBy: context.principal.subject,
    options: {
      overwriteExisting: body.overwriteExisting,
      verifyAfterRestore: body.verifyAfterRestore,
      dryRun: body.dryRun,
      targetPrefix: body.targetPrefix,
      filter: {
        pathPrefix: body.filters.pathPrefix,
        extensions: body.filters.fileExtensions ?? [],
        modifiedFrom: body.filters.dateRange?.start ?? null,
        modifiedTo: body.filters.dateRange?.end ?? null,
      },
    },
  };
  if (body.dryRun) {
    // A dry run writes nothing, so it needs no lease and may run beside a backup.
    await context.env.RESTORE_JOB.get(context.env.RESTORE_JOB.idFromName(jobId)).start({ ...request, holdsLease: false });
  } else {
    const coordinator = context.env.BUCKET_COORDINATOR.get(context.env.BUCKET_COORDINATOR.idFromName(backup.bucketName));
    const result = await coordinator.startRestore(request);
    if (!result.ok) {
      throw conflict(`A ${result.kind} of ${backup.bucketName} is running (${result.holderId}); restore when it has finished.`, {
        ...(result.kind === "backup" ? { backupId: result.holderId } : { jobId: result.holderId }),
        kind: result.kind,
      });
    }
  }
  return jsonResponse({ job: presentJob(await findJob(context, jobId)) }, 202);
}

async function findJob(context: HandlerContext, jobId: string): Promise<BackupJobRow> {
  const row = jobId.length <= 128 ? await openDatabase(context.env.DB).query.backupJobs.findFirst({ where: eq(backupJobs.id, jobId) }) : undefined;
  if (!row) throw notFound(`No job with id ${jobId}.`);
  return row;
}

export async function getJob(context: HandlerContext, jobId: string): Promise<Response> {
  const row = await findJob(context, jobId);
  if (row.status === "in_progress" && (row.kind === "verify" || row.kind === "restore")) {
    // A status read doubles as a watchdog: it re-arms a job whose alarm was lost.
    const namespace = row.kind === "verify" ? context.env.VERIFY_JOB : context.env.RESTORE_JOB;
    await pokeJob(context.ctx, namespace.get(namespace.idFromName(row.id)), `${row.kind} job ${row.id}`);
  }
  return jsonResponse({ job: presentJob(row) });
}
