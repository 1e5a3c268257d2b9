/**
 * The operations of the simulated month, as fast-check commands over the model and the real
 * system: source changes and their change events, backups of every kind, cleanups, verifications,
 * restores, cancels, days passing with the cron firing, faults (a call that throws, a job that
 * dies after a call and is replayed) and jobs that overlap where the system allows it.
 */
import fc from "fast-check";
import { advanceClock, clock } from "../../durable-objects/clock";
import type { BackupCheckpoint } from "../../durable-objects/engine/backup/backup-checkpoint";
import { api } from "../helpers/api";
import { CallPlan, disarm } from "../helpers/interpose";
import { checkExpired, checkKept, checkStore, compareRestore, recordFinishedBackups, tally } from "./checks";
import { drain, Interleaving, plans, stepJob, stubOf } from "./jobs";
import { BUCKETS, CONTENT_TYPES, CONTENTS, FOLDER_KEYS, FOLDERS, LARGE_KEY, type BucketId, type Folder } from "./keys";
import type { Model, SimObject } from "./model";
import { env, runInDurableObject } from "cloudflare:test";
import {
  arm,
  createBackup,
  createCleanup,
  deleteObjects,
  deliverEvents,
  fireCron,
  notification,
  putObject,
  slotAfter,
  verifyBackup,
  type CleanupPolicy,
} from "./world";

type Command = fc.AsyncCommand<Model, Model>;
interface Fault {
  mode: "throw" | "die";
  at: number;
}

/** Every operation moves the clock on a little: backup ids and dates follow the order of events. */
const tick = () => advanceClock(1_000);

const objectOf = (content: number, type: number, version: number): SimObject => ({
  content: CONTENTS[content % CONTENTS.length]!,
  contentType: CONTENT_TYPES[type % CONTENT_TYPES.length]!,
  custom: { v: String(version) },
});

