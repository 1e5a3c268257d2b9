/**
 * GET /api/backup/diff?from=&to=: what changed between two snapshots of one bucket, in key order,
 * paged. Version 2 snapshots are compared through their chunk trees, so the cost follows the
 * change (engine/snapshot-reader.ts).
 */
import { z } from "zod";
import { diffSnapshots, openBackupSnapshot, type SnapshotEntry } from "../../durable-objects/engine/snapshot-reader";
import type { HandlerContext } from "../context";
import { badRequest, jsonResponse } from "../http-error";
import { decodeCursor, encodeCursor } from "../pagination";
import { parseQuery } from "../request-body";
import { diffQuery } from "../schemas";
import { findBackup } from "./backups";
import { fileEntry } from "./file-entry";
import { requireSnapshot } from "./snapshot-state";

/** A cursor is tied to its query: the same two backups and prefix. */
const diffCursor = z.object({ k: z.string(), f: z.string(), t: z.string(), p: z.string() });

export async function diffBackups(context: HandlerContext): Promise<Response> {
  const query = parseQuery(context.url, diffQuery);
  const [from, to] = await Promise.all([findBackup(context, query.from), findBackup(context, query.to)]);
  if (from.bucketName !== to.bucketName) {
    throw badRequest(
      `from and to must be backups of one bucket: ${from.id} is of ${from.bucketName}, ${to.id} of ${to.bucketName}.`,
      {
        field: "to",
      },
    );
  }
  await requireSnapshot(context, from, "compared");
  await requireSnapshot(context, to, "compared");
  const cursor = query.cursor ? decodeCursor(query.cursor, diffCursor) : null;
  if (cursor && (cursor.f !== from.id || cursor.t !== to.id || cursor.p !== query.prefix)) {
    throw badRequest("cursor belongs to another query: repeat from, to and prefix of the first page.", {
      field: "cursor",
    });
  }
  const [older, newer] = await Promise.all([
    openBackupSnapshot(context.env, from.id),
    openBackupSnapshot(context.env, to.id),
  ]);
  if (!older || !newer)
    throw new Error(`the manifest index of ${older ? to.id : from.id} is missing from the backup bucket`);
  const page = await diffSnapshots(older, newer, {
    prefix: query.prefix,
    after: cursor?.k ?? null,
    limit: query.limit,
  });
  const present = (entry: SnapshotEntry | null) => (entry ? fileEntry(entry) : null);
  return jsonResponse({
    from: from.id,
    to: to.id,
    changes: page.changes.map((c) => ({
      path: c.key,
      change: c.change,
      before: present(c.before),
      after: present(c.after),
    })),
    nextCursor: page.after === null ? null : encodeCursor({ k: page.after, f: from.id, t: to.id, p: query.prefix }),
  });
}
