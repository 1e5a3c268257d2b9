/**
 * The webhook outbox's sending side, run by the WebhookDispatcher's alarm: due deliveries are
 * sent oldest first, each signed afresh per attempt with the time it is sent (its timestamp
 * changes, its id and body never do). A 2xx answer delivers it; anything else (another status, a network error, no answer within
 * the timeout) schedules the next attempt with backoff, up to MAX_ATTEMPTS, after which it is
 * marked `failed` and logged. Nothing here can fail or slow a backup: jobs only queue rows.
 */
import { and, asc, eq, lte, min } from "drizzle-orm";
import { webhookDeliveries, type WebhookDeliveryRow } from "../../../schema";
import { errorMessage } from "../errors";
import type { Database } from "../records";
import { webhookSignature } from "./webhook-signature";

export interface DispatchDeps {
  db: Database;
  url: string;
  secret: string;
  timeoutMs: number;
  fetch: typeof fetch;
  /** The wall clock (ms): each attempt is stamped when it is sent, however long the run has taken. */
  clock: () => number;
}

export interface DispatchReport {
  delivered: number;
  retrying: number;
  failed: number;
  /** When the next pending delivery is due, or null when none is pending. */
  nextAttemptAt: string | null;
}

/** 30 s, 2 min, 8 min, 32 min, about 2 h, then every 6 h: the 5th attempt comes after 42 minutes. */
export const MAX_ATTEMPTS = 8;
const FIRST_RETRY_MS = 30_000;
const MAX_RETRY_MS = 6 * 3_600_000;
export function retryDelayMs(failedAttempts: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 4 ** (failedAttempts - 1));
}

/** Deliveries sent per run; a receiver that failed this many times in one run is left for later. */
const PER_RUN = 25;
const FAILURES_PER_RUN = 2;

export async function deliverDue(deps: DispatchDeps, now: Date): Promise<DispatchReport> {
  const report: DispatchReport = { delivered: 0, retrying: 0, failed: 0, nextAttemptAt: null };
  const due = await deps.db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.status, "pending"), lte(webhookDeliveries.nextAttemptAt, now.toISOString())))
    .orderBy(asc(webhookDeliveries.createdAt), asc(webhookDeliveries.id))
    .limit(PER_RUN);
  let failures = 0;
  // `now` is the run's time (tests pass a later one instead of waiting); each attempt is stamped
  // with it plus the time the run has taken so far, so a receiver with a 5-minute tolerance
  // never sees a timestamp grown old while earlier deliveries of the run were answered slowly.
  const offset = now.getTime() - deps.clock();
  for (const delivery of due) {
    if (failures >= FAILURES_PER_RUN) break;
    const problem = await attempt(deps, delivery, new Date(deps.clock() + offset));
    const attempts = delivery.attempts + 1;
    const at = now.toISOString();
    if (problem === null) {
      report.delivered++;
      await update(deps.db, delivery, {
        status: "delivered",
        attempts,
        lastAttemptAt: at,
        deliveredAt: at,
        lastError: null,
      });
      continue;
    }
    failures++;
    if (attempts >= MAX_ATTEMPTS) {
      report.failed++;
      console.error(
        `webhook delivery ${delivery.id} (${delivery.event}) given up after ${attempts} attempts: ${problem}`,
      );
      await update(deps.db, delivery, { status: "failed", attempts, lastAttemptAt: at, lastError: problem });
    } else {
      report.retrying++;
      const next = new Date(now.getTime() + retryDelayMs(attempts)).toISOString();
      await update(deps.db, delivery, { attempts, lastAttemptAt: at, lastError: problem, nextAttemptAt: next });
    }
  }
  const [pending] = await deps.db
    .select({ next: min(webhookDeliveries.nextAttemptAt) })
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.status, "pending"));
  report.nextAttemptAt = pending?.next ?? null;
  return report;
}

/** Sends one delivery; returns null on a 2xx answer, else what went wrong. */
async function attempt(deps: DispatchDeps, delivery: WebhookDeliveryRow, now: Date): Promise<string | null> {
  const timestamp = Math.floor(now.getTime() / 1000);
  try {
    const response = await deps.fetch(deps.url, {
      method: "POST",
      body: delivery.body,
      redirect: "manual",
      signal: AbortSignal.timeout(deps.timeoutMs),
      headers: {
        "content-type": "application/json",
        "user-agent": "r2-backup-system-webhooks",
        "x-backup-event": delivery.event,
        "x-backup-delivery": delivery.id,
        "x-backup-timestamp": String(timestamp),
        "x-backup-signature": await webhookSignature(deps.secret, timestamp, delivery.body),
      },
    });
    await response.body?.cancel();
    return response.status >= 200 && response.status < 300 ? null : `the receiver answered HTTP ${response.status}`;
  } catch (error) {
    return error instanceof DOMException && error.name === "TimeoutError"
      ? `no answer within ${deps.timeoutMs} ms`
      : errorMessage(error);
  }
}

/** Updates a delivery only if no other run has attempted it since it was read. */
function update(db: Database, delivery: WebhookDeliveryRow, values: Partial<WebhookDeliveryRow>) {
  return db
    .update(webhookDeliveries)
    .set(values)
    .where(and(eq(webhookDeliveries.id, delivery.id), eq(webhookDeliveries.attempts, delivery.attempts)));
}
