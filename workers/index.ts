/**
 * The Worker's entry points: REST calls go through the router; the daily cron asks the source
 * bucket's coordinator for an automatic backup. The Durable Object classes are exported here so
 * wrangler can bind them.
 */
import { BucketCoordinator } from "../durable-objects/bucket-coordinator";
import { CleanupJob } from "../durable-objects/cleanup-job";
import { BackupJob } from "../durable-objects/backup-job";
import { RestoreJob } from "../durable-objects/restore-job";
import { VerifyJob } from "../durable-objects/verify-job";
import { getConfig } from "../durable-objects/config";
import { errorResponse, HttpError } from "./http-error";
import { router } from "./router";
import { reconcileOrphans } from "../durable-objects/watchdog";
import { errorMessage } from "../durable-objects/engine/errors";
import { recordAudit } from "./audit";

export { BackupJob, BucketCoordinator, CleanupJob, RestoreJob, VerifyJob };

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (!url.pathname.startsWith("/api/") && url.pathname !== "/api") return errorResponse(new HttpError(404, "not_found", "No such endpoint."));
    return router.fetch(request, env, ctx);
  },

  async scheduled(controller, env, ctx) {
    // Whatever the schedule, the cron looks after rows whose job stopped or vanished.
    ctx.waitUntil(reconcileOrphans(env).catch((error: unknown) => console.error("orphan sweep failed", error)));
    const config = getConfig(env);
    if (config.BACKUP_SCHEDULE !== "daily") return;
    const coordinator = env.BUCKET_COORDINATOR.getByName(config.BACKUP_SOURCE_BUCKET);
    const at = new Date().toISOString();
    const run = { at, actor: "cron", action: "schedule.run", status: null } as const;
    const result = await coordinator.startBackup({ type: "auto", trigger: "cron", requestedBy: "cron" }).catch(async (error: unknown) => {
      await recordAudit(env.DB, { ...run, target: null, outcome: "failed", detail: `cron ${controller.cron}: ${errorMessage(error)}` });
      throw error;
    });
    if (result.ok) {
      console.log(`cron ${controller.cron}: started ${result.backup.backupType} backup ${result.backup.id}`);
      await recordAudit(env.DB, {
        ...run,
        target: result.backup.id,
        outcome: "accepted",
        detail: `cron ${controller.cron}: started a ${result.backup.backupType} backup`,
      });
    } else {
      const why = result.reason === "busy" ? `${result.kind} ${result.holderId} is running` : result.reason;
      console.warn(`cron ${controller.cron}: skipped, ${why}`);
      await recordAudit(env.DB, { ...run, target: null, outcome: "skipped", detail: `cron ${controller.cron}: skipped, ${why}` });
    }
  },
} satisfies ExportedHandler<Env>;
