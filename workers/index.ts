/**
 * The Worker's entry points: REST calls go through the router; the cron runs the schedule and the
 * monitoring (scheduled.ts); the queue brings the source bucket's object-change events
 * (object-events.ts). The Durable Object classes are exported here so
 * wrangler can bind them.
 */
import { BucketCoordinator } from "../durable-objects/bucket-coordinator";
import { CleanupJob } from "../durable-objects/cleanup-job";
import { BackupJob } from "../durable-objects/backup-job";
import { ReplicateJob } from "../durable-objects/replicate-job";
import { RestoreJob } from "../durable-objects/restore-job";
import { VerifyJob } from "../durable-objects/verify-job";
import { WebhookDispatcher } from "../durable-objects/webhook-dispatcher";
import { errorResponse, HttpError } from "./http-error";
import { getForHead } from "./head-requests";
import { router } from "./router";
import { runScheduled } from "./scheduled";
import { consumeObjectEvents } from "./object-events";

export { BackupJob, BucketCoordinator, CleanupJob, ReplicateJob, RestoreJob, VerifyJob, WebhookDispatcher };

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (!url.pathname.startsWith("/api/") && url.pathname !== "/api")
      return errorResponse(new HttpError(404, "not_found", "No such endpoint."));
    // HEAD is GET without the body: same status and headers (a HEAD on a POST path is its 405).
    if (request.method === "HEAD") {
      const answer = await router.fetch(getForHead(request), env, ctx);
      await answer.body?.cancel();
      return new Response(null, { status: answer.status, headers: answer.headers });
    }
    return router.fetch(request, env, ctx);
  },

  scheduled(controller, env, ctx) {
    return runScheduled(controller, env, ctx);
  },

  queue(batch, env) {
    return consumeObjectEvents(batch, env);
  },
} satisfies ExportedHandler<Env>;
