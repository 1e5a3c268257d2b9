/**
 * Which kind of backup to run. `auto` is full when there is no finished backup or the last
 * finished full one is older than the full interval (7 days by default), else incremental. An
 * incremental backup needs a finished parent; without one it becomes full.
 *
 * "Finished" is `completed` or `partial`: a partial snapshot is a safe parent, because the
 * objects it could not read are absent from its manifest, so the next incremental reads them
 * again as new. Failed and cancelled backups have no snapshot and are never parents.
 */
import { and, desc, eq, inArray } from "drizzle-orm";
import { r2Backups, type BackupType } from "../../../schema/index";
import type { Database } from "../records";

export type RequestedBackupType = BackupType | "auto";

export interface BackupTypeInput {
  bucketName: string;
  /** An incremental's parent is the newest finished backup of the same template. */
  template: string;
  requested: RequestedBackupType;
  incrementalEnabled: boolean;
  fullIntervalDays: number;
  now: Date;
}

export interface ResolvedBackupType {
  type: BackupType;
  parentId: string | null;
  /** Why the type differs from the one requested, for the backup's log. */
  note: string | null;
}

export interface BackupHistory {
  /** The newest finished (completed or partial) backup of any type: an incremental's parent. */
  lastCompleted: { id: string; backupDate: string } | null;
  lastCompletedFull: { id: string; backupDate: string } | null;
}

export function chooseBackupType(input: BackupTypeInput, history: BackupHistory): ResolvedBackupType {
  const wantsIncremental =
    input.requested === "incremental" ||
    (input.requested === "auto" && input.incrementalEnabled && isRecent(history.lastCompletedFull?.backupDate, input));
  if (wantsIncremental && history.lastCompleted)
    return { type: "incremental", parentId: history.lastCompleted.id, note: null };
  const note =
    input.requested === "incremental"
      ? "Incremental backup requested, but there is no finished backup to build on: taking a full backup instead."
      : input.requested === "auto"
        ? autoFullReason(input, history)
        : null;
  return { type: "full", parentId: null, note };
}

function autoFullReason(input: BackupTypeInput, history: BackupHistory): string {
  if (!history.lastCompleted) return "Auto backup: no finished backup yet, so a full one.";
  if (!input.incrementalEnabled) return "Auto backup: incremental backups are disabled, so a full one.";
  return `Auto backup: the last finished full backup is older than ${input.fullIntervalDays} days (or there is none), so a full one.`;
}

function isRecent(backupDate: string | undefined, input: BackupTypeInput): boolean {
  if (!backupDate) return false;
  const ageMs = input.now.getTime() - Date.parse(backupDate);
  return ageMs <= input.fullIntervalDays * 24 * 60 * 60 * 1000;
}

export async function resolveBackupType(db: Database, input: BackupTypeInput): Promise<ResolvedBackupType> {
  const newestCompleted = (types: BackupType[]) =>
    db
      .select({ id: r2Backups.id, backupDate: r2Backups.backupDate })
      .from(r2Backups)
      .where(
        and(
          eq(r2Backups.bucketName, input.bucketName),
          eq(r2Backups.template, input.template),
          inArray(r2Backups.status, ["completed", "partial"]),
          inArray(r2Backups.backupType, types),
        ),
      )
      .orderBy(desc(r2Backups.backupDate))
      .limit(1);
  const [lastCompleted] = await newestCompleted(["full", "incremental"]);
  const [lastCompletedFull] = await newestCompleted(["full"]);
  return chooseBackupType(input, {
    lastCompleted: lastCompleted ?? null,
    lastCompletedFull: lastCompletedFull ?? null,
  });
}
