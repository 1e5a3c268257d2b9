/**
 * The watchdog over D1: a backup or job row that says `in_progress` must have a job object behind
 * it. Every job saves its state before its row is first written, so a row without state means the
 * object's storage was lost (or the row predates this rule); after ORPHAN_GRACE_MS it is marked
 * failed with an error that says so, instead of showing `in_progress` forever. Asking a job also
 * re-arms its alarm if that was lost (invariant 4 in docs/invariants.md).
 *
 * Runs from the coordinator's alarm, the cron, and after the response of a status read that finds
 * a row that has not moved for a while; never while a request waits.
 */
import { and, asc, eq, inArray, lt, sql } from "drizzle-orm";
import { backupJobs, r2Backups } from "../../schema/index";
import { insertLog, openDatabase, updateBackup, updateJob } from "../engine/records";
import { endHolder, releaseCollector, runLedger } from "../engine/collection/ledger";
import { clock } from "../engine/clock";

/** A job that has not written its start after this long is not coming. */
export const ORPHAN_GRACE_MS = 10 * 60_000;
/** A row that has not changed for this long is worth asking its job about. */
export const STALE_ROW_MS = 2 * 60_000;
/** Rows one sweep looks at, so a sweep stays short. */
const SWEEP_LIMIT = 25;

export type WatchedKind = "backup" | "verify" | "restore" | "cleanup" | "replicate";

/** The Durable Object behind a backup or job row. */
export function jobStub(env: Env, kind: WatchedKind, id: string) {
  switch (kind) {
    case "backup":
      return env.BACKUP_JOB.getByName(id);
    case "verify":
      return env.VERIFY_JOB.getByName(id);
    case "restore":
      return env.RESTORE_JOB.getByName(id);
    case "cleanup":
      return env.CLEANUP_JOB.getByName(id);
    case "replicate":
      return env.REPLICATE_JOB.getByName(id);
  }
}

/**
 * Asks the job behind a row; marks the row failed when the job does not exist and the row is
 * older than the grace period. Returns what the job said.
 */
export async function checkJob(
  env: Env,
  kind: WatchedKind,
  id: string,
  since: string,
  now = clock.date(),
): Promise<"running" | "finished" | "unknown" | "orphaned"> {
  const stub = jobStub(env, kind, id);
  if (!stub) return "unknown";
  const answer = await stub.heartbeat();
  if (answer !== "unknown" || now.getTime() - Date.parse(since) < ORPHAN_GRACE_MS) return answer;
  const db = openDatabase(env.DB);
  const at = now.toISOString();
  const error = `The ${kind} job has no state behind this record (its Durable Object storage was lost, or it never started); marked failed by the watchdog at ${at}.`;
  // An orphan's hold on the store ends with it: a backup's references, a cleanup's collection.
  const ledger = kind === "backup" ? endHolder(db, id) : kind === "cleanup" ? releaseCollector(db, id) : [];
  await runLedger(db, ledger, [
    kind === "backup"
      ? updateBackup(db, id, { status: "failed", phase: "done", error, completedAt: at, updatedAt: at })
      : updateJob(db, id, { status: "failed", error, completedAt: at, updatedAt: at }),
    insertLog(db, {
      eventKey: `${id}:orphaned`,
      backupId: id,
      timestamp: at,
      eventType: "error",
      level: "error",
      message: error,
      requestedBy: "watchdog",
    }),
  ]);
  return "orphaned";
}

/** Asks the jobs behind the stalest `in_progress` rows; marks orphans failed. */
export async function reconcileOrphans(env: Env, now = clock.date()): Promise<number> {
  const db = openDatabase(env.DB);
  const staleBefore = new Date(now.getTime() - STALE_ROW_MS).toISOString();
  const backups = await db
    .select({ id: r2Backups.id, since: r2Backups.updatedAt })
    .from(r2Backups)
    .where(and(inArray(r2Backups.status, ["pending", "in_progress"]), lt(r2Backups.updatedAt, staleBefore)))
    .orderBy(asc(r2Backups.updatedAt))
    .limit(SWEEP_LIMIT);
  const jobs = await db
    .select({
      id: backupJobs.id,
      kind: backupJobs.kind,
      since: sql<string>`coalesce(${backupJobs.updatedAt}, ${backupJobs.createdAt})`,
    })
    .from(backupJobs)
    .where(
      and(
        eq(backupJobs.status, "in_progress"),
        lt(sql`coalesce(${backupJobs.updatedAt}, ${backupJobs.createdAt})`, staleBefore),
      ),
    )
    .orderBy(asc(backupJobs.createdAt))
    .limit(SWEEP_LIMIT);
  let orphans = 0;
  for (const row of [...backups.map((b) => ({ ...b, kind: "backup" as const })), ...jobs]) {
    try {
      if ((await checkJob(env, row.kind, row.id, row.since, now)) === "orphaned") orphans += 1;
    } catch (error) {
      console.error(`watchdog: ${row.kind} ${row.id} did not answer`, error);
    }
  }
  return orphans;
}

/**
 * For status reads: when a row in progress has not moved for STALE_ROW_MS, ask its job after the
 * response is sent (re-arming a lost alarm, failing an orphan). A read never waits on a job: a job
 * busy in a step can take long to answer, and a read must answer from D1 at once.
 */
export function watchAfterResponse(
  ctx: ExecutionContext,
  env: Env,
  kind: WatchedKind,
  id: string,
  since: string | null,
): void {
  if (since !== null && clock.now() - Date.parse(since) < STALE_ROW_MS) return;
  ctx.waitUntil(
    checkJob(env, kind, id, since ?? new Date(0).toISOString()).catch((error: unknown) =>
      console.error(`watchdog call to ${kind} ${id} failed`, error),
    ),
  );
}
