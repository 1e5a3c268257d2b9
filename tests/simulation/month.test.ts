/**
 * A simulated month of unattended operation (issue "Garbage collection that cannot lose data"):
 * random histories of source changes, change events, backups of two source buckets into one store
 * and a replica, cleanups, verifications, restores, cancels, days passing with the cron firing,
 * injected faults and overlapping jobs, against the real engine on the local stack, with the
 * invariants of tests/simulation/checks.ts checked after every cleanup and at the end.
 *
 * CI runs settings.CI_RUNS sequences from a fixed seed; `npm run simulate -- --runs N --seed S`
 * runs more. A failure prints the seed, fast-check's path and the shrunk history; `npm run
 * simulate -- --runs N --seed S` with the printed seed replays it.
 */
import { env, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { advanceClock } from "../../durable-objects/engine/clock";
import { api } from "../helpers/api";
import { emptyBucket } from "../helpers/buckets";
import {
  checkExpired,
  checkKept,
  checkQuiet,
  checkStore,
  countFannedOutJobs,
  recordFinishedBackups,
  tally,
} from "./checks";
import { commands } from "./commands";
import { COORDINATED, drain, plans } from "./jobs";
import { BUCKETS, CONTENT_TYPES, CONTENTS, FOLDER_KEYS, FOLDERS } from "./keys";
import { Model } from "./model";
import { MAX_COMMANDS, RUNS, SEED, SHRINK_LIMIT_MS } from "./settings";
import { createCleanup, putObject, writingFirst } from "./world";
import { clearTables, projectTables } from "../helpers/d1-tables";

/** A fresh system: empty buckets and tables, coordinators forgotten, the media template, three folders each. */
async function freshWorld(): Promise<Model> {
  advanceClock(86_400_000);
  plans.clear();
  for (const bucket of [
    env.R2_BUCKET,
    env.R2_MEDIA_BUCKET!,
    env.R2_BACKUP_BUCKET,
    env.R2_REPLICA_BUCKET!,
    env.R2_SCRATCH_BUCKET!,
  ])
    await emptyBucket(bucket);
  await clearTables(await projectTables());
  for (const name of COORDINATED) {
    await runInDurableObject(env.BUCKET_COORDINATOR.getByName(name), async (_o, state) => {
      await state.storage.deleteAlarm();
      await state.storage.deleteAll();
    });
  }
  const template = await api("POST", "/api/backup/templates", {
    body: { name: "media", sourceBinding: "R2_MEDIA_BUCKET", bucketName: "media-files" },
  });
  expect(template.status, JSON.stringify(template.body)).toBe(201);
  const model = new Model();
  for (const bucket of BUCKETS) {
    for (const [f, folder] of FOLDERS.slice(0, 3).entries()) {
      for (const [i, key] of FOLDER_KEYS[folder].entries()) {
        const object = {
          content: CONTENTS[(f + i) % CONTENTS.length]!,
          contentType: CONTENT_TYPES[i % CONTENT_TYPES.length]!,
          custom: { v: "0" },
        };
        await putObject(bucket, key, object);
        model.buckets[bucket].set(key, object);
      }
    }
  }
  return model;
}

/** The end of every history: everything drained, a last cleanup of each bucket, then every check. */
async function finalChecks(model: Model): Promise<void> {
  await drain();
  await recordFinishedBackups(model);
  for (const bucket of BUCKETS) {
    const id = await createCleanup(bucket, { retentionDays: 0, keep: { last: 2, daily: 0 } });
    expect(id, `the final cleanup of ${bucket} starts`).not.toBeNull();
    await drain();
    const job = (await api("GET", `/api/backup/jobs/${id}`)).body.job;
    expect(job.status, `the final cleanup of ${bucket}: ${job.error}`).toBe("completed");
  }
  await recordFinishedBackups(model);
  await countFannedOutJobs();
  await checkQuiet();
  await checkExpired(true);
  await checkKept(model, () => true);
  const store = await checkStore();
  // With nothing running since the last collection registered, the margin is empty: exact.
  expect(store.margin, "no margin left once nothing runs").toBe(0);
}

describe("a simulated month", () => {
  it(
    `keeps every kept backup whole and the store exact (${RUNS} histories, seed ${SEED})`,
    { timeout: 60 * 60_000 },
    async () => {
      const started = Date.now();
      await fc.assert(
        fc.asyncProperty(fc.commands(commands, { maxCommands: MAX_COMMANDS, size: "max" }), async (history) => {
          tally.runs += 1;
          const model = await freshWorld();
          await fc.asyncModelRun(
            () => ({ model, real: model }),
            [...history].map((command) => countingOperations(command)),
          );
          await finalChecks(model);
        }),
        // A failing history shrinks to a short one (each try replays a history: minutes), within a bound.
        {
          numRuns: RUNS,
          seed: SEED,
          verbose: 1,
          interruptAfterTimeLimit: SHRINK_LIMIT_MS,
          markInterruptAsFailure: true,
        },
      );
      console.log(
        `simulation: ${tally.runs} runs (seed ${SEED}), ${tally.operations} operations, ${tally.backups} backups (${tally.fannedOut} fanned out, ${writingFirst.backups} started writing first), ` +
          `jobs fanned out: ${Object.entries(tally.fannedOutJobs)
            .map(([kind, n]) => `${n} ${kind}`)
            .join(", ")}, ${tally.faults} faults injected, ` +
          `${tally.interleavings} interleavings, ${tally.cleanups} cleanups checked, ${tally.verifications} verifications, ` +
          `${tally.restoresCompared} restores compared (${tally.bytesCompared} bytes), ${Math.round((Date.now() - started) / 1000)} s`,
      );
    },
  );
});

/**
 * A command that counts itself when it runs. A new wrapper per run: fast-check hands the same
 * command objects to every replay while it shrinks, so changing them would stack wrappers.
 */
function countingOperations(command: fc.AsyncCommand<Model, Model>): fc.AsyncCommand<Model, Model> {
  return {
    check: (model) => command.check(model),
    run: async (model, real) => {
      tally.operations += 1;
      await command.run(model, real);
    },
    toString: () => command.toString(),
  };
}