async function writeKeys(model: Model, bucket: BucketId, writes: [string, SimObject | null][]): Promise<void> {
  for (const [key, object] of writes) {
    if (object) {
      await putObject(bucket, key, object);
      model.buckets[bucket].set(key, object);
    } else model.buckets[bucket].delete(key);
    if (bucket === "cutty") model.undelivered.add(key);
  }
  const deleted = writes.filter(([, object]) => object === null).map(([key]) => key);
  if (deleted.length) await deleteObjects(bucket, deleted);
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

class WriteFolder implements Command {
  constructor(
    readonly bucket: BucketId,
    readonly folder: Folder,
    readonly contents: number[],
  ) {}
  check = () => true;
  async run(model: Model) {
    tick();
    const keys = FOLDER_KEYS[this.folder];
    await writeKeys(
      model,
      this.bucket,
      keys.map((key, i) => [key, objectOf(this.contents[i % this.contents.length]!, i, model.nextLargeVersion++)]),
    );
  }
  toString = () => `WriteFolder(${this.bucket}, ${this.folder})`;
}

class DeleteFolder implements Command {
  constructor(
    readonly bucket: BucketId,
    readonly folder: Folder,
  ) {}
  check = () => true;
  async run(model: Model) {
    tick();
    const present = FOLDER_KEYS[this.folder].filter((key) => model.buckets[this.bucket].has(key));
    await writeKeys(
      model,
      this.bucket,
      present.map((key) => [key, null]),
    );
  }
  toString = () => `DeleteFolder(${this.bucket}, ${this.folder})`;
}

class TouchKeys implements Command {
  constructor(
    readonly bucket: BucketId,
    readonly touches: { folder: Folder; index: number; content: number | null }[],
  ) {}
  check = () => true;
  async run(model: Model) {
    tick();
    await writeKeys(
      model,
      this.bucket,
      this.touches.map(({ folder, index, content }) => {
        const keys = FOLDER_KEYS[folder];
        return [keys[index % keys.length]!, content === null ? null : objectOf(content, index, model.nextLargeVersion++)];
      }),
    );
  }
  toString = () => `TouchKeys(${this.bucket}, ${this.touches.length})`;
}

const largeObject = (model: Model): SimObject => ({
  content: { large: model.nextLargeVersion++ },
  contentType: "application/octet-stream",
  custom: { kind: "large" },
});

class Backup implements Command {
  constructor(
    readonly bucket: BucketId,
    readonly type: "full" | "incremental" | "auto",
    readonly fault: Fault | null,
  ) {}
  check = () => true;
  async run(model: Model) {
    tick();
    const id = await createBackup(this.bucket, this.type);
    if (id && this.fault) await armFault({ kind: "backup", id }, this.fault);
    await drain();
    await recordFinishedBackups(model);
  }
  toString = () => `Backup(${this.bucket}, ${this.type}${this.fault ? `, ${this.fault.mode}@${this.fault.at}` : ""})`;
}

async function armFault(ref: { kind: "backup" | "cleanup"; id: string }, fault: Fault): Promise<void> {
  const plan = new CallPlan(fault.mode, fault.at);
  await arm(ref, plan);
  tally.faults += 1;
}

/** A large object written, then rewritten while a backup of its bucket is capturing it. */
class LargeDuringBackup implements Command {
  constructor(readonly bucket: BucketId) {}
  check = () => true;
  async run(model: Model) {
    tick();
    await writeKeys(model, this.bucket, [[LARGE_KEY, largeObject(model)]]);
    const id = await createBackup(this.bucket, "auto");
    if (!id) return drain();
    const ref = { kind: "backup" as const, id };
    for (let steps = 0; steps < 50; steps++) {
      const checkpoint = await runInDurableObject(stubOf(ref), (_job, state) => state.storage.get<BackupCheckpoint>("checkpoint"));
      if (checkpoint?.stage !== "running") break;
      if (checkpoint.phase === "large" && checkpoint.largeObject?.key === LARGE_KEY && checkpoint.largeObject.stage !== "done") {
        const before = model.buckets[this.bucket].get(LARGE_KEY)!;
        await writeKeys(model, this.bucket, [[LARGE_KEY, largeObject(model)]]);
        model.midBackupVersions.set(LARGE_KEY, [before, model.buckets[this.bucket].get(LARGE_KEY)!]);
        break;
      }
      await stepJob(ref);
    }
    await drain();
    await recordFinishedBackups(model);
  }
  toString = () => `LargeDuringBackup(${this.bucket})`;
}

/** Change events of cutty-files: some lost, some duplicated, out of order, one naming a key R2 refuses. */
class EventBackup implements Command {
  constructor(
    readonly lost: number[],
    readonly duplicate: boolean,
    readonly reorder: boolean,
    readonly poison: boolean,
  ) {}
  check = (model: Readonly<Model>) => model.undelivered.size > 0;
  async run(model: Model) {
    tick();
    const keys = [...model.undelivered];
    model.undelivered.clear();
    const lost = new Set(this.lost.map((i) => keys[i % keys.length]));
    let events = keys.filter((key) => !lost.has(key)).map((key) => notification(key, !model.buckets.cutty.has(key)));
    if (this.duplicate) events = [...events, ...events.slice(0, 3)];
    if (this.reorder) events.reverse();
    if (this.poison) events.push(notification("é".repeat(1000), false));
    await deliverEvents(events);
    await drain();
    await recordFinishedBackups(model);
  }
  toString = () =>
    `EventBackup(lost ${this.lost.length}${this.duplicate ? ", duplicated" : ""}${this.reorder ? ", reordered" : ""}${this.poison ? ", poison key" : ""})`;
}

class Cleanup implements Command {
  constructor(
    readonly bucket: BucketId,
    readonly policy: CleanupPolicy,
    readonly fault: Fault | null,
  ) {}
  check = () => true;
  async run(model: Model) {
    tick();
    const id = await createCleanup(this.bucket, this.policy);
    if (id && this.fault) await armFault({ kind: "cleanup", id }, this.fault);
    await drain();
    await recordFinishedBackups(model);
    if (id) await afterCleanup(model, true);
  }
  toString = () => `Cleanup(${this.bucket}, ${JSON.stringify(this.policy)}${this.fault ? `, ${this.fault.mode}@${this.fault.at}` : ""})`;
}

/**
 * A backup of one bucket and a cleanup of the other side by side (the store is shared), their
 * steps interleaved by fast-check's scheduler, the backup's commits being points where the
 * cleanup may run in between.
 */
class Concurrent implements Command {
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
        plans.delete(backupId);
        await disarm(stubOf({ kind: "backup", id: backupId }));
      }
    }
    tally.interleavings += 1;
    await drain();
    await recordFinishedBackups(model);
    if (cleanupId) await afterCleanup(model, false);
  }
  toString = () => `Concurrent(backup ${this.backupOf}, cleanup of the other, ${JSON.stringify(this.policy)})`;
}

