/**
 * The simulation's jobs: backups (with faults), cleanups (with faults, and side by side with a
 * backup of the other bucket), cancels, days passing with the cron firing, verifications and
 * restores of kept backups.
 */
import { env } from "cloudflare:test";
import type fc from "fast-check";
import { advanceClock, clock } from "../../durable-objects/engine/clock";
import { api } from "../helpers/api";
import { CallPlan, disarm } from "../helpers/interpose";
import { checkExpired, checkKept, checkStore, compareRestore, recordFinishedBackups, tally } from "./checks";
import { drain, Interleaving, plans, stepJob, stubOf } from "./jobs";
import type { BucketId, Folder } from "./keys";
import type { Model } from "./model";
import { tick, type Command } from "./source-commands";
import { arm, createBackup, createCleanup, fireCron, slotAfter, verifyBackup, type CleanupPolicy } from "./world";

export interface Fault {
  mode: "throw" | "die";
  at: number;
}

/** After a cleanup: kept backups verify (the newest of each bucket is restored too), expired ones are gone. */
async function afterCleanup(model: Model, exactStore: boolean): Promise<void> {
  tally.cleanups += 1;
  const newest = new Map<string, string>();
  for (const [id, snapshot] of model.snapshots) newest.set(snapshot.bucket, id);
  await checkKept(model, (id) => [...newest.values()].includes(id));
  await checkExpired(false);
  if (exactStore) await checkStore();
}

/** Runs a job just started (with a fault armed, if any) and everything after it to rest. */
async function runWithFault(
  model: Model,
  kind: "backup" | "cleanup",
  id: string | null,
  fault: Fault | null,
): Promise<void> {
  if (id && fault) {
    await arm({ kind, id }, new CallPlan(fault.mode, fault.at));
    tally.faults += 1;
  }
  await drain();
  await recordFinishedBackups(model);
}

const faultLabel = (fault: Fault | null) => (fault ? `, ${fault.mode}@${fault.at}` : "");

export class Backup implements Command {
  constructor(
    readonly bucket: BucketId,
    readonly type: "full" | "incremental" | "auto",
    readonly fault: Fault | null,
  ) {}
  check = () => true;
  async run(model: Model) {
    tick();
    await runWithFault(model, "backup", await createBackup(this.bucket, this.type), this.fault);
  }
  toString = () => `Backup(${this.bucket}, ${this.type}${faultLabel(this.fault)})`;
}

export class Cleanup implements Command {
  constructor(
    readonly bucket: BucketId,
    readonly policy: CleanupPolicy,
    readonly fault: Fault | null,
  ) {}
  check = () => true;
  async run(model: Model) {
    tick();
    const id = await createCleanup(this.bucket, this.policy);
    await runWithFault(model, "cleanup", id, this.fault);
    if (id) await afterCleanup(model, true);
  }
  toString = () => `Cleanup(${this.bucket}, ${JSON.stringify(this.policy)}${faultLabel(this.fault)})`;
}

/**
 * A backup of one bucket and a cleanup of the other side by side (the store is shared), their
 * steps interleaved by fast-check's scheduler, the backup's commits being points where the
 * cleanup may run in between.
 */
export class Concurrent implements Command {
  constructor(
    readonly backupOf: BucketId,
    readonly policy: CleanupPolicy,
    readonly scheduler: fc.Scheduler,
  ) {}
  check = () => true;
  async run(model: Model) {
    tick();
    const cleanupOf: BucketId = this.backupOf === "cutty" ? "media" : "cutty";
    const backupId = await createBackup(this.backupOf, "auto");
    const cleanupId = await createCleanup(cleanupOf, this.policy);
    const interleaving = new Interleaving(this.scheduler);
    const jobs = [];
    if (backupId) {
      const plan = new CallPlan("count");
      plan.before = async (label) => {
        if (label === "DB.batch") await interleaving.yieldPoint(`${this.backupOf} backup commit`);
      };
      await arm({ kind: "backup", id: backupId }, plan);
      jobs.push(interleaving.stepping({ kind: "backup", id: backupId }, `${this.backupOf} backup`));
    }
    if (cleanupId) jobs.push(interleaving.stepping({ kind: "cleanup", id: cleanupId }, `${cleanupOf} cleanup`));
    try {
      await interleaving.run(jobs);
    } finally {
      if (backupId) {
        // Its shards got its yield points too (jobs.ts): none may yield once the interleaving is over.
        for (const id of [...plans.keys()].filter((id) => id === backupId || id.startsWith(`${backupId}/shard-`))) {
          plans.delete(id);
          await disarm(stubOf({ kind: "backup", id }));
        }
      }
    }
    tally.interleavings += 1;
    await drain();
    await recordFinishedBackups(model);
    if (cleanupId) await afterCleanup(model, false);
  }
  toString = () => `Concurrent(backup ${this.backupOf}, cleanup of the other, ${JSON.stringify(this.policy)})`;
}

