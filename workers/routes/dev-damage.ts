/**
 * POST /api/dev/damage (local development only, like the other dev routes): deletes the blob that
 * holds one object of a backup, so that verify, the `verification_failed` alert and its webhook
 * can be seen locally. It runs inside the server, so it is safe while the server uses the state.
 */
import { readKeyring } from "../../durable-objects/engine-settings";
import { readIndex } from "../../durable-objects/engine/format/manifest";
import { readManifestPage } from "../../durable-objects/engine/format/manifest-pager";
import { locatorOf, openManifest } from "../../durable-objects/engine/format/manifest-reader";
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
  const bucket = context.env.R2_BACKUP_BUCKET;
  const keyring = await readKeyring(context.env);
  const index = await readIndex(bucket, keyring, backup.id);
  if (!index) throw new Error(`manifest index of ${backup.id} is missing from the backup bucket`);
  // The named key, or the snapshot's first object in key order.
  const page = await readManifestPage(openManifest(bucket, keyring, locatorOf(index)), { prefix: body.key ?? "", limit: 1, from: null });
  const entry = page.entries[0];
  if (!entry || (body.key !== undefined && entry.key !== body.key)) throw notFound(`Backup ${backup.id} holds no object ${body.key}.`);
  await bucket.delete(entry.blob);
  return jsonResponse({ backupId: backup.id, key: entry.key, blobDeleted: entry.blob });
}
