/**
 * Monitoring test helpers: backup history written straight into D1 (the alert rules and stats read
 * nothing else), the webhook receiver of the `monitoring` project, and the dispatcher.
 */
import { env } from "cloudflare:test";
import { inject } from "vitest";
import { getConfig } from "../../durable-objects/engine/settings/config";
import { checkAlerts, DISPATCHER_NAME } from "../../durable-objects/oversight/monitor";

export interface HistoryRow {
  id: string;
  status: "completed" | "partial" | "failed" | "cancelled" | "expired" | "in_progress";
  at: string;
  type?: "full" | "incremental";
  storedBytes?: number;
  snapshotSize?: number;
  lastVerificationValid?: boolean | null;
  error?: string | null;
  bucket?: string;
  files?: number;
  durationSeconds?: number;
}

/** Inserts finished backups as a backup job would have recorded them (steps > 0: measured). */
export async function insertHistory(rows: HistoryRow[]): Promise<void> {
  for (const r of rows) {
    const started = Date.parse(r.at);
    const ended =
      r.status === "in_progress" ? null : new Date(started + (r.durationSeconds ?? 60) * 1000).toISOString();
    await env.DB.prepare(
      `INSERT INTO r2_backups (id, bucket_name, backup_date, status, backup_type, trigger, requested_by, started_at, completed_at,
         snapshot_size, stored_bytes, steps, files_processed, last_verification_valid, error, updated_at)
       VALUES (?, ?, ?, ?, ?, 'api', 'tester', ?, ?, ?, ?, 1, ?, ?, ?, ?)`,
    )
      .bind(
        r.id,
        r.bucket ?? "cutty-files",
        r.at,
        r.status,
        r.type ?? "incremental",
        r.at,
        ended,
        r.snapshotSize ?? 1000,
        r.storedBytes ?? 100,
        r.files ?? 100,
        r.lastVerificationValid === undefined || r.lastVerificationValid === null
          ? null
          : r.lastVerificationValid
            ? 1
            : 0,
        r.error ?? null,
        ended ?? r.at,
      )
      .run();
  }
}

/** The source bucket's alerts, checked at `now` (a controllable clock). */
export function checkAt(now: string | Date) {
  return checkAlerts(
    env.DB,
    getConfig(env),
    "cutty-files",
    (bucket) => env.BUCKET_COORDINATOR.getByName(bucket).changeSummary(),
    new Date(now),
  );
}

export async function alertRows() {
  return (
    await env.DB.prepare("SELECT id, code, severity, opened_at, resolved_at FROM alerts ORDER BY opened_at, id").all()
  ).results as {
    id: string;
    code: string;
    severity: string;
    opened_at: string;
    resolved_at: string | null;
  }[];
}

export async function queuedDeliveries() {
  return (
    await env.DB.prepare(
      "SELECT id, event, body, status, attempts, last_error FROM webhook_deliveries ORDER BY created_at, id",
    ).all()
  ).results as {
    id: string;
    event: string;
    body: string;
    status: string;
    attempts: number;
    last_error: string | null;
  }[];
}

export function dispatcher() {
  return env.WEBHOOK_DISPATCHER.getByName(DISPATCHER_NAME);
}

export interface ReceivedDelivery {
  id: string;
  event: string;
  timestamp: string;
  valid: boolean;
  body: string;
  answered: number | "never";
}

function receiverUrl(path: string) {
  return `http://127.0.0.1:${inject("webhookPort")}${path}`;
}

export const receiver = {
  async deliveries(): Promise<ReceivedDelivery[]> {
    return ((await (await fetch(receiverUrl("/control/deliveries"))).json()) as { deliveries: ReceivedDelivery[] })
      .deliveries;
  },
  async mode(mode: { failNext?: number; hang?: boolean }): Promise<void> {
    await (await fetch(receiverUrl("/control/mode"), { method: "POST", body: JSON.stringify(mode) })).text();
  },
  async reset(): Promise<void> {
    await (await fetch(receiverUrl("/control/reset"), { method: "POST" })).text();
  },
};