export class Cancel implements Command {
  constructor(
    readonly bucket: BucketId,
    readonly afterSteps: number,
  ) {}
  check = () => true;
  async run(model: Model) {
    tick();
    const id = await createBackup(this.bucket, "auto");
    if (id) {
      for (let i = 0; i < this.afterSteps; i++) if (await stepJob({ kind: "backup", id })) break;
      await api("POST", `/api/backup/cancel/${id}`);
    }
    await drain();
    await recordFinishedBackups(model);
  }
  toString = () => `Cancel(${this.bucket} after ${this.afterSteps} steps)`;
}

/** Days pass; the cron fires at the next daily slot: scheduled backups, their cleanups, alerts. */
export class Days implements Command {
  constructor(readonly days: number) {}
  check = () => true;
  async run(model: Model) {
    const at = slotAfter(this.days);
    advanceClock(at - clock.now());
    const cleanupsBefore = await cleanupCount();
    await fireCron(at);
    await drain();
    await recordFinishedBackups(model);
    if ((await cleanupCount()) > cleanupsBefore) await afterCleanup(model, true);
  }
  toString = () => `Days(${this.days})`;
}

const cleanupCount = async () =>
  (await env.DB.prepare("SELECT count(*) AS n FROM backup_jobs WHERE kind = 'cleanup'").first<{ n: number }>())!.n;

/** The kept backup at `pick` (modulo how many there are), or null when none is kept. */
async function pickKept(model: Model, pick: number): Promise<string | null> {
  tick();
  const rows = await env.DB.prepare(
    "SELECT id FROM r2_backups WHERE status IN ('completed', 'partial') ORDER BY id",
  ).all<{ id: string }>();
  const kept = rows.results.map((r) => r.id).filter((id) => model.snapshots.has(id));
  return kept.length === 0 ? null : kept[pick % kept.length]!;
}

/** A kept backup verified in one of the modes. */
export class VerifySome implements Command {
  constructor(
    readonly pick: number,
    readonly body: Record<string, unknown>,
  ) {}
  check = (model: Readonly<Model>) => model.snapshots.size > 0;
  async run(model: Model) {
    const id = await pickKept(model, this.pick);
    if (id === null) return;
    const job = await verifyBackup(id, this.body);
    tally.verifications += 1;
    if (job.result.valid !== true)
      throw new Error(
        `kept backup ${id} does not verify (${JSON.stringify(this.body)}): ${JSON.stringify(job.result)}`,
      );
  }
  toString = () => `Verify(#${this.pick}, ${JSON.stringify(this.body)})`;
}

/** A kept backup restored whole or one folder of it, and compared with its point in time. */
export class RestoreSome implements Command {
  constructor(
    readonly pick: number,
    readonly folder: Folder | null,
  ) {}
  check = (model: Readonly<Model>) => model.snapshots.size > 0;
  async run(model: Model) {
    const id = await pickKept(model, this.pick);
    if (id === null) return;
    await compareRestore(model, id, model.snapshots.get(id)!.state, this.folder ? `${this.folder}/` : "");
  }
  toString = () => `Restore(#${this.pick}${this.folder ? `, ${this.folder}/` : ""})`;
}
