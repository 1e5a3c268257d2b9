/**
 * The webhook outbox's writing side: a delivery is queued by a statement that runs in the same D1
 * batch as the decision it reports (a backup's end, an alert's opening), with its body fixed then.
 * Its id is derived from what it reports, so replaying the decision queues nothing twice; the
 * WebhookDispatcher sends it (webhook-dispatch.ts).
 */
import { and, eq, isNull, sql } from "drizzle-orm";
import { alerts, webhookDeliveries, type WebhookEvent } from "../../../schema";
import type { Database, Statement } from "../records";

export interface Delivery {
  /** Unique per event: `dl-<what it reports>-<event>`. */
  id: string;
  event: WebhookEvent;
  createdAt: string;
  data: Record<string, unknown>;
}

/** The exact bytes a receiver gets, on every attempt (api.md: id, event, createdAt, data). */
export function deliveryBody(delivery: Delivery): string {
  return JSON.stringify({ id: delivery.id, event: delivery.event, createdAt: delivery.createdAt, data: delivery.data });
}

export function deliveryId(subject: string, event: WebhookEvent): string {
  return `dl-${subject}-${event}`;
}

/** Queues a delivery unless one with its id is queued already (the first body stays). */
export function queueDelivery(db: Database, delivery: Delivery): Statement {
  return db
    .insert(webhookDeliveries)
    .values({
      id: delivery.id,
      event: delivery.event,
      body: deliveryBody(delivery),
      createdAt: delivery.createdAt,
      status: "pending",
      attempts: 0,
      nextAttemptAt: delivery.createdAt,
    })
    .onConflictDoNothing({ target: webhookDeliveries.id });
}

/**
 * Queues a delivery only if `alertId`'s row is as this decision left it: `resolvedAt` null for an
 * opening (the row exists: this evaluation's insert won), the same time for a resolution (this
 * evaluation's update won). A racing evaluation whose write lost therefore queues nothing.
 */
export function queueAlertDelivery(
  db: Database,
  delivery: Delivery,
  alertId: string,
  resolvedAt: string | null,
): Statement {
  const state = resolvedAt === null ? isNull(alerts.resolvedAt) : eq(alerts.resolvedAt, resolvedAt);
  const value = <T>(v: T, column: string) => sql<T>`${v}`.as(column);
  return db
    .insert(webhookDeliveries)
    .select(
      db
        .select({
          id: value(delivery.id, "id"),
          event: value(delivery.event, "event"),
          body: value(deliveryBody(delivery), "body"),
          createdAt: value(delivery.createdAt, "created_at"),
          status: value("pending", "status"),
          attempts: value(0, "attempts"),
          nextAttemptAt: value(delivery.createdAt, "next_attempt_at"),
          lastAttemptAt: value(null, "last_attempt_at"),
          lastError: value(null, "last_error"),
          deliveredAt: value(null, "delivered_at"),
        })
        .from(alerts)
        .where(and(eq(alerts.id, alertId), state)),
    )
    .onConflictDoNothing({ target: webhookDeliveries.id });
}
