/**
 * Every endpoint of the API contract in one table: the router registers these, and the OpenAPI
 * document (openapi/document.ts) is generated from them and the same zod schemas that validate the
 * requests, so the two cannot drift.
 */
import { z } from "zod";
import type { AuditAction } from "../schema";
import type { Scope } from "./auth";
import type { HandlerContext } from "./context";
import { listAudit } from "./audit";
import { createBackup, getBackupStatus, listBackupFiles, listBackupLogs, listBackups } from "./routes/backups";
import { cancelBackupOrJob } from "./routes/cancel";
import { startCleanup } from "./routes/cleanup";
import { getJob, startReplication, startRestore, startVerify } from "./routes/jobs";
import { getStats, listAlerts } from "./routes/monitoring";
import { cancelResolution, requestResolution } from "./routes/alert-resolution";
import { devCron, devSourceWrites } from "./routes/dev";
import { devDamage } from "./routes/dev-damage";
import { devDiffCost } from "./routes/dev-diff-cost";
import { diffBackups } from "./routes/diff";
import { downloadObject } from "./routes/download";
import { keyHistory } from "./routes/history";
import { placeHold, releaseHold } from "./routes/holds";
import { createTemplate, deleteTemplate, getTemplate, listTemplates, updateTemplate } from "./routes/templates";
import * as requests from "./schemas";
import * as resources from "./openapi/resources";
import * as examples from "./openapi/examples";

export interface ApiRoute {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** The OpenAPI operationId when the one derived from method and path would repeat another's. */
  operationId?: string;
  /** Under `/api`, with itty-router's `:param` placeholders. */
  path: string;
  /** The scope a token needs; null: every valid token (the handler decides, see `scopeNote`). */
  scope: Scope | null;
  scopeNote?: string;
  /** The audit trail's action for a mutating (or sensitive) call. */
  audit?: AuditAction;
  /** What the audit trail records of an accepted call besides its target. */
  auditDetail?: (context: HandlerContext) => string | null;
  summary: string;
  description?: string;
  tag: "backups" | "jobs" | "monitoring" | "admin" | "dev";
  query?: z.ZodType;
  body?: z.ZodType;
  /** The statuses this endpoint answers besides 400, 401, 403 and 500 (which every one may). */
  errors: (404 | 409 | 413 | 416)[];
  success: JsonSuccess | BinarySuccess;
  handle: (context: HandlerContext) => Promise<Response>;
}

interface JsonSuccess {
  status: 200 | 201 | 202;
  schema: z.ZodType;
  example: unknown;
}

/** An object's bytes rather than JSON (a download), also answered as 206 for a range. */
export interface BinarySuccess {
  status: 200;
  binary: true;
  /** The response headers, by name, with what each says. */
  headers: Record<string, string>;
}

const idOf = (context: HandlerContext) => context.request.params.id!;

