/** The REST routes of the API contract. */
import { Router, type IRequest } from "itty-router";
import { authorized } from "./context";
import { errorResponse, HttpError, jsonResponse } from "./http-error";
import { getJob, startRestore, startVerify } from "./routes/jobs";
import { createBackup, getBackupStatus, listBackupFiles, listBackupLogs, listBackups } from "./routes/backups";
import { cancelBackupOrJob } from "./routes/cancel";
import { startCleanup } from "./routes/cleanup";
import { listAudit } from "./audit";
import { getStats, listAlerts } from "./routes/monitoring";

/** Every path the API serves, so a known path with another method is 405 and anything else 404. */
const KNOWN_PATHS = [
  /^\/api\/health$/,
  /^\/api\/backup\/(create|list|cleanup|audit|stats|alerts)$/,
  /^\/api\/backup\/(status|files|logs|verify|restore|jobs|cancel)\/[^/]+$/,
];

export const router = Router<IRequest, [Env, ExecutionContext]>({
  base: "/api",
  catch: errorResponse,
});

router
  .get("/health", () => jsonResponse({ ok: true }))
  .post(
    "/backup/create",
    authorized("backup:write", (c) => createBackup(c), "backup.create"),
  )
  .get(
    "/backup/status/:id",
    authorized("backup:read", (c) => getBackupStatus(c, c.request.params.id!)),
  )
  .get(
    "/backup/list",
    authorized("backup:read", (c) => listBackups(c)),
  )
  .get(
    "/backup/files/:id",
    authorized("backup:read", (c) => listBackupFiles(c, c.request.params.id!)),
  )
  .post(
    "/backup/verify/:id",
    authorized("backup:write", (c) => startVerify(c, c.request.params.id!), "backup.verify"),
  )
  .post(
    "/backup/restore/:id",
    authorized("backup:restore", (c) => startRestore(c, c.request.params.id!), "backup.restore"),
  )
  .post(
    "/backup/cleanup",
    authorized("backup:admin", (c) => startCleanup(c), "backup.cleanup"),
  )
  .post(
    "/backup/cancel/:id",
    authorized(null, (c) => cancelBackupOrJob(c, c.request.params.id!), "backup.cancel"),
  )
  .get(
    "/backup/jobs/:jobId",
    authorized("backup:read", (c) => getJob(c, c.request.params.jobId!)),
  )
  .get(
    "/backup/audit",
    authorized("backup:admin", (c) => listAudit(c)),
  )
  .get(
    "/backup/stats",
    authorized("backup:read", (c) => getStats(c)),
  )
  .get(
    "/backup/alerts",
    authorized("backup:read", (c) => listAlerts(c)),
  )
  .get(
    "/backup/logs/:id",
    authorized("backup:read", (c) => listBackupLogs(c, c.request.params.id!)),
  )
  .all("*", (request) => {
    const path = new URL(request.url).pathname;
    if (KNOWN_PATHS.some((pattern) => pattern.test(path)))
      throw new HttpError(405, "method_not_allowed", `Method ${request.method} is not allowed on ${path}.`);
    throw new HttpError(404, "not_found", "No such endpoint.");
  });
