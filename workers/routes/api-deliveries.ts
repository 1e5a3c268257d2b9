/**
 * Webhook deliveries an API call itself causes (a resolution or release asked for or cancelled):
 * queued in the same D1 batch as the change, named by what changed and when, and sent after the
 * answer by waking the dispatcher. Nothing without a webhook URL.
 */
import type { WebhookEvent } from "../../schema";
import { clock } from "../../durable-objects/engine/clock";
import { deliveryId, queueDelivery } from "../../durable-objects/engine/monitor/outbox";
import type { Database, Statement } from "../../durable-objects/engine/records";
import { wakeDispatcher, webhooksEnabled } from "../../durable-objects/oversight/monitor";
import type { HandlerContext } from "../context";

export function apiDeliveries(
  context: HandlerContext,
  db: Database,
  subject: string,
  event: WebhookEvent,
  data: Record<string, unknown>,
): Statement[] {
  if (!webhooksEnabled(context.config)) return [];
  const at = clock.date().toISOString();
  context.ctx.waitUntil(
    // After the batch is written (the answer goes out after it); a failed wake is retried by the cron.
    Promise.resolve().then(() =>
      wakeDispatcher(context.env, context.env.WEBHOOK_DISPATCHER).catch((error: unknown) =>
        console.error("waking the webhook dispatcher failed; the next cron firing sends the delivery", error),
      ),
    ),
  );
  return [
    queueDelivery(db, {
      id: deliveryId(`${subject}-${at}`, event),
      event,
      createdAt: at,
      data: { ...data, by: context.principal.subject },
    }),
  ];
}