export const API_ROUTES: ApiRoute[] = [
  {
    method: "POST",
    path: "/backup/create",
    scope: "backup:write",
    audit: "backup.create",
    tag: "backups",
    summary: "Start a backup of the source bucket",
    description:
      "The body is optional: without one, or without `type`, the backup is `auto`, which is resolved to `full` or `incremental` in the response. With `template`, a backup of that backup template (its bucket, prefixes and storage options; 404 for an unknown one). 409 while another backup of the bucket runs (`details.backupId` names it).",
    body: requests.createBackupBody,
    errors: [404, 409, 413],
    success: { status: 202, schema: resources.one("backup", resources.backup), example: { backup: examples.backup } },
    handle: createBackup,
  },
  {
    method: "GET",
    path: "/backup/list",
    scope: "backup:read",
    tag: "backups",
    summary: "List backups, newest first",
    description: "`expired` backups are listed only when asked for with `status=expired`.",
    query: requests.listBackupsQuery,
    errors: [],
    success: {
      status: 200,
      schema: resources.page("backups", resources.backup),
      example: { backups: [examples.backup], nextCursor: null },
    },
    handle: listBackups,
  },
  {
    method: "GET",
    path: "/backup/status/:id",
    scope: "backup:read",
    tag: "backups",
    summary: "A backup's status and progress",
    errors: [404],
    success: { status: 200, schema: resources.one("backup", resources.backup), example: { backup: examples.backup } },
    handle: (c) => getBackupStatus(c, idOf(c)),
  },
  {
    method: "GET",
    path: "/backup/files/:id",
    scope: "backup:read",
    tag: "backups",
    summary: "The objects of a backup's snapshot, in key order",
    description:
      "Read from the backup's manifest, in key order. `pattern` keeps the keys a glob matches (the whole key: `*` within a segment, `**` across segments, `?` one character; `reports/**/*.pdf`), combinable with `prefix`; only the keys under the glob's literal start are read. A page reads a bounded number of manifest leaves, so with a pattern it may hold fewer than `limit` files, even none, and still carry a `nextCursor`. 409 for a backup that has no snapshot (not finished, failed, cancelled or expired).",
    query: requests.listFilesQuery,
    errors: [404, 409],
    success: {
      status: 200,
      schema: resources.page("files", resources.snapshotFile),
      example: { files: [examples.snapshotFile], nextCursor: null },
    },
    handle: (c) => listBackupFiles(c, idOf(c)),
  },
  {
    method: "GET",
    path: "/backup/diff",
    scope: "backup:read",
    tag: "backups",
    summary: "What changed between two snapshots of one bucket, in key order",
    description:
      "The keys added, modified (content or metadata; the same bytes written again is no change) and deleted from `from` to `to`, paged like files. Both backups must be of one bucket (else 400) and have a snapshot (else 409). Snapshots are compared through their chunk trees: subtrees the two share are not read, so the cost follows the change.",
    query: requests.diffQuery,
    errors: [404, 409],
    success: {
      status: 200,
      schema: resources.snapshotDiff,
      example: {
        from: examples.backup.parentId,
        to: examples.backup.id,
        changes: [examples.snapshotChange],
        nextCursor: null,
      },
    },
    handle: diffBackups,
  },
  {
    method: "POST",
    path: "/backup/hold/:id",
    scope: "backup:admin",
    audit: "backup.hold",
    tag: "admin",
    summary: "Place a legal hold on a backup: it never expires until released",
    description:
      'Optional `{"reason"}` (at most 500 characters). A held backup is kept by every cleanup, whatever its policy (`keptByHoldOrLock` in the cleanup\'s result). Placing the hold again while a release is pending cancels the release; on a held backup it changes nothing. Only a completed or partial backup can be held (409).',
    body: requests.holdBody,
    errors: [404, 409],
    success: {
      status: 200,
      schema: resources.one("backup", resources.backup),
      example: { backup: examples.heldBackup },
    },
    handle: (c) => placeHold(c, idOf(c)),
  },
  {
    method: "DELETE",
    path: "/backup/hold/:id",
    operationId: "deleteBackupHold",
    scope: "backup:admin",
    audit: "backup.release",
    tag: "admin",
    summary: "Ask for a legal hold's release: it takes effect after BACKUP_HOLD_RELEASE_DELAY_HOURS",
    description:
      "No body. The release takes effect `BACKUP_HOLD_RELEASE_DELAY_HOURS` (default 24, set by deploy) after this call: meanwhile the backup shows `hold.releaseAt` and stays held, and `POST` on the same path cancels the release. So a stolen admin token cannot lift every hold and expire the last good backups at once. 409 when the backup is not held.",
    errors: [404, 409],
    success: {
      status: 200,
      schema: resources.one("backup", resources.backup),
      example: { backup: examples.releasingBackup },
    },
    handle: (c) => releaseHold(c, idOf(c)),
  },
  {
    method: "GET",
    path: "/backup/history",
    scope: "backup:read",
    tag: "backups",
    summary: "Every version of one key across the kept backups, newest first",
    description:
      "Each distinct version of `key` (a run of kept, completed or partial, backups holding the same object) with the backups it appears in, its size, SHA-256 and modified time, and when it was found deleted. Each backup is asked for the key alone (one descent of its chunk tree), never listed. A backup without the key counts as a deletion only if it could have held it: not when the key failed to be read in it, or lies outside its template's prefixes. `bucket` defaults to the environment's source bucket. Paged by versions (`limit`, default 20, at most 100). 409 when a kept backup's manifest is missing (naming it: verify that backup).",
    query: requests.historyQuery,
    errors: [409],
    success: {
      status: 200,
      schema: resources.keyHistory,
      example: { key: examples.snapshotFile.path, versions: examples.keyVersions, nextCursor: null },
    },
    handle: keyHistory,
  },
  {
    method: "GET",
    path: "/backup/object/:id",
    scope: "backup:restore",
    audit: "backup.download",
    auditDetail: (c) => `key: ${c.url.searchParams.get("key")}`,
    tag: "backups",
    summary: "One object's content as it was in a backup",
    description:
      "Streams the content of `key` as the backup holds it (decrypted and decompressed), with its stored HTTP metadata and its custom metadata as `x-amz-meta-<name>` headers. One `Range: bytes=a-b` (or `a-`, `-n`) is answered 206; a range that cannot be served (past the end, several ranges, malformed) is 416 with `Content-Range: bytes */<size>`. `If-Range` with another ETag sends the whole object. A whole download is checked against the object's SHA-256 while it streams and its last bytes are held back until the digest matches: a mismatch ends the transfer with an error short of its `Content-Length` and is logged as an error in the backup's log. A range read is checked as far as the format allows (an encrypted blob's records are authenticated; a raw blob's range cannot be checked against the whole object's hash). The replica's copy is read when the backup bucket's is missing or cannot be opened (`x-r2-backup-copy: replica`). Scope `backup:restore`: reading backed-up content is as sensitive as restoring it. 404 for an unknown backup or a key the backup does not hold; 409 for a backup without a snapshot, or content neither copy can provide.",
    query: requests.objectQuery,
    errors: [404, 409, 416],
    success: {
      status: 200,
      binary: true,
      headers: {
        "Content-Type": "The object's stored Content-Type (application/octet-stream when none was stored).",
        "Content-Length": "The bytes sent: the object's size, or the range's length.",
        "Content-Range": "206 only: `bytes a-b/<size>`.",
        ETag: 'The content\'s SHA-256, hex, quoted: `"<sha256>"`.',
        "Last-Modified": "The object's upload time in the source bucket.",
        "Accept-Ranges": "`bytes`.",
        "Content-Disposition": "`attachment; filename*=UTF-8''<last segment of the key>`.",
        "Content-Language": "As stored.",
        "Content-Encoding": "As stored (the bytes are sent as they were stored, not encoded again).",
        Expires: "The stored cache expiry.",
        "Cache-Control": "`private, no-store`; the stored value is in `x-r2-backup-stored-cache-control`.",
        "x-amz-meta-<name>":
          "Each custom metadata entry (non-ASCII values RFC 2047 encoded); `x-amz-missing-meta` counts those whose names cannot be header names.",
        "x-r2-backup-copy": "`replica` when the replica's copy was read.",
      },
    },
    handle: downloadObject,
  },
  {
    method: "GET",
    path: "/backup/logs/:id",
    scope: "backup:read",
    tag: "backups",
    summary: "A backup's or job's log, oldest first",
    description:
      "`:id` is a backup id (its log, with the lines of the jobs that worked on it) or a job id (a verification's, restore's, replication's or cleanup's own lines). 404 when it is neither.",
    query: requests.listLogsQuery,
    errors: [404],
    success: {
      status: 200,
      schema: resources.page("logs", resources.logEntry),
      example: { logs: [examples.logEntry], nextCursor: null },
    },
    handle: (c) => listBackupLogs(c, idOf(c)),
  },
  {
    method: "POST",
    path: "/backup/verify/:id",
    scope: "backup:write",
    audit: "backup.verify",
    tag: "jobs",
    summary: "Verify a backup's blobs by SHA-256",
    description:
      "`full` reads every blob; `quick` checks that each exists with the right size, and reads `samplePercent` of them. `copy: replica` checks the backup's copy in R2_REPLICA_BUCKET instead (400 when none is bound, 409 before its replication has ended).",
    body: requests.verifyBody,
    errors: [404, 409, 413],
    success: { status: 202, schema: resources.one("job", resources.job), example: { job: examples.verifyJob } },
    handle: (c) => startVerify(c, idOf(c)),
  },
  {
    method: "POST",
    path: "/backup/restore/:id",
    scope: "backup:restore",
    audit: "backup.restore",
    tag: "jobs",
    summary: "Restore a backup's snapshot into the source bucket",
    description:
      "Reproduces the bucket as it was when the backup was taken, filtered by `filters`, under `targetPrefix` if given. Filters combine with AND: `pathPrefix`, `fileExtensions`, `dateRange` (modified time), `include` and `exclude` (key globs as in the files listing: a key must match one include, when given, and no exclude, which wins), `sizeRange` (`min`, `max` bytes, inclusive) and `contentTypes` (`image/png`, or `image/*` for a whole type). With `overwriteExisting: false` an existing object is never replaced (counted in `filesSkipped`). `dryRun` writes nothing and lists the planned keys; the job's first log line names the filters.",
    body: requests.restoreBody,
    errors: [404, 409, 413],
    success: { status: 202, schema: resources.one("job", resources.job), example: { job: examples.restoreJob } },
    handle: (c) => startRestore(c, idOf(c)),
  },
  {
    method: "POST",
    path: "/backup/replicate/:id",
    scope: "backup:write",
    audit: "backup.replicate",
    tag: "jobs",
    summary: "Copy a backup to the replica bucket again",
    description:
      "Every completed backup is replicated by itself when R2_REPLICA_BUCKET is bound (its `replicaStatus`); this starts another replication, for one that failed or was incomplete, or a backup made before the replica was bound. Objects the replica has are not copied again. No body. 400 when no replica is bound, 409 while one runs.",
    errors: [404, 409],
    success: { status: 202, schema: resources.one("job", resources.job), example: { job: examples.replicateJob } },
    handle: (c) => startReplication(c, idOf(c)),
  },
  {
    method: "GET",
    path: "/backup/jobs/:jobId",
    scope: "backup:read",
    tag: "jobs",
    summary: "A verify, restore, cleanup or replicate job",
    errors: [404],
    success: { status: 200, schema: resources.one("job", resources.job), example: { job: examples.restoreJob } },
    handle: (c) => getJob(c, c.request.params.jobId!),
  },
  {
    method: "POST",
    path: "/backup/cancel/:id",
    scope: null,
    scopeNote:
      "backup:write for a backup, a verify or a replicate job, backup:restore for a restore job, backup:admin for cleanup",
    audit: "backup.cancel",
    tag: "jobs",
    summary: "Cancel a running backup or job",
    description:
      "Takes a backup id or a job id; the work stops at its next step boundary and ends `cancelled`. Cancelling finished work is 409.",
    errors: [404, 409],
    success: {
      status: 202,
      schema: z.union([resources.one("backup", resources.backup), resources.one("job", resources.job)]),
      example: { backup: { ...examples.backup, status: "in_progress" } },
    },
    handle: (c) => cancelBackupOrJob(c, idOf(c)),
  },
  {
    method: "POST",
    path: "/backup/cleanup",
    scope: "backup:admin",
    audit: "backup.cleanup",
    tag: "admin",
    summary: "Apply the retention policy and collect unreferenced blobs",
    description:
      "Applies to the backups of `template` (default: the `default` template, whose rules are `BACKUP_RETENTION_DAYS` and `BACKUP_KEEP`); without `retentionDays` or `keep`, the template's rules apply (a deleted template's backups: the environment's). 404 for a name that is neither a template nor on any backup. A backup is kept when it is younger than `retentionDays` or a `keep` rule selects it; the newest completed backup and every backup a running job reads are always kept. 409 while a job runs.",
    body: requests.cleanupBody,
    errors: [404, 409, 413],
    success: { status: 202, schema: resources.one("job", resources.job), example: { job: examples.cleanupJob } },
    handle: startCleanup,
  },
  {
    method: "GET",
    path: "/backup/templates",
    scope: "backup:admin",
    tag: "admin",
    summary: "Backup templates, the built-in default first",
    errors: [],
    success: {
      status: 200,
      schema: z.object({ templates: z.array(resources.template) }),
      example: { templates: [examples.template] },
    },
    handle: listTemplates,
  },
  {
    method: "POST",
    path: "/backup/templates",
    scope: "backup:admin",
    audit: "template.create",
    tag: "admin",
    summary: "Create a backup template",
    description:
      'A named backup configuration: source bucket (an R2 binding of this Worker and the bucket\'s name), key prefixes to include and exclude, schedule, retention and keep rules, compression and encryption. Backups of it start with `POST /backup/create {"template": name}` and, on its schedule, from the cron; templates of one bucket never run at once (a scheduled one waits for the bucket). 409 when the name is taken (`default` always is).',
    body: requests.createTemplateBody,
    errors: [409, 413],
    success: {
      status: 201,
      schema: resources.one("template", resources.template),
      example: { template: examples.template },
    },
    handle: createTemplate,
  },
  {
    method: "GET",
    path: "/backup/templates/:name",
    operationId: "getBackupTemplate",
    scope: "backup:admin",
    tag: "admin",
    summary: "One backup template",
    errors: [404],
    success: {
      status: 200,
      schema: resources.one("template", resources.template),
      example: { template: examples.template },
    },
    handle: getTemplate,
  },
  {
    method: "PUT",
    path: "/backup/templates/:name",
    scope: "backup:admin",
    audit: "template.update",
    tag: "admin",
    summary: "Replace a backup template's options",
    description:
      "Backups that run keep the options they started with. 409 for `default` (it is the environment variables).",
    body: requests.templateBody,
    errors: [404, 409, 413],
    success: {
      status: 200,
      schema: resources.one("template", resources.template),
      example: { template: examples.template },
    },
    handle: updateTemplate,
  },
  {
    method: "DELETE",
    path: "/backup/templates/:name",
    scope: "backup:admin",
    audit: "template.delete",
    tag: "admin",
    summary: "Delete a backup template",
    description: "Its backups stay (and keep its name); answers the deleted template. 409 for `default`.",
    errors: [404, 409],
    success: {
      status: 200,
      schema: resources.one("template", resources.template),
      example: { template: examples.template },
    },
    handle: deleteTemplate,
  },
  {
    method: "GET",
    path: "/backup/stats",
    scope: "backup:read",
    tag: "monitoring",
    summary: "Statistics and health of the whole system and each bucket",
    errors: [],
    success: { status: 200, schema: resources.stats, example: examples.stats },
    handle: getStats,
  },
  {
    method: "GET",
    path: "/backup/alerts",
    scope: "backup:read",
    tag: "monitoring",
    summary: "Alerts, newest first",
    query: requests.listAlertsQuery,
    errors: [],
    success: {
      status: 200,
      schema: resources.page("alerts", resources.alert),
      example: { alerts: [examples.alert], nextCursor: null },
    },
    handle: listAlerts,
  },
  {
    method: "POST",
    path: "/backup/alerts/:id/resolve",
    scope: "backup:admin",
    audit: "alert.resolve",
    tag: "monitoring",
    summary: "Resolve a mass_change alert: takes effect after BACKUP_HOLD_RELEASE_DELAY_HOURS",
    description:
      "No body. `mass_change` never resolves by itself: while it is open, no cleanup expires a backup of its bucket older than the one it suspects. This call acknowledges it; the resolution takes effect `BACKUP_HOLD_RELEASE_DELAY_HOURS` (default 24, set by deploy) later, shown meanwhile as `resolution`, sent as the webhook `alert.resolve_requested`, and cancellable with `DELETE` on the same path. Once in effect, the alert resolves (webhook `alert.resolved`) and the backups up to the request count as acknowledged: they never open it again. Asking again while a request is pending changes nothing. 409 for an alert that resolves by itself, or one already resolved.",
    errors: [404, 409],
    success: {
      status: 200,
      schema: resources.one("alert", resources.alert),
      example: { alert: examples.massChangeAlert },
    },
    handle: (c) => requestResolution(c, idOf(c)),
  },
  {
    method: "DELETE",
    path: "/backup/alerts/:id/resolve",
    operationId: "cancelAlertResolution",
    scope: "backup:admin",
    audit: "alert.resolve_cancel",
    tag: "monitoring",
    summary: "Cancel a pending resolution of a mass_change alert",
    description:
      "No body. The alert stays open and keeps holding its bucket's older backups; sent as the webhook `alert.resolve_cancelled`. 409 when no resolution is pending (or it has taken effect).",
    errors: [404, 409],
    success: {
      status: 200,
      schema: resources.one("alert", resources.alert),
      example: { alert: { ...examples.massChangeAlert, resolution: null } },
    },
    handle: (c) => cancelResolution(c, idOf(c)),
  },
  {
    method: "GET",
    path: "/backup/audit",
    scope: "backup:admin",
    tag: "admin",
    summary: "The audit trail, newest first",
    query: requests.listAuditQuery,
    errors: [],
    success: {
      status: 200,
      schema: resources.page("events", resources.auditEvent),
      example: { events: [examples.auditEvent], nextCursor: null },
    },
    handle: listAudit,
  },
  {
    method: "POST",
    path: "/dev/source-writes",
    scope: "backup:admin",
    tag: "dev",
    summary: "Local development only: write to the source bucket as R2 would, event notifications included",
    description:
      "Exists only with BACKUP_DEV_ROUTES=true (.dev.vars); 404 otherwise. `writes` puts or deletes objects in the source bucket and sends the R2 event notification of each to the queue; `notify` sends notifications for keys changed elsewhere.",
    body: requests.devSourceWritesBody,
    errors: [404, 413],
    success: {
      status: 200,
      schema: z.object({ written: z.number().int(), eventsSent: z.number().int() }),
      example: { written: 1, eventsSent: 1 },
    },
    handle: devSourceWrites,
  },
  {
    method: "POST",
    path: "/dev/cron",
    scope: "backup:admin",
    tag: "dev",
    summary: "Local development only: fire the cron trigger as at a chosen time",
    description:
      "Exists only with BACKUP_DEV_ROUTES=true (.dev.vars); 404 otherwise. Runs the scheduled handler with `cron` (default the shipped `0 * * * *`) at `time`, so a schedule's slot can be tried by hand (wrangler's /__scheduled fires at the current time only). What it did is in the audit trail (`schedule.run`, `template.run`).",
    body: requests.devCronBody,
    errors: [404, 413],
    success: {
      status: 200,
      schema: z.object({ cron: z.string(), scheduledTime: z.string() }),
      example: { cron: "0 * * * *", scheduledTime: "2026-12-01T02:00:00.000Z" },
    },
    handle: devCron,
  },
  {
    method: "POST",
    path: "/dev/damage",
    scope: "backup:admin",
    tag: "dev",
    summary: "Local development only: delete the blob of one object of a backup, to see verify find it",
    description:
      'Exists only with BACKUP_DEV_ROUTES=true (.dev.vars); 404 otherwise. Deletes the blob holding `key` (default: the snapshot\'s first object) from the backup bucket, or with `how: "alter"` changes its last byte, keeping its size and metadata (only reading the content can tell). Every backup that shares that content is damaged with it, as a real loss would.',
    body: requests.devDamageBody,
    errors: [404, 409, 413],
    success: {
      status: 200,
      schema: z.object({
        backupId: z.string(),
        key: z.string(),
        blobDeleted: z.string().optional(),
        blobAltered: z.string().optional(),
      }),
      example: {
        backupId: "bk-20261201T020000Z-1a2b3c4d",
        key: "docs/a.txt",
        blobDeleted: "blobs/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
      },
    },
    handle: devDamage,
  },
  {
    method: "GET",
    path: "/dev/diff-cost",
    scope: "backup:admin",
    tag: "dev",
    summary: "Local development only: what a whole diff of two snapshots costs in manifest chunks read",
    description:
      "Exists only with BACKUP_DEV_ROUTES=true (.dev.vars); 404 otherwise. Runs GET /api/backup/diff's comparison over every page and counts the manifest chunks it reads, beside the chunks of both trees (what reading both whole would cost). Used by `npm run bench -- --change`.",
    query: requests.devDiffCostQuery,
    errors: [404, 409],
    success: {
      status: 200,
      schema: z.object({
        from: z.string(),
        to: z.string(),
        changes: z.number().int(),
        chunksRead: z.number().int(),
        chunksInBothTrees: z.number().int(),
        milliseconds: z.number().int(),
      }),
      example: {
        from: "bk-20261130T020000Z-0a1b2c3d",
        to: "bk-20261201T020000Z-1a2b3c4d",
        changes: 500,
        chunksRead: 61,
        chunksInBothTrees: 1036,
        milliseconds: 420,
      },
    },
    handle: devDiffCost,
  },
];
