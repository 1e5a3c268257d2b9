/**
 * BACKUP_SCHEDULE against the Worker's cron triggers. Every schedule has one-hour slots in which
 * its automatic backup is due: `hourly` every UTC hour, `daily` 02:00–03:00 UTC, `weekly`
 * Sundays 02:00–03:00 UTC; `manual` has none. A cron firing starts a backup when it is the first
 * firing of its trigger inside a slot, so a trigger that fires more often than the schedule (the
 * shipped one fires hourly, which also runs the alert check every hour) starts one backup per slot.
 *
 * A trigger serves a schedule when it fires inside every slot; one that cannot (a daily trigger
 * with an hourly schedule, a trigger that never fires on Sundays at 02:00 with a weekly one) is
 * a configuration error: every firing of that trigger records it (audit trail, Worker log, and
 * `schedule.lastRun` in stats) instead of running, and `npm test` checks the shipped trigger
 * against every schedule.
 */
import { Cron } from "croner";

export const SCHEDULES = ["daily", "hourly", "weekly", "manual"] as const;
export type Schedule = (typeof SCHEDULES)[number];

const HOUR_MS = 3_600_000;
const SLOT_HOUR_UTC = 2;
/** Two weeks of slots are enough to see every weekly or daily pattern a trigger can miss. */
const CHECKED_SPAN_MS = 14 * 24 * HOUR_MS;
/** A Monday, 00:00 UTC: where the compatibility check starts counting slots. */
const CHECK_FROM = Date.UTC(2026, 0, 5);

function cronOf(expression: string): Cron {
  return new Cron(expression, { timezone: "UTC", paused: true });
}

/**
 * The start of the slot `at` falls in, or null when it is in none. `slotHour`: the UTC hour of a
 * daily or weekly slot (backups 02:00; scheduled verifications use 04:00, after them).
 */
export function slotStart(schedule: Schedule, at: Date, slotHour = SLOT_HOUR_UTC): number | null {
  const hour = Math.floor(at.getTime() / HOUR_MS) * HOUR_MS;
  switch (schedule) {
    case "hourly":
      return hour;
    case "daily":
      return at.getUTCHours() === slotHour ? hour : null;
    case "weekly":
      return at.getUTCDay() === 0 && at.getUTCHours() === slotHour ? hour : null;
    case "manual":
      return null;
  }
}

const problems = new Map<string, string | null>();

/**
 * Why `expression` cannot serve `schedule`, or null when it can. Asked on every cron firing, so
 * the answer (two weeks of slots checked) is kept per isolate: neither input changes without a
 * deployment.
 */
export function scheduleProblem(schedule: Schedule, expression: string): string | null {
  const key = `${schedule} ${expression}`;
  if (!problems.has(key)) problems.set(key, findScheduleProblem(schedule, expression));
  return problems.get(key)!;
}

function findScheduleProblem(schedule: Schedule, expression: string): string | null {
  if (schedule === "manual") return null;
  let cron: Cron;
  try {
    cron = cronOf(expression);
  } catch (error) {
    return `cron trigger "${expression}" is not a valid cron expression (${error instanceof Error ? error.message : String(error)})`;
  }
  for (let at = CHECK_FROM; at < CHECK_FROM + CHECKED_SPAN_MS; at += HOUR_MS) {
    const slot = slotStart(schedule, new Date(at));
    if (slot === null) continue;
    const next = cron.nextRun(new Date(slot - 1));
    if (!next || next.getTime() >= slot + HOUR_MS) {
      return (
        `cron trigger "${expression}" cannot run a ${schedule} schedule: it does not fire between ` +
        `${new Date(slot).toISOString().slice(11, 16)} and ${new Date(slot + HOUR_MS).toISOString().slice(11, 16)} UTC` +
        (schedule === "weekly" ? " on Sundays" : "") +
        `; use a trigger such as "0 * * * *", or BACKUP_SCHEDULE=manual`
      );
    }
  }
  return null;
}

/** Whether the firing of `expression` at `at` is the one that starts the slot's backup (or verification). */
export function backupDue(schedule: Schedule, expression: string, at: Date, slotHour = SLOT_HOUR_UTC): boolean {
  const slot = slotStart(schedule, at, slotHour);
  if (slot === null) return false;
  const [previous] = cronOf(expression).previousRuns(1, at);
  return previous === undefined || previous.getTime() < slot;
}
