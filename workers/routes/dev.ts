/**
 * POST /api/dev/source-writes: local development only (BACKUP_DEV_ROUTES, set by .dev.vars). It
 * plays R2's part on `wrangler dev`, which has no event notifications: writes or deletes objects
 * in the source bucket and sends the notifications R2 would to the queue, and can send them for
 * changes made elsewhere (`npm run seed -- --mutate N --send-events URL`). Disabled, it does not
 * exist (404).
 */
import type { HandlerContext } from "../context";
import { Cron } from "croner";
import { badRequest, HttpError, jsonResponse } from "../http-error";
import { parseJsonBody } from "../request-body";
import { runScheduled } from "../scheduled";
import { devCronBody, devSourceWritesBody } from "../schemas";
import { clock } from "../../durable-objects/engine/clock";

export function requireDevRoutes(context: HandlerContext): void {
  if (!context.config.BACKUP_DEV_ROUTES) throw new HttpError(404, "not_found", "No such endpoint.");
}

/**
 * POST /api/dev/cron (local development only, like the route below): the cron trigger fired as at
 * `time`. wrangler's own /__scheduled fires at the current time, which is never the first firing
 * of a schedule's slot, so by hand it could never start a scheduled backup.
 */
export async function devCron(context: HandlerContext): Promise<Response> {
  requireDevRoutes(context);
  const body = await parseJsonBody(context.request, devCronBody);
  const scheduledTime = Date.parse(body.time);
  // A far-off time only opens absurd alerts ("no backup for 69,890,482 hours"): a year either way
  // covers every schedule's slot and any test of a month.
  if (Math.abs(scheduledTime - clock.now()) > DEV_CRON_REACH_MS) {
    throw badRequest("time: must be within a year of now.", { field: "time" });
  }
  if (!isCronExpression(body.cron)) {
    throw badRequest(`cron: "${body.cron}" is not a cron expression (five fields, as in wrangler.toml's [triggers]).`, {
      field: "cron",
    });
  }
  const controller: ScheduledController = { cron: body.cron, scheduledTime, noRetry: () => undefined };
  await runScheduled(controller, context.env, context.ctx);
  return jsonResponse({ cron: body.cron, scheduledTime: new Date(scheduledTime).toISOString() });
}

const DEV_CRON_REACH_MS = 366 * 24 * 3_600_000;

function isCronExpression(expression: string): boolean {
  if (expression.trim().split(/\s+/).length !== 5) return false;
  try {
    new Cron(expression, { paused: true });
    return true;
  } catch {
    return false;
  }
}

export async function devSourceWrites(context: HandlerContext): Promise<Response> {
  const { config, env } = context;
  requireDevRoutes(context);
  const body = await parseJsonBody(context.request, devSourceWritesBody);
  const bucket = config.BACKUP_SOURCE_BUCKET;
  const notifications: { action: string; key: string; size?: number; eTag?: string }[] = [];
  for (const write of body.writes) {
    if (write.delete) {
      await env.R2_BUCKET.delete(write.key);
      notifications.push({ action: "DeleteObject", key: write.key });
    } else {
      const stored = await env.R2_BUCKET.put(
        write.key,
        write.content ?? "",
        write.contentType ? { httpMetadata: { contentType: write.contentType } } : {},
      );
      notifications.push({ action: "PutObject", key: write.key, size: stored.size, eTag: stored.etag });
    }
  }
  for (const { key, deleted } of body.notify)
    notifications.push({ action: deleted ? "DeleteObject" : "PutObject", key });
  const eventTime = clock.date().toISOString();
  // Shaped as R2 sends them (workers/object-events.ts reads them), at most 100 a batch.
  const messages = notifications.map(({ action, key, size, eTag }) => ({
    body: {
      account: "local",
      action,
      bucket,
      object: { key, ...(size === undefined ? {} : { size, eTag }) },
      eventTime,
    },
  }));
  for (let i = 0; i < messages.length; i += 100) await env.OBJECT_EVENTS.sendBatch(messages.slice(i, i + 100));
  return jsonResponse({ written: body.writes.length, eventsSent: messages.length });
}
