/**
 * Applies what the rules want open to the alerts table: an alert that should be open and is not
 * is opened, one that is open and should not be is resolved, and each change queues its webhook
 * delivery in the same D1 batch. Everything else is left alone, so an open alert stays one row
 * (and one delivery) however often it is evaluated.
 *
 * A sticky alert (mass_change) is the exception: it stays open when its condition clears (the
 * next backup after an attack looks ordinary again) and resolves only when an admin asked for it
 * and the delay has passed (`resolveAt`, set by POST /api/backup/alerts/:id/resolve).
 */
import { and, eq, isNull } from "drizzle-orm";
import { alerts, type AlertCode, type AlertRow } from "../../../schema";
import { presentAlert } from "../../../schema/present";
import { newId } from "../ids";
import { runBatch, type Database, type Statement } from "../records";
import type { AlertDraft } from "./alert-rules";
import { deliveryId, queueAlertDelivery } from "./outbox";

export interface AlertChanges {
  opened: AlertRow[];
  resolved: AlertRow[];
  /** What is open once the changes are applied. */
  open: AlertRow[];
}

export async function applyAlerts(
  db: Database,
  bucketName: string,
  drafts: readonly AlertDraft[],
  now: Date,
  webhooks: boolean,
): Promise<AlertChanges> {
  const open = await db
    .select()
    .from(alerts)
    .where(and(eq(alerts.bucketName, bucketName), isNull(alerts.resolvedAt)));
  const at = now.toISOString();
  const wanted = new Set(drafts.map((d) => d.code));
  // Never resolved before it opened: a check at an earlier time than the opening one (a cron
  // fired by hand for a later time, then a job's end at the real time) resolves it as it opened.
  // A sticky alert resolves at the time its resolution took effect.
  const resolved: AlertRow[] = open
    .filter((a) => (isSticky(a.code) ? resolutionDue(a, at) : !wanted.has(a.code)))
    .map((a) => ({ ...a, resolvedAt: isSticky(a.code) ? a.resolveAt! : a.openedAt > at ? a.openedAt : at }));
  const resolvedIds = new Set(resolved.map((a) => a.id));

  // What stays open; a sticky alert resolved now may open again in the same batch on new evidence
  // (its resolution is written first, so the partial unique index lets the new one in).
  const openCodes = new Set(open.filter((a) => !resolvedIds.has(a.id)).map((a) => a.code));
  const opened: AlertRow[] = drafts
    .filter((d) => !openCodes.has(d.code))
    .map((d) => ({
      id: newId("al", now),
      bucketName,
      ...d,
      openedAt: at,
      resolvedAt: null,
      resolveRequestedAt: null,
      resolveAt: null,
      resolveRequestedBy: null,
    }));

  const statements: Statement[] = [];
  for (const alert of resolved) {
    const resolvedAt = alert.resolvedAt!;
    statements.push(
      db
        .update(alerts)
        .set({ resolvedAt })
        .where(
          and(
            eq(alerts.id, alert.id),
            isNull(alerts.resolvedAt),
            // Not if its resolution was cancelled meanwhile.
            isSticky(alert.code) ? eq(alerts.resolveAt, alert.resolveAt!) : undefined,
          ),
        ),
    );
    if (webhooks)
      statements.push(queueAlertDelivery(db, alertDelivery(alert, "alert.resolved", resolvedAt), alert.id, resolvedAt));
  }
  for (const alert of opened) {
    // The partial unique index turns a racing second opening into nothing, and its delivery too.
    statements.push(db.insert(alerts).values(alert).onConflictDoNothing());
    if (webhooks) statements.push(queueAlertDelivery(db, alertDelivery(alert, "alert.opened", at), alert.id, null));
  }
  await runBatch(db, statements);
  return { opened, resolved, open: [...open.filter((a) => !resolvedIds.has(a.id)), ...opened] };
}

/** Alerts that resolve only when an admin asks, after the release delay. */
const STICKY: ReadonlySet<AlertCode> = new Set(["mass_change"]);

export function isSticky(code: AlertCode): boolean {
  return STICKY.has(code);
}

function resolutionDue(alert: AlertRow, at: string): boolean {
  return alert.resolveAt !== null && alert.resolveAt <= at;
}

function alertDelivery(alert: AlertRow, event: "alert.opened" | "alert.resolved", at: string) {
  return { id: deliveryId(alert.id, event), event, createdAt: at, data: { alert: presentAlert(alert) } };
}
