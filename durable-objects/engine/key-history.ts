/**
 * The versions of one key across a bucket's backups, found from what each backup says of the key,
 * walked newest first (GET /api/backup/history). A version is a run of backups holding the same
 * object (`sameObject`: what a restore would write); a backup without the key between two runs
 * ends the older one, its time being when the key was found deleted. A backup that cannot say
 * (the key failed to be read in it, or lies outside what its template backs up) is no evidence
 * either way and is passed over: it neither ends a version nor marks a deletion.
 */
import type { ManifestEntry } from "./format/manifest";
import { sameObject } from "./format/tree-diff";

export interface KeyObservation {
  backupId: string;
  /** When the backup was taken (its backup date). */
  at: string;
  seen: { kind: "present"; entry: ManifestEntry } | { kind: "absent" } | { kind: "unknown" };
}

export interface KeyVersion {
  entry: ManifestEntry;
  /** The oldest and newest backups holding it (walked newest first, so `first` moves back). */
  firstBackupId: string;
  firstSeen: string;
  lastBackupId: string;
  lastSeen: string;
  /** The first backup after `lastSeen` without the key, when there is one. */
  deletedAt: string | null;
  backupIds: string[];
}

/** Where a walk that filled its page stops: the next page starts at `backupId`, carrying `absentSince`. */
export interface WalkResume {
  backupId: string;
  at: string;
  absentSince: string | null;
}

export class KeyVersionWalk {
  private readonly done: KeyVersion[] = [];
  private current: KeyVersion | null = null;
  /** The oldest of the backups without the key seen since the last version's (newer) run. */
  private absentSince: string | null;
  private resume: WalkResume | null = null;

  constructor(
    private readonly limit: number,
    carried: string | null = null,
  ) {
    this.absentSince = carried;
  }

  /** Takes the next older backup's observation; false once the page is full (it was not taken). */
  observe(observation: KeyObservation): boolean {
    if (this.resume) return false;
    const { seen } = observation;
    if (seen.kind === "unknown") return true;
    if (seen.kind === "absent") {
      this.absentSince = observation.at;
      return true;
    }
    const current = this.current;
    if (current && this.absentSince === null && sameObject(current.entry, seen.entry)) {
      current.firstBackupId = observation.backupId;
      current.firstSeen = observation.at;
      current.backupIds.push(observation.backupId);
      return true;
    }
    if (current) {
      this.done.push(current);
      if (this.done.length === this.limit) {
        this.current = null;
        this.resume = { backupId: observation.backupId, at: observation.at, absentSince: this.absentSince };
        return false;
      }
    }
    this.current = {
      entry: seen.entry,
      firstBackupId: observation.backupId,
      firstSeen: observation.at,
      lastBackupId: observation.backupId,
      lastSeen: observation.at,
      deletedAt: this.absentSince,
      backupIds: [observation.backupId],
    };
    this.absentSince = null;
    return true;
  }

  /** The versions found, newest first, and where the next page starts (null: the walk is complete). */
  finish(): { versions: KeyVersion[]; next: WalkResume | null } {
    const versions = this.current ? [...this.done, this.current] : [...this.done];
    return { versions, next: this.resume };
  }
}
