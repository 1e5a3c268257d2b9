/** Handlers of verify, restore and job status: authenticate, validate, start one job, shape it. */
import { restoreFilterOf } from "../../durable-objects/engine/restore/restore-filter";
import { newId } from "../../durable-objects/engine/ids";
import { openDatabase } from "../../durable-objects/engine/records";
import type { BackupJobRow, BackupRow } from "../../schema";
import { findJobRow, jobFindingLists, nextSampleOffset } from "../../schema/queries";
import type { HandlerContext } from "../context";
import { badRequest, conflict, jsonResponse, notFound } from "../http-error";
import { MAX_KEY_BYTES } from "../../durable-objects/engine/object-keys";
import { presentJob } from "../../schema/present";
import { watchAfterResponse } from "../../durable-objects/oversight/watchdog";
import { parseJsonBody } from "../request-body";
import { restoreBody, verifyBody } from "../schemas";
import { findBackup } from "./backups";
import { requireSnapshot } from "./snapshot-state";
import { leaseConflict } from "./lease-conflict";
import { clock } from "../../durable-objects/engine/clock";

/** Verifying the replica needs one bound, and a replication of this backup that has ended. */
function requireReplica(context: HandlerContext, backup: BackupRow): void {
  if (!context.env.R2_REPLICA_BUCKET)
    throw badRequest("copy: no replica is configured (bind R2_REPLICA_BUCKET).", { field: "copy" });
  if (backup.replicaStatus === null || backup.replicaStatus === "pending") {
    throw conflict(
      `Backup ${backup.id} has no finished replica to verify (replica status: ${backup.replicaStatus ?? "none"}).`,
      {
        backupId: backup.id,
        replicaStatus: backup.replicaStatus,
      },
    );
  }
}

/**
 * A target prefix must leave every restored key within R2's 1,024 bytes: checked in bytes against
 * the longest key of the snapshot before anything starts. Backups made before the longest key was
 * recorded (0) are checked key by key during the restore instead.
 */
function requireKeysFit(backup: BackupRow, targetPrefix: string): void {
  if (!targetPrefix || backup.maxKeyBytes === 0) return;
  const longest = new TextEncoder().encode(targetPrefix).length + backup.maxKeyBytes;
  if (longest <= MAX_KEY_BYTES) return;
  throw badRequest(
    `targetPrefix is too long for this backup: its longest key would become ${longest} bytes, and R2 allows ${MAX_KEY_BYTES}; use a prefix of at most ${MAX_KEY_BYTES - backup.maxKeyBytes} bytes.`,
    { field: "targetPrefix", longestKeyBytes: longest, limit: MAX_KEY_BYTES },
  );
}

export async function startVerify(context: HandlerContext, id: string): Promise<Response> {
  const body = await parseJsonBody(context.request, verifyBody, { allowEmpty: true });
  const backup = await findBackup(context, id);
  await requireSnapshot(context, backup, "verified");
  if (body.copy === "replica") requireReplica(context, backup);
  // Each sampled run takes the window after the last one, so repeated samples cover the keyspace.
  const sample =
    body.samplePercent !== undefined && body.samplePercent < 100
      ? { percent: body.samplePercent, offset: await nextSampleOffset(openDatabase(context.env.DB), backup.id) }
      : null;
  const jobId = newId("job", clock.date());
  await context.env.VERIFY_JOB.getByName(jobId).start({
    jobId,
    backupId: backup.id,
    requestedBy: context.principal.subject,
    mode: body.mode,
    copy: body.copy,
    sample,
    recordedChecksum: backup.checksum,
  });
  return jsonResponse({ job: await jobResource(context, await findJob(context, jobId)) }, 202);
}

export async function startRestore(context: HandlerContext, id: string): Promise<Response> {
  const body = await parseJsonBody(context.request, restoreBody, { allowEmpty: true });
  const backup = await findBackup(context, id);
  await requireSnapshot(context, backup, "restored");
  requireKeysFit(backup, body.targetPrefix);
  const jobId = newId("job", clock.date());
  const request = {
    jobId,
    backupId: backup.id,
    bucketName: backup.bucketName,
    sourceBinding: backup.sourceBinding,
    requestedBy: context.principal.subject,
    options: {
      overwriteExisting: body.overwriteExisting,
      verifyAfterRestore: body.verifyAfterRestore,
      dryRun: body.dryRun,
      targetPrefix: body.targetPrefix,
      filter: restoreFilterOf(body.filters),
    },
  };
  if (body.dryRun) {
    // A dry run writes nothing, so it needs no lease and may run beside a backup.
    await context.env.RESTORE_JOB.getByName(jobId).start({ ...request, holdsLease: false });
  } else {
    const coordinator = context.env.BUCKET_COORDINATOR.getByName(backup.bucketName);
    const result = await coordinator.startRestore(request);
    if (!result.ok) throw await leaseConflict(context, backup.bucketName, result, "restore when it has finished");
  }
  return jsonResponse({ job: await jobResource(context, await findJob(context, jobId)) }, 202);
}

/**
 * Copies a backup to the replica again (a replication that failed or was incomplete, or a backup
 * made before the replica was bound). A new job each time; objects already there are not copied.
 */
export async function startReplication(context: HandlerContext, id: string): Promise<Response> {
  if ((await context.request.text()).trim() !== "") throw badRequest("replicate takes no body.");
  const backup = await findBackup(context, id);
  if (!context.env.R2_REPLICA_BUCKET) throw badRequest("No replica is configured (bind R2_REPLICA_BUCKET).");
  await requireSnapshot(context, backup, "replicated");
  if (backup.replicaStatus === "pending") {
    throw conflict(`Backup ${backup.id} is being replicated already.`, {
      backupId: backup.id,
      replicaStatus: backup.replicaStatus,
    });
  }
  const jobId = newId("job", clock.date());
  await context.env.REPLICATE_JOB.getByName(jobId).start({
    jobId,
    backupId: backup.id,
    bucketName: backup.bucketName,
    requestedBy: context.principal.subject,
  });
  return jsonResponse({ job: await jobResource(context, await findJob(context, jobId)) }, 202);
}

export async function findJob(context: HandlerContext, jobId: string): Promise<BackupJobRow> {
  const row = await findJobRow(openDatabase(context.env.DB), jobId);
  if (!row) throw notFound(`No job with id ${jobId}.`);
  return row;
}

/**
 * The job as the API shows it: its row, and once it has a result, the lists of that result read
 * from its findings (a running job shows no result, so a status poll reads no findings).
 */
export async function jobResource(context: HandlerContext, row: BackupJobRow) {
  return presentJob(row, row.result ? await jobFindingLists(openDatabase(context.env.DB), row.id) : null);
}

export async function getJob(context: HandlerContext, jobId: string): Promise<Response> {
  const row = await findJob(context, jobId);
  // Answered from D1 alone; a job that stopped moving is looked after once the answer is out.
  if (row.status === "in_progress")
    watchAfterResponse(context.ctx, context.env, row.kind, row.id, row.updatedAt ?? row.createdAt);
  return jsonResponse({ job: await jobResource(context, row) });
}
