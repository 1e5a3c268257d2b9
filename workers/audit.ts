/**
 * The audit trail: every mutating call (who, what, on which backup or job, the outcome, when) and
 * every scheduled run, in D1's `audit_events`; `GET /api/backup/audit` (admin) pages it, newest
 * first, filtered by actor, action and time range.
 */
import { and, desc, eq, gte, lt, lte, type SQL } from "drizzle-orm";
import { z } from "zod";
import { auditEvents, type AuditAction, type AuditEventRow } from "../schema";
import { openDatabase } from "../durable-objects/engine/records";
import type { HandlerContext } from "./handler-context";
import { HttpError, jsonResponse } from "./http-error";
import { decodeCursor, encodeCursor } from "./pagination";
import { parseQuery } from "./request-body";
import { listAuditQuery } from "./schemas";
import { clock } from "../durable-objects/engine/clock";

export type AuditRecord = Omit<AuditEventRow, "id">;

/** Records one event. A failure to record is logged, never turned into the caller's failure. */
export async function recordAudit(db: D1Database, event: AuditRecord): Promise<void> {
  try {
    await openDatabase(db).insert(auditEvents).values(event);
  } catch (error) {
    console.error(`audit: could not record ${event.action} by ${event.actor}`, error);
  }
}

/**
 * The backup or job a response names (what the call started or acted on). Read whole, and that is
 * bounded: a mutating call answers with one backup or one job that is starting or running, whose
 * result lists (the only long part of a job) do not exist yet; a finished one is a 409.
 */
async function targetOf(response: Response): Promise<string | null> {
  // Only a JSON answer names one; a download's body is an object's content, never read here.
  if (!response.headers.get("content-type")?.startsWith("application/json")) return null;
  // Bounded: one backup, job or template (see above); never a download, refused just before.
  const body = (await response
    .clone()
    .json()
    .catch(() => null)) as { backup?: { id?: string }; job?: { id?: string }; template?: { name?: string } } | null;
  return body?.backup?.id ?? body?.job?.id ?? body?.template?.name ?? null;
}

/**
 * Runs a mutating (or sensitive) handler and records what came of it: accepted (2xx), refused
 * (4xx, nothing changed) or failed (5xx). `detailOf` adds what an accepted call's target alone
 * does not say (a download's key). The error, if any, is rethrown unchanged.
 */
export async function audited(
  action: AuditAction,
  context: HandlerContext,
  run: () => Promise<Response>,
  detailOf: (context: HandlerContext) => string | null = () => null,
): Promise<Response> {
  const at = clock.date().toISOString();
  const named = context.request.params.id ?? context.request.params.name ?? null;
  try {
    const response = await run();
    await recordAudit(context.env.DB, {
      at,
      actor: context.principal.subject,
      action,
      target: (await targetOf(response)) ?? named,
      outcome: response.status < 400 ? "accepted" : response.status < 500 ? "refused" : "failed",
      status: response.status,
      detail: detailOf(context),
    });
    return response;
  } catch (error) {
    const status = error instanceof HttpError ? error.status : 500;
    const detail = error instanceof HttpError ? `${error.code}: ${error.message}` : "internal_error";
    await recordAudit(context.env.DB, {
      at,
      actor: context.principal.subject,
      action,
      target: named,
      outcome: status < 500 ? "refused" : "failed",
      status,
      detail,
    });
    throw error;
  }
}

const auditCursor = z.object({ id: z.number().int().min(1) });

export async function listAudit(context: HandlerContext): Promise<Response> {
  const query = parseQuery(context.url, listAuditQuery);
  const conditions: SQL[] = [];
  if (query.actor) conditions.push(eq(auditEvents.actor, query.actor));
  if (query.action) conditions.push(eq(auditEvents.action, query.action));
  if (query.from) conditions.push(gte(auditEvents.at, new Date(query.from).toISOString()));
  if (query.to) conditions.push(lte(auditEvents.at, new Date(query.to).toISOString()));
  if (query.cursor) conditions.push(lt(auditEvents.id, decodeCursor(query.cursor, auditCursor).id));
  const rows = await openDatabase(context.env.DB)
    .select()
    .from(auditEvents)
    .where(and(...conditions))
    .orderBy(desc(auditEvents.id))
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return jsonResponse({
    events: page,
    nextCursor: rows.length > query.limit && last ? encodeCursor({ id: last.id }) : null,
  });
}
