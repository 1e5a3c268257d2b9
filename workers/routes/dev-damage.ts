/**
 * POST /api/dev/damage (local development only, like the other dev routes): deletes (or, with
 * `how: "alter"`, changes the last byte of) the blob that holds one object of a backup, so that
 * verify, the `verification_failed` alert, its webhook and a download's check can be seen locally.
 * An altered blob is read whole into memory: a development route, for the small objects of a demo. It runs inside the server, so it is safe while the server uses the state.
 */
import { openBackupSnapshot } from "../../durable-objects/engine/snapshot-reader";
import type { HandlerContext } from "../context";
import { jsonResponse, notFound } from "../http-error";
import { parseJsonBody } from "../request-body";
import { devDamageBody } from "../schemas";
import { findBackup } from "./backups";
import { requireDevRoutes } from "./dev";
import { requireSnapshot } from "./snapshot-state";

export async function devDamage(context: HandlerContext): Promise<Response> {
  requireDevRoutes(context);
  const body = await parseJsonBody(context.request, devDamageBody);
  const backup = await findBackup(context, body.backupId);
  await requireSnapshot(context, backup, "verified");
  const snapshot = await openBackupSnapshot(context.env, backup.id);
  if (!snapshot) throw new Error(`manifest index of ${backup.id} is missing from the backup bucket`);
  // The named key, or the snapshot's first object in key order.
  const entry =
    body.key === undefined ? (await snapshot.page({ limit: 1 })).entries[0] : await snapshot.entry(body.key);
  if (!entry)
    throw notFound(
      body.key === undefined
        ? `Backup ${backup.id} holds no objects.`
        : `Backup ${backup.id} holds no object ${body.key}.`,
    );
  if (body.how === "alter") {
    // Same size and metadata, last byte changed: only reading the content can tell. Streamed
    // through, so a blob of whatever size is altered without being held.
    const stored = await context.env.R2_BACKUP_BUCKET.get(entry.blob);
    if (!stored) throw notFound(`The blob of ${entry.key} (${entry.blob}) is already gone.`);
    let seen = 0;
    const lastByteFlipped = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.length;
        if (seen === stored.size && chunk.length > 0) {
          chunk = chunk.slice();
          chunk[chunk.length - 1] = chunk.at(-1)! ^ 0xff;
        }
        controller.enqueue(chunk);
      },
    });
    await context.env.R2_BACKUP_BUCKET.put(
      entry.blob,
      stored.body.pipeThrough(lastByteFlipped).pipeThrough(new FixedLengthStream(stored.size)),
      { httpMetadata: stored.httpMetadata, customMetadata: stored.customMetadata },
    );
    return jsonResponse({ backupId: backup.id, key: entry.key, blobAltered: entry.blob });
  }
  await context.env.R2_BACKUP_BUCKET.delete(entry.blob);
  return jsonResponse({ backupId: backup.id, key: entry.key, blobDeleted: entry.blob });
}
