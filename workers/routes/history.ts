/**
 * GET /api/backup/history?key=: every distinct version of one key across a bucket's kept
 * (completed and partial) backups, newest first (engine/key-history.ts). Each backup is asked for
 * the key alone (one descent of its chunk tree; pages two backups share are read once), never
 * listed whole, and a few at a time. A backup without the key is a deletion only when it could
 * have held it: not when the key failed to be read in it (its failed files) or lies outside its
 * template's prefixes (or its template no longer exists).
 */
import { and, eq } from "drizzle-orm";
import { z } from "zod";
import { backupFiles, type BackupRow } from "../../schema";
import { backupPage } from "../../schema/queries";
import { inScope, type KeyScope } from "../../durable-objects/engine/backup/key-scope";
import { mapWithConcurrency } from "../../durable-objects/engine/concurrency";
import { KeyVersionWalk, type KeyObservation } from "../../durable-objects/engine/key-history";
import { openDatabase, type Database } from "../../durable-objects/engine/records";
import { readKeyring } from "../../durable-objects/engine/settings/engine-settings";
import { allTemplates } from "../../durable-objects/engine/settings/templates";
import { openSnapshot, PageCache } from "../../durable-objects/engine/snapshot-reader";
import type { HandlerContext } from "../context";
import { badRequest, conflict, jsonResponse } from "../http-error";
import { decodeCursor, encodeCursor } from "../pagination";
import { parseQuery } from "../request-body";
import { historyQuery } from "../schemas";
import { fileEntry } from "./file-entry";

/** Backups read from D1 at a time, and asked for the key at once. */
const BATCH = 24;
const LOOKUPS_IN_FLIGHT = 6;

/** Where the next page starts (after that backup), for one key and bucket, with the walk's carried deletion. */
const historyCursor = z.object({
  k: z.string(),
  b: z.string(),
  d: z.string(),
  i: z.string(),
  a: z.string().nullable(),
});

export async function keyHistory(context: HandlerContext): Promise<Response> {
  const query = parseQuery(context.url, historyQuery);
  const bucket = query.bucket ?? context.config.BACKUP_SOURCE_BUCKET;
  const cursor = query.cursor ? decodeCursor(query.cursor, historyCursor) : null;
  if (cursor && (cursor.k !== query.key || cursor.b !== bucket))
    throw badRequest("cursor belongs to another query: repeat key and bucket of the first page.", { field: "cursor" });

  const db = openDatabase(context.env.DB);
  const scopes = new Map<string, KeyScope>((await allTemplates(context.env)).map((t) => [t.name, t]));
  const keyring = await readKeyring(context.env);
  const pages = new PageCache();
  const observe = (backup: BackupRow) => observation(context, db, backup, query.key, { scopes, keyring, pages });

  const walk = new KeyVersionWalk(query.limit, cursor?.a ?? null);
  // The last backup the walk took: a full page resumes after it (the one it refused comes next).
  let taken = cursor ? { d: cursor.d, i: cursor.i } : undefined;
  for (;;) {
    const rows = await backupPage(db, { status: "kept", bucketName: bucket, after: taken }, BATCH);
    const seen = await mapWithConcurrency(rows, LOOKUPS_IN_FLIGHT, observe);
    const refused = seen.findIndex((o) => !walk.observe(o));
    if (refused >= 0) {
      const last = rows[refused - 1]!; // never the first: a page's first version always fits
      taken = { d: last.backupDate, i: last.id };
      break;
    }
    if (rows.length < BATCH) break;
    taken = { d: rows.at(-1)!.backupDate, i: rows.at(-1)!.id };
  }
  const { versions, next } = walk.finish();
  return jsonResponse({
    key: query.key,
    versions: versions.map((v) => ({
      checksum: v.entry.sha256,
      size: v.entry.size,
      lastModified: v.entry.lastModified,
      contentType: fileEntry(v.entry).contentType,
      firstBackupId: v.firstBackupId,
      firstSeen: v.firstSeen,
      lastBackupId: v.lastBackupId,
      lastSeen: v.lastSeen,
      deletedAt: v.deletedAt,
      backupIds: v.backupIds,
    })),
    nextCursor: next ? encodeCursor({ k: query.key, b: bucket, d: taken!.d, i: taken!.i, a: next.absentSince }) : null,
  });
}

async function observation(
  context: HandlerContext,
  db: Database,
  backup: BackupRow,
  key: string,
  reading: { scopes: Map<string, KeyScope>; keyring: Awaited<ReturnType<typeof readKeyring>>; pages: PageCache },
): Promise<KeyObservation> {
  const at = { backupId: backup.id, at: backup.backupDate };
  const snapshot = await openSnapshot(context.env.R2_BACKUP_BUCKET, reading.keyring, backup.id, {
    replica: context.env.R2_REPLICA_BUCKET ?? null,
    pages: reading.pages,
  });
  // A kept backup whose index is gone (damage a verification reports): the history cannot be told
  // whole without it, and says which backup to look at rather than skipping it silently.
  if (!snapshot)
    throw conflict(
      `The manifest of kept backup ${backup.id} is missing from the backup store${context.env.R2_REPLICA_BUCKET ? " and the replica" : ""}: the versions of ${JSON.stringify(key)} cannot be listed without it. Verify that backup.`,
      { backupId: backup.id },
    );
  const entry = await snapshot.entry(key);
  if (entry) return { ...at, seen: { kind: "present", entry } };
  const scope = reading.scopes.get(backup.template);
  if (!scope || !inScope(scope, key)) return { ...at, seen: { kind: "unknown" } };
  const [failed] = await db
    .select({ id: backupFiles.id })
    .from(backupFiles)
    .where(and(eq(backupFiles.backupId, backup.id), eq(backupFiles.filePath, key), eq(backupFiles.status, "failed")))
    .limit(1);
  return { ...at, seen: failed ? { kind: "unknown" } : { kind: "absent" } };
}
