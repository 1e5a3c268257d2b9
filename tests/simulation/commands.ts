/**
 * The operations of the simulated month, as fast-check command arbitraries, weighted toward what
 * breaks collection: whole folders going and coming back, shared content, jobs that overlap.
 */
import fc from "fast-check";
import { Backup, Cancel, Cleanup, Concurrent, Days, RestoreSome, VerifySome } from "./job-commands";
import { BUCKETS, FOLDERS } from "./keys";
import { DeleteFolder, EventBackup, LargeDuringBackup, TouchKeys, WriteFolder, type Command } from "./source-commands";

const bucket = fc.constantFrom(...BUCKETS);
const folder = fc.constantFrom(...FOLDERS);
const fault = fc.option(
  fc.record({ mode: fc.constantFrom("throw" as const, "die" as const), at: fc.integer({ min: 1, max: 90 }) }),
  { freq: 3 },
);
const policy = fc.record({
  retentionDays: fc.constant(0),
  keep: fc.record({ last: fc.integer({ min: 1, max: 3 }), daily: fc.integer({ min: 0, max: 2 }) }),
});

export const commands: fc.Arbitrary<Command>[] = [
  fc
    .tuple(bucket, folder, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }))
    .map(([b, f, c]) => new WriteFolder(b, f, c)),
  fc.tuple(bucket, folder).map(([b, f]) => new DeleteFolder(b, f)),
  fc
    .tuple(
      bucket,
      fc.array(fc.record({ folder, index: fc.nat(), content: fc.option(fc.nat(), { freq: 4 }) }), {
        minLength: 1,
        maxLength: 6,
      }),
    )
    .map(([b, t]) => new TouchKeys(b, t)),
  fc
    .tuple(bucket, fc.constantFrom("full" as const, "incremental" as const, "auto" as const), fault)
    .map(([b, t, f]) => new Backup(b, t, f)),
  fc
    .tuple(bucket, fc.constantFrom("full" as const, "incremental" as const, "auto" as const), fault)
    .map(([b, t, f]) => new Backup(b, t, f)),
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
  fc
    .tuple(fc.nat(), fc.constantFrom({ mode: "full" }, { mode: "quick" }, { mode: "full", samplePercent: 30 }))
    .map(([p, b]) => new VerifySome(p, b)),
  fc.tuple(fc.nat(), fc.option(folder)).map(([p, f]) => new RestoreSome(p, f)),
  bucket.map((b) => new LargeDuringBackup(b)),
];
