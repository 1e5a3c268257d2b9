/**
 * Applies what the rules want open to the alerts table: an alert that should be open and is not
 * is opened, one that is open and should not be is resolved, and each change queues its webhook
 * delivery in the same D1 batch. Everything else is left alone, so an open alert stays one row
 * (and one delivery) however often it is evaluated.
 */
import { and, eq, isNull } from "drizzle-orm";
import { alerts, type AlertRow } from "../../../schema";
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
  const openCodes = new Set(open.map((a) => a.code));
  const opened: AlertRow[] = drafts
    .filter((d) => !openCodes.has(d.code))
    .map((d) => ({ id: newId("al", now), bucketName, ...d, openedAt: at, resolvedAt: null }));
  // Never resolved before it opened: a check at an earlier time than the opening one (a cron
  // fired by hand for a later time, then a job's end at the real time) resolves it as it opened.
  const resolved: AlertRow[] = open
    .filter((a) => !wanted.has(a.code))
    .map((a) => ({ ...a, resolvedAt: a.openedAt > at ? a.openedAt : at }));

  const statements: Statement[] = [];
  for (const alert of opened) {
    // The partial unique index turns a racing second opening into nothing, and its delivery too.
    statements.push(db.insert(alerts).values(alert).onConflictDoNothing());
    if (webhooks) statements.push(queueAlertDelivery(db, alertDelivery(alert, "alert.opened", at), alert.id, null));
  }
  for (const alert of resolved) {
    const resolvedAt = alert.resolvedAt!;
    statements.push(
      db
        .update(alerts)
        .set({ resolvedAt })
        .where(and(eq(alerts.id, alert.id), isNull(alerts.resolvedAt))),
    );
    if (webhooks)
      statements.push(queueAlertDelivery(db, alertDelivery(alert, "alert.resolved", resolvedAt), alert.id, resolvedAt));
  }
  await runBatch(db, statements);
  return { opened, resolved, open: [...open.filter((a) => wanted.has(a.code)), ...opened] };
}

function alertDelivery(alert: AlertRow, event: "alert.opened" | "alert.resolved", at: string) {
  return { id: deliveryId(alert.id, event), event, createdAt: at, data: { alert: presentAlert(alert) } };
}
