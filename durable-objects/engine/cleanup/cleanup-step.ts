/**
 * One step of a cleanup (retention and garbage collection). The bucket's lease is held while the
 * bucket's own history changes (plan to deliveries); the mark and sweep run as the store's one
 * collector instead (docs/invariants.md, 16), so backups of any bucket go on meanwhile:
 *
 *   plan    which backups the policy expires (keep-policy.ts), and expiries an earlier cleanup
 *           began and did not finish, saved in the job's SQLite storage (a list as long as the
 *           history, never one value);
 *   expire  per backup: D1 status `expired` with a log line (unless a verification, restore or
 *           replication began to read it after the plan: then it is kept), its file rows deleted
 *           in bounded batches, its manifest objects deleted, then its expiry recorded finished;
 *           the `r2_backups` row and logs stay (audit);
 *   logs    the log rows of backups that expired more than the log retention days before the
 *           cleanup started are counted once, then deleted in bounded batches;
 *   findings, deliveries  likewise old findings rows and webhook deliveries;
 *   collect the bucket's lease is released; the cleanup registers as the store's collector (or
 *           waits for the one there is), prunes the ledger rows no collection needs any more, and
 *           reads the snapshots to mark (collect.ts);
 *   mark    every manifest chunk and blob those snapshots name goes into the job's mark set
 *           (collect.ts);
 *   sweep   the blob store, then the chunk store, then the replica's, a page per step: what is
 *           neither marked nor younger than the grace period is condemned in the ledger (which
 *           leaves out what running backups reference) and deleted (sweep.ts).
 *
 * A dry run plans, counts and lists exactly what a real run would, and writes nothing. Every
 * step is safe to replay: each write is idempotent and counters advance only with the position
 * saved after the step.
 */
import { withFindings, type Finding } from "../job-state";
import { collectNext, markNext } from "./collect";
import type { CleanupDeps, CleanupState, PrunedRows } from "./cleanup-state";
import { planRetention, PROTECTIONS } from "./keep-policy";
import { sweepNext } from "./sweep";

export type { CleanupDeps, CleanupState, CleanupStore, SweepPage } from "./cleanup-state";

export const FILE_ROWS_PER_STEP = 10_000;
export const MANIFEST_PAGES_PER_STEP = 10;
export const LOG_ROWS_PER_STEP = 10_000;

export async function runCleanupStep(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  switch (state.phase) {
    case "plan":
      return plan(deps, state);
    case "expire":
      return expireNext(deps, state);
    case "logs":
      return pruneRows(deps, state, "logs", "logsDeleted", "findings");
    case "findings":
      return pruneRows(deps, state, "findings", "findingsDeleted", "deliveries");
    case "deliveries":
      return pruneRows(deps, state, "deliveries", "deliveriesDeleted", "collect");
    case "collect":
      return collectNext(deps, state);
    case "mark":
      return markNext(deps, state);
    case "sweep":
      return sweepNext(deps, state);
  }
}

async function plan(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  const { backups, inUse, unfinishedExpiries } = await deps.history();
  const retention = planRetention(backups, state.policy, deps.now(), inUse, deps.lock);
  // A dry run reports what this policy would expire; only a real run finishes earlier expiries.
  const finishing = state.dryRun ? [] : unfinishedExpiries.map((id) => ({ id, finishing: true }));
  deps.store.savePlan([...retention.expired.map((id) => ({ id, finishing: false })), ...finishing]);
  // What the request's policy alone would have expired, kept by a legal hold, the retention lock
  // or an open mass_change alert.
  const held: Finding[] = [...retention.kept]
    .filter(([, reasons]) => reasons.every((r) => PROTECTIONS.has(r)))
    .map(([id, reasons]) => ({ list: "held", path: id, detail: reasons.join(",") }));
  const count = (reason: string) => held.filter((f) => f.detail!.split(",").includes(reason)).length;
  return withFindings<CleanupState>(
    {
      ...state,
      phase: "expire",
      filesTotal: backups.length,
      keptByHold: count("legal_hold"),
      keptByLock: count("retention_lock"),
      keptByAlert: count("mass_change"),
    },
    held,
  );
}

async function expireNext(deps: CleanupDeps, state: CleanupState): Promise<CleanupState> {
  const planned = deps.store.nextExpired(state.expireAfter);
  if (planned === null) return { ...state, phase: "logs" };
  const { id, finishing } = planned;
  const done = { ...state, expireAfter: id, filesProcessed: state.filesProcessed + 1 };
  if (state.dryRun)
    return withFindings({ ...done, backupsExpired: state.backupsExpired + 1 }, [
      { list: "expired", path: id, detail: null },
    ]);
  if (!finishing) {
    const outcome = await deps.expireRecord(id);
    if (outcome === "in_use") return { ...done, keptInUse: (state.keptInUse ?? 0) + 1 };
    if (outcome === "held")
      return withFindings({ ...done, keptByHold: (state.keptByHold ?? 0) + 1 }, [
        { list: "held", path: id, detail: "legal_hold" },
      ]);
    if (outcome === "held_by_alert")
      return withFindings({ ...done, keptByAlert: (state.keptByAlert ?? 0) + 1 }, [
        { list: "held", path: id, detail: "mass_change" },
      ]);
  }
  if ((await deps.deleteFileRows(id, FILE_ROWS_PER_STEP)) === FILE_ROWS_PER_STEP) return state; // more next step
  if (!(await deleteManifest(deps.backup, id))) return state;
  if (deps.replica && !(await deleteManifest(deps.replica, id))) return state;
  await deps.expiryFinished(id);
  if (finishing) return { ...done, expiriesFinished: (state.expiriesFinished ?? 0) + 1 };
  const finding: Finding = { list: "expired", path: id, detail: null };
  return withFindings({ ...done, backupsExpired: state.backupsExpired + 1 }, [finding]);
}

/** Deletes a backup's manifest objects, a bounded number of pages a step; true when none is left. */
async function deleteManifest(bucket: Pick<R2Bucket, "list" | "delete">, backupId: string): Promise<boolean> {
  for (let page = 0; page < MANIFEST_PAGES_PER_STEP; page++) {
    const listed = await bucket.list({ prefix: `manifests/${backupId}/`, limit: 1000 });
    if (listed.objects.length === 0) return true;
    await bucket.delete(listed.objects.map((o) => o.key));
    if (!listed.truncated) return true;
  }
  return false;
}

/**
 * Prunes one kind of old D1 rows: the first step counts them (the figure reported, also by a dry
 * run), later steps delete them a batch at a time until a batch comes back short.
 */
async function pruneRows(
  deps: CleanupDeps,
  state: CleanupState,
  rows: PrunedRows,
  figure: "logsDeleted" | "findingsDeleted" | "deliveriesDeleted",
  next: CleanupState["phase"],
): Promise<CleanupState> {
  // Measured from the cleanup's start, so every step (and a replay) prunes the same set.
  const before = new Date(Date.parse(state.startedAt) - state.logRetentionDays * 86_400_000).toISOString();
  const prunable = deps.prunable[rows];
  if (state[figure] === null || state[figure] === undefined) {
    const counted = { ...state, [figure]: await prunable.count(before) };
    return state.dryRun || counted[figure] === 0 ? { ...counted, phase: next } : counted;
  }
  const deleted = await prunable.delete(before, LOG_ROWS_PER_STEP);
  return deleted < LOG_ROWS_PER_STEP ? { ...state, phase: next } : state;
}
