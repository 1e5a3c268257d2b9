/**
 * Resolving an alert that does not resolve by itself (mass_change), admin and audited:
 * POST /api/backup/alerts/:id/resolve asks for it, and it takes effect
 * BACKUP_HOLD_RELEASE_DELAY_HOURS later (the alert shows `resolution` meanwhile, and keeps holding
 * the bucket's older backups); DELETE on the same path cancels the request. So a stolen admin
 * token cannot acknowledge an attack and expire the last good backups at once: each request and
 * cancellation is sent as a webhook, for someone to notice in time.
 */
import { and, eq, isNull } from "drizzle-orm";
import { alerts, type AlertRow, type WebhookEvent } from "../../schema";
import { presentAlert } from "../../schema/present";
import { clock } from "../../durable-objects/engine/clock";
import { isSticky } from "../../durable-objects/engine/monitor/alert-store";
import { openDatabase, runBatch } from "../../durable-objects/engine/records";
import { checkAlerts } from "../../durable-objects/oversight/monitor";
import type { HandlerContext } from "../context";
import { conflict, jsonResponse, notFound } from "../http-error";
import { apiDeliveries, wakeAfterCommit } from "./api-deliveries";

const HOUR_MS = 3_600_000;

export async function requestResolution(context: HandlerContext, id: string): Promise<Response> {
  const alert = await findOpenStickyAlert(context, id);
  if (alert.resolveAt !== null) return jsonResponse({ alert: presentAlert(alert) }); // asked for already
  const now = clock.date();
  const delayHours = context.config.BACKUP_HOLD_RELEASE_DELAY_HOURS;
  const values = {
    resolveRequestedAt: now.toISOString(),
    resolveAt: new Date(now.getTime() + delayHours * HOUR_MS).toISOString(),
    resolveRequestedBy: context.principal.subject,
  };
  const requested = await record(context, alert, values, "alert.resolve_requested");
  // Without a delay it takes effect now: the same check a cron firing would make.
  if (delayHours === 0) {
    const changes = await checkAlerts(context.env.DB, context.config, alert.bucketName, (bucket) =>
      context.env.BUCKET_COORDINATOR.getByName(bucket).changeSummary(),
    );
    const resolved = changes.resolved.find((a) => a.id === alert.id);
    if (resolved) return jsonResponse({ alert: presentAlert(resolved) });
  }
  return jsonResponse({ alert: presentAlert(requested) });
}

export async function cancelResolution(context: HandlerContext, id: string): Promise<Response> {
  const alert = await findOpenStickyAlert(context, id);
  if (alert.resolveAt === null) throw conflict(`Alert ${alert.id} has no resolution pending.`, { alertId: alert.id });
  const values = { resolveRequestedAt: null, resolveAt: null, resolveRequestedBy: null };
  const cancelled = await record(context, alert, values, "alert.resolve_cancelled");
  return jsonResponse({ alert: presentAlert(cancelled) });
}

async function findOpenStickyAlert(context: HandlerContext, id: string): Promise<AlertRow> {
  const [alert] = await openDatabase(context.env.DB).select().from(alerts).where(eq(alerts.id, id));
  if (!alert) throw notFound(`No alert with id ${id}.`);
  if (alert.resolvedAt !== null)
    throw conflict(`Alert ${alert.id} was resolved at ${alert.resolvedAt}.`, { alertId: alert.id });
  // Its resolution may be due without a check having applied it yet: it is as good as resolved.
  if (alert.resolveAt !== null && Date.parse(alert.resolveAt) <= clock.now())
    throw conflict(`The resolution of alert ${alert.id} took effect at ${alert.resolveAt}.`, { alertId: alert.id });
  if (!isSticky(alert.code))
    throw conflict(`Alert ${alert.id} (${alert.code}) resolves by itself once its condition clears.`, {
      alertId: alert.id,
      code: alert.code,
    });
  return alert;
}

/** Writes the change and queues its webhook in one batch; answers the row as written. */
async function record(
  context: HandlerContext,
  alert: AlertRow,
  values: Pick<AlertRow, "resolveRequestedAt" | "resolveAt" | "resolveRequestedBy">,
  event: Extract<WebhookEvent, "alert.resolve_requested" | "alert.resolve_cancelled">,
): Promise<AlertRow> {
  const db = openDatabase(context.env.DB);
  const changed = { ...alert, ...values };
  await runBatch(db, [
    db
      .update(alerts)
      .set(values)
      .where(
        and(
          eq(alerts.id, alert.id),
          isNull(alerts.resolvedAt),
          // Two requests racing: the first one's times stand.
          event === "alert.resolve_requested" ? isNull(alerts.resolveAt) : undefined,
        ),
      ),
    ...apiDeliveries(context, db, alert.id, event, { alert: presentAlert(changed) }),
  ]);
  wakeAfterCommit(context);
  return changed;
}
