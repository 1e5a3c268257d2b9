/**
 * The simulation's source changes: folders written, deleted and written again, single keys
 * touched, a large object rewritten while a backup captures it, and the change events of
 * cutty-files (some lost, duplicated, reordered, or naming a key R2 refuses).
 */
import type fc from "fast-check";
import { runInDurableObject } from "cloudflare:test";
import { advanceClock } from "../../durable-objects/engine/clock";
import type { BackupCheckpoint } from "../../durable-objects/engine/backup/backup-checkpoint";
import { recordFinishedBackups } from "./checks";
import { drain, stepJob, stubOf } from "./jobs";
import { CONTENT_TYPES, CONTENTS, FOLDER_KEYS, LARGE_KEY, type BucketId, type Folder } from "./keys";
import type { Model, SimObject } from "./model";
import { createBackup, deleteObjects, deliverEvents, notification, putObject } from "./world";

export type Command = fc.AsyncCommand<Model, Model>;

/** Every operation moves the clock on a little: backup ids and dates follow the order of events. */
export const tick = () => advanceClock(1_000);

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

export class WriteFolder implements Command {
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

export class DeleteFolder implements Command {
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

export class TouchKeys implements Command {
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
        return [
          keys[index % keys.length]!,
          content === null ? null : objectOf(content, index, model.nextLargeVersion++),
        ];
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

/** A large object written, then rewritten while a backup of its bucket is capturing it. */
export class LargeDuringBackup implements Command {
  constructor(readonly bucket: BucketId) {}
  check = () => true;
  async run(model: Model) {
    tick();
    await writeKeys(model, this.bucket, [[LARGE_KEY, largeObject(model)]]);
    const id = await createBackup(this.bucket, "auto");
    if (!id) return drain();
    const ref = { kind: "backup" as const, id };
    for (let steps = 0; steps < 50; steps++) {
      const checkpoint = await runInDurableObject(stubOf(ref), (_job, state) =>
        state.storage.get<BackupCheckpoint>("checkpoint"),
      );
      if (checkpoint?.stage !== "running") break;
      if (
        checkpoint.phase === "large" &&
        checkpoint.largeObject?.key === LARGE_KEY &&
        checkpoint.largeObject.stage !== "done"
      ) {
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
export class EventBackup implements Command {
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