class Cancel implements Command {
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
class Days implements Command {
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

const cleanupCount = async () => (await env.DB.prepare("SELECT count(*) AS n FROM backup_jobs WHERE kind = 'cleanup'").first<{ n: number }>())!.n;

/** A kept backup, picked by index among those finished, verified in one of the modes. */
class VerifySome implements Command {
  constructor(
    readonly pick: number,
    readonly body: Record<string, unknown>,
  ) {}
  check = (model: Readonly<Model>) => model.snapshots.size > 0;
  async run(model: Model) {
    tick();
    const kept = await keptIds(model);
    if (kept.length === 0) return;
    const id = kept[this.pick % kept.length]!;
    const job = await verifyBackup(id, this.body);
    tally.verifications += 1;
    if (job.result.valid !== true) throw new Error(`kept backup ${id} does not verify (${JSON.stringify(this.body)}): ${JSON.stringify(job.result)}`);
  }
  toString = () => `Verify(#${this.pick}, ${JSON.stringify(this.body)})`;
}

class RestoreSome implements Command {
  constructor(
    readonly pick: number,
    readonly folder: Folder | null,
  ) {}
  check = (model: Readonly<Model>) => model.snapshots.size > 0;
  async run(model: Model) {
    tick();
    const kept = await keptIds(model);
    if (kept.length === 0) return;
    const id = kept[this.pick % kept.length]!;
    await compareRestore(model, id, model.snapshots.get(id)!.state, this.folder ? `${this.folder}/` : "");
  }
  toString = () => `Restore(#${this.pick}${this.folder ? `, ${this.folder}/` : ""})`;
}

async function keptIds(model: Model): Promise<string[]> {
  const rows = await env.DB.prepare("SELECT id FROM r2_backups WHERE status IN ('completed', 'partial') ORDER BY id").all<{ id: string }>();
  return rows.results.map((r) => r.id).filter((id) => model.snapshots.has(id));
}

const bucket = fc.constantFrom(...BUCKETS);
const folder = fc.constantFrom(...FOLDERS);
const fault = fc.option(fc.record({ mode: fc.constantFrom("throw" as const, "die" as const), at: fc.integer({ min: 1, max: 90 }) }), { freq: 3 });
const policy = fc.record({ retentionDays: fc.constant(0), keep: fc.record({ last: fc.integer({ min: 1, max: 3 }), daily: fc.integer({ min: 0, max: 2 }) }) });

/** Weighted toward what breaks collection: whole folders going and coming back, shared content, overlap. */
export const commands: fc.Arbitrary<Command>[] = [
  fc.tuple(bucket, folder, fc.array(fc.nat(), { minLength: 1, maxLength: 4 })).map(([b, f, c]) => new WriteFolder(b, f, c)),
  fc.tuple(bucket, folder).map(([b, f]) => new DeleteFolder(b, f)),
  fc
    .tuple(bucket, fc.array(fc.record({ folder, index: fc.nat(), content: fc.option(fc.nat(), { freq: 4 }) }), { minLength: 1, maxLength: 6 }))
    .map(([b, t]) => new TouchKeys(b, t)),
  fc.tuple(bucket, fc.constantFrom("full" as const, "incremental" as const, "auto" as const), fault).map(([b, t, f]) => new Backup(b, t, f)),
  fc.tuple(bucket, fc.constantFrom("full" as const, "incremental" as const, "auto" as const), fault).map(([b, t, f]) => new Backup(b, t, f)),
  fc
    .tuple(
      fc.array(fc.nat(), { maxLength: 3 }),
      fc.boolean(),
      fc.boolean(),
      fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
    )
    .map(([l, d, r, p]) => new EventBackup(l, d, r, p)),
  fc.tuple(bucket, policy, fault).map(([b, p, f]) => new Cleanup(b, p, f)),
  fc.tuple(bucket, policy, fc.scheduler()).map(([b, p, s]) => new Concurrent(b, p, s)),
  fc.tuple(bucket, policy, fc.scheduler()).map(([b, p, s]) => new Concurrent(b, p, s)),
  fc.tuple(bucket, fc.integer({ min: 0, max: 3 })).map(([b, n]) => new Cancel(b, n)),
  fc.constantFrom(1, 2, 7, 14).map((d) => new Days(d)),
  fc.tuple(fc.nat(), fc.constantFrom({ mode: "full" }, { mode: "quick" }, { mode: "full", samplePercent: 30 })).map(([p, b]) => new VerifySome(p, b)),
  fc.tuple(fc.nat(), fc.option(folder)).map(([p, f]) => new RestoreSome(p, f)),
  bucket.map((b) => new LargeDuringBackup(b)),
];
