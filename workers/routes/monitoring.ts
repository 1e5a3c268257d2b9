/** GET /api/backup/stats and GET /api/backup/alerts: read-only, answered from D1. */
import { and, desc, eq, isNotNull, isNull, lt, ne, or, type SQL } from "drizzle-orm";
import { z } from "zod";
import { alerts, holdStands, massChangeHolding, r2Backups } from "../../schema";
import { clock } from "../../durable-objects/engine/clock";
import { getConfig } from "../../durable-objects/engine/settings/config";
import { presentAlert } from "../../schema/present";
import { readStats } from "../../schema/stats";
import { openDatabase } from "../../durable-objects/engine/records";
import type { HandlerContext } from "../context";
import { jsonResponse } from "../http-error";
import { decodeCursor, encodeCursor } from "../pagination";
import { parseQuery } from "../request-body";
import { listAlertsQuery } from "../schemas";

/** The figures from D1, and from the coordinator the changes no backup covers yet (event backups). */
export async function getStats(context: HandlerContext): Promise<Response> {
  const config = getConfig(context.env);
  const db = openDatabase(context.env.DB);
  const now = clock.date();
  const [stats, changes, held, massChanges] = await Promise.all([
    readStats(db, config.BACKUP_SCHEDULE),
    context.env.BUCKET_COORDINATOR.getByName(config.BACKUP_SOURCE_BUCKET).changeSummary(),
    db
      .select({ holdAt: r2Backups.holdAt, holdReleaseAt: r2Backups.holdReleaseAt })
      .from(r2Backups)
      .where(and(isNotNull(r2Backups.holdAt), ne(r2Backups.status, "expired"))),
    db.select().from(alerts).where(massChangeHolding(now)),
  ]);
  const standing = held.filter((h) => holdStands(h, now));
  return jsonResponse({
    ...stats,
    protection: {
      heldBackups: standing.length,
      releasesPending: standing.filter((h) => h.holdReleaseAt !== null).length,
      retentionLockDays: config.BACKUP_MIN_RETENTION_DAYS,
      massChangeHolds: massChanges.map((alert) => ({
        bucketName: alert.bucketName,
        alertId: alert.id,
        heldBefore: String(alert.details.backupDate),
        suspectBackupId: String(alert.details.backupId),
        resolveAt: alert.resolveAt,
      })),
    },
    unprotectedChanges: {
      keys: changes.count,
      oldestAt: changes.firstReceivedAt === null ? null : new Date(changes.firstReceivedAt).toISOString(),
      overflow: changes.overflowSince !== null,
    },
  });
}

const alertCursor = z.object({ o: z.string(), i: z.string() });

/** Alerts newest first (by opening), optionally only the open or the resolved ones. */
export async function listAlerts(context: HandlerContext): Promise<Response> {
  const query = parseQuery(context.url, listAlertsQuery);
  const after = query.cursor ? decodeCursor(query.cursor, alertCursor) : undefined;
  const conditions: SQL[] = [];
  if (query.state) conditions.push(query.state === "open" ? isNull(alerts.resolvedAt) : isNotNull(alerts.resolvedAt));
  if (after)
    conditions.push(or(lt(alerts.openedAt, after.o), and(eq(alerts.openedAt, after.o), lt(alerts.id, after.i)))!);
  const rows = await openDatabase(context.env.DB)
    .select()
    .from(alerts)
    .where(and(...conditions))
    .orderBy(desc(alerts.openedAt), desc(alerts.id))
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  const nextCursor = rows.length > query.limit && last ? encodeCursor({ o: last.openedAt, i: last.id }) : null;
  return jsonResponse({ alerts: page.map(presentAlert), nextCursor });
}
