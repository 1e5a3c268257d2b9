/** Handlers of /api/backup/*: authenticate, validate, make one call, shape the response. */
import { clock } from "../../durable-objects/engine/clock";
import { z } from "zod";
import { openDatabase } from "../../durable-objects/engine/records";
import type { BackupRow } from "../../schema";
import { compileGlob, listingPrefixFor } from "../../durable-objects/engine/glob";
import { backupPage, findBackupRow, findJobRow, logPage } from "../../schema/queries";
import { fileEntry } from "./file-entry";
import { requireSnapshot } from "./snapshot-state";
import type { HandlerContext } from "../context";
import { badRequest, conflict, jsonResponse, notFound } from "../http-error";
import { decodeCursor, encodeCursor } from "../pagination";
import { watchAfterResponse } from "../../durable-objects/oversight/watchdog";
import { presentBackup, presentLog } from "../../schema/present";
import { parseJsonBody, parseQuery } from "../request-body";
import { openBackupSnapshot } from "../../durable-objects/engine/snapshot-reader";
import { DEFAULT_TEMPLATE, templateRun } from "../../durable-objects/engine/settings/templates";
import { requireTemplate } from "./templates";
import { leaseConflict } from "./lease-conflict";
import { createBackupBody, listBackupsQuery, listFilesQuery, listLogsQuery } from "../schemas";

export async function createBackup(context: HandlerContext): Promise<Response> {
  const body = await parseJsonBody(context.request, createBackupBody, { allowEmpty: true });
  // The default template is the environment's: its backups carry no template of their own.
  const template =
    body.template && body.template !== DEFAULT_TEMPLATE ? await requireTemplate(context, body.template) : null;
  const bucketName = template?.bucketName ?? context.config.BACKUP_SOURCE_BUCKET;
  const result = await context.env.BUCKET_COORDINATOR.getByName(bucketName).startBackup({
    type: body.type ?? "auto",
    trigger: "api",
    requestedBy: context.principal.subject,
    ...(template ? { template: templateRun(template) } : {}),
  });
  if (result.ok) return jsonResponse({ backup: presentBackup(result.backup) }, 202);
  if (result.reason === "incremental_disabled") {
    throw conflict(
      "Incremental backups are disabled (BACKUP_INCREMENTAL_ENABLED is false); request a full or auto backup.",
    );
  }
  throw await leaseConflict(context, bucketName, result, "back up when it has finished");
}

export async function findBackup(context: HandlerContext, id: string): Promise<BackupRow> {
  const row = await findBackupRow(openDatabase(context.env.DB), id);
  if (!row) throw notFound(`No backup with id ${id}.`);
  return row;
}

export async function getBackupStatus(context: HandlerContext, id: string): Promise<Response> {
  const row = await findBackup(context, id);
  // Answered from D1 alone; a backup that stopped moving is looked after once the answer is out.
  if (row.status === "in_progress" || row.status === "pending")
    watchAfterResponse(context.ctx, context.env, "backup", row.id, row.updatedAt);
  return jsonResponse({ backup: presentBackup(row, clock.date()) });
}

const backupCursor = z.object({ d: z.string(), i: z.string() });

export async function listBackups(context: HandlerContext): Promise<Response> {
  const query = parseQuery(context.url, listBackupsQuery);
  const after = query.cursor ? decodeCursor(query.cursor, backupCursor) : undefined;
  const rows = await backupPage(
    openDatabase(context.env.DB),
    { status: query.status, type: query.type, trigger: query.trigger, template: query.template, after },
    query.limit + 1,
  );
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  const nextCursor = rows.length > query.limit && last ? encodeCursor({ d: last.backupDate, i: last.id }) : null;
  return jsonResponse({ backups: page.map((row) => presentBackup(row, clock.date())), nextCursor });
}

const logCursor = z.object({ id: z.number().int() });

/** A backup's log, or a job's (verify, restore, cleanup, replicate), by the id given. */
export async function listBackupLogs(context: HandlerContext, id: string): Promise<Response> {
  const query = parseQuery(context.url, listLogsQuery);
  const db = openDatabase(context.env.DB);
  const backup = await findBackupRow(db, id);
  const job = backup ? null : await findJobRow(db, id);
  if (!backup && !job) throw notFound(`No backup or job with id ${id}.`);
  const afterId = query.cursor ? decodeCursor(query.cursor, logCursor).id : undefined;
  const owner = backup ? { backupId: backup.id } : { jobId: job!.id };
  const rows = await logPage(db, owner, { level: query.level, afterId }, query.limit + 1);
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  const nextCursor = rows.length > query.limit && last ? encodeCursor({ id: last.id }) : null;
  return jsonResponse({ logs: page.map(presentLog), nextCursor });
}

const filesCursor = z.object({
  c: z.number().int().min(0),
  o: z.number().int().min(0),
  p: z.string(),
  g: z.string().nullable().default(null),
});

/** The snapshot's objects in key order, read from the backup's manifest. */
export async function listBackupFiles(context: HandlerContext, id: string): Promise<Response> {
  const query = parseQuery(context.url, listFilesQuery);
  const backup = await findBackup(context, id);
  await requireSnapshot(context, backup, "listed");
  const snapshot = await openBackupSnapshot(context.env, backup.id);
  if (!snapshot) throw new Error(`manifest index of ${backup.id} is missing from the backup bucket`);
  const from = query.cursor ? decodeCursor(query.cursor, filesCursor) : null;
  const pattern = query.pattern ?? null;
  if (from && (from.p !== query.prefix || from.g !== pattern))
    throw badRequest("cursor belongs to another query: repeat the prefix and pattern of the first page.", {
      field: "cursor",
    });
  const glob = pattern === null ? null : compileGlob(pattern);
  // Only the keys under the glob's literal start are read (reports/**/*.pdf reads reports/ alone).
  const listed = listingPrefixFor(query.prefix, glob);
  if (listed === null) return jsonResponse({ files: [], nextCursor: null });
  const page = await snapshot.page({
    prefix: listed,
    limit: query.limit,
    from: from ? { chunkSeq: from.c, offset: from.o } : null,
    match: glob ? (entry) => glob.matches(entry.key) : undefined,
  });
  return jsonResponse({
    files: page.entries.map(fileEntry),
    nextCursor: page.next
      ? encodeCursor({ c: page.next.chunkSeq, o: page.next.offset, p: query.prefix, g: pattern })
      : null,
  });
}
