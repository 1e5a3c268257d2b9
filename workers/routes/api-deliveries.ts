/**
 * Webhook deliveries an API call itself causes (a resolution or release asked for or cancelled):
 * queued in the same D1 batch as the change, named by what changed and when, and sent after the
 * answer by waking the dispatcher once the batch is written. Nothing without a webhook URL.
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
  return [
    queueDelivery(db, {
      id: deliveryId(`${subject}-${at}`, event),
      event,
      createdAt: at,
      data: { ...data, by: context.principal.subject },
    }),
  ];
}

/** Once the batch that queued deliveries is written: the dispatcher sends them after the answer. */
export function wakeAfterCommit(context: HandlerContext): void {
  if (!webhooksEnabled(context.config)) return;
  context.ctx.waitUntil(
    wakeDispatcher(context.env, context.env.WEBHOOK_DISPATCHER).catch((error: unknown) =>
      // The delivery is queued: the next cron firing wakes the dispatcher again.
      console.error("waking the webhook dispatcher failed; the next cron firing sends the delivery", error),
    ),
  );
}
