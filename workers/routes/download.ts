/**
 * GET (and HEAD) /api/backup/object/:id?key=: one object's content as it was in a backup, streamed
 * with its stored HTTP metadata, whole or by one byte range (engine/object-content.ts says what
 * each read proves). A whole download holds back its last bytes until the content's SHA-256
 * matches the manifest's; a mismatch, or a read that fails midway, ends the stream in an error
 * (the client sees the transfer fail short of its Content-Length) and is logged as an error in
 * the backup's log.
 */
import { openContent, type ContentRange } from "../../durable-objects/engine/object-content";
import { openSnapshot, type SnapshotEntry } from "../../durable-objects/engine/snapshot-reader";
import { insertLog, openDatabase } from "../../durable-objects/engine/records";
import { readKeyring } from "../../durable-objects/engine/settings/engine-settings";
import { clock } from "../../durable-objects/engine/clock";
import { parseRange } from "../byte-range";
import type { HandlerContext } from "../context";
import { isHeadOnly } from "../head-requests";
import { conflict, HttpError, notFound } from "../http-error";
import { parseQuery } from "../request-body";
import { objectQuery } from "../schemas";
import { findBackup } from "./backups";
import { objectHeaders } from "./object-headers";
import { requireSnapshot } from "./snapshot-state";

export async function downloadObject(context: HandlerContext): Promise<Response> {
  const { key } = parseQuery(context.url, objectQuery);
  const backup = await findBackup(context, context.request.params.id!);
  await requireSnapshot(context, backup, "downloaded");
  // One keyring for the manifest and the content; the replica behind both, as a restore reads.
  const copies = {
    backup: context.env.R2_BACKUP_BUCKET,
    replica: context.env.R2_REPLICA_BUCKET ?? null,
    keyring: await readKeyring(context.env),
  };
  const snapshot = await openSnapshot(copies.backup, copies.keyring, backup.id, { replica: copies.replica });
  if (!snapshot)
    throw conflict(`The manifest of backup ${backup.id} is missing from the backup store; verify the backup.`, {
      backupId: backup.id,
    });
  const entry = await snapshot.entry(key);
  if (!entry) throw notFound(`Backup ${backup.id} holds no object with the key ${JSON.stringify(key)}.`);

  const headers = objectHeaders(entry);
  const range = rangeAsked(context.request, entry, headers.get("etag")!);
  if (range) {
    headers.set("content-range", `bytes ${range.start}-${range.end}/${entry.size}`);
    headers.set("content-length", String(range.end - range.start + 1));
  }
  const status = range ? 206 : 200;
  if (isHeadOnly(context.request)) return new Response(null, { status, headers });

  const failed = (why: string) => context.ctx.waitUntil(logFailure(context, backup.id, entry, why));
  const content = await openContent(copies, entry, range, failed);
  if (content.kind === "unavailable") {
    failed(content.why);
    throw conflict(
      `The content of ${JSON.stringify(key)} in backup ${backup.id} cannot be read: ${content.why}. Verify the backup.`,
      { backupId: backup.id, blob: entry.blob },
    );
  }
  if (content.fromReplica) headers.set("x-r2-backup-copy", "replica");
  // A body of known length: the runtime sends it with its Content-Length, so a transfer the check
  // ends early is a visibly incomplete message, never one a client could take as complete (a
  // chunked body that errors is closed as if it had ended). The failure itself is logged above.
  const sent = new FixedLengthStream(Number(headers.get("content-length")));
  content.stream.pipeTo(sent.writable).catch(() => undefined);
  // The stored Content-Encoding describes the bytes as they are: sent as they are, not encoded again.
  return new Response(sent.readable, {
    status,
    headers,
    encodeBody: entry.httpMetadata.contentEncoding ? "manual" : "automatic",
  });
}

/**
 * The range to serve, or null for the whole object. An `If-Range` that is not this content's
 * ETag means the client's earlier part was of other content: the whole object is sent instead.
 */
function rangeAsked(request: Request, entry: SnapshotEntry, etag: string): ContentRange | null {
  const ifRange = request.headers.get("if-range");
  if (ifRange !== null && ifRange !== etag) return null;
  const range = parseRange(request.headers.get("range"), entry.size);
  if (range.kind === "whole") return null;
  if (range.kind === "range") return range;
  throw new HttpError(
    416,
    "range_not_satisfiable",
    `Range ${JSON.stringify(request.headers.get("range"))} cannot be served: ${range.why}.`,
    { size: entry.size },
    { headers: { "content-range": `bytes */${entry.size}` } },
  );
}

async function logFailure(context: HandlerContext, backupId: string, entry: SnapshotEntry, why: string) {
  const message = `Download of ${entry.key} from backup ${backupId} failed: ${why}.`;
  console.error(message);
  const db = openDatabase(context.env.DB);
  try {
    await insertLog(db, {
      eventKey: `${backupId}:download-failed:${crypto.randomUUID()}`,
      backupId,
      timestamp: clock.date().toISOString(),
      eventType: "error",
      level: "error",
      message,
      requestedBy: context.principal.subject,
    });
  } catch (error) {
    console.error(`could not log the failed download of ${entry.key}`, error);
  }
}
