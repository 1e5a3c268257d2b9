// `npm run bench -- --fan-out`: how a full backup scales with shards under production-shaped R2
// latency (issue 23). One seeded state (`--fan-out-files` small objects of 1–16 KiB) is copied for
// every run, so each backup starts from the same source and an empty store:
//
//   C       the local CPU ceiling: one shard, the latency layer off
//   R1, Rk  one shard and k shards (`--fan-out-shards`), the layer on (`--latency`, by default
//           production×2, so that C / R1 is well above the largest k this machine can feed)
//
// and the ceiling Worker's get→put + SHA-256 of the same objects with and without the layer (one
// job object's 6 connections). After each backup the source is emptied and restored with the same
// shard limit (restores fan out over the snapshot's leaves). The target (issue 23): at k shards a
// speedup of at least 0.8 × min(k, C / R1), for backup and for restore.
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCeiling } from "./ceiling.mjs";
import { emptySource, seedState, withServer } from "../local-stack.mjs";
import { profiled } from "./profile.mjs";

const seconds = (from, to) => (Date.parse(to) - Date.parse(from)) / 1000;

/**
 * Where a fanned-out job's time goes, from the status reads while it runs: when its shards were
 * first shown running, when each shard ended and when the job completed, in seconds from its
 * start (read every 250 ms, so each figure is late by up to that). `watch` goes to api.backup or
 * api.job; `describe` takes the ended job.
 */
function shardTimeline() {
  const reads = [];
  const shardsOf = (value) => value.progress?.shards ?? [];
  return {
    watch: (value) => reads.push({ at: Date.now(), shards: shardsOf(value) }),
    describe(job) {
      const from = Date.parse(job.startedAt);
      const at = (read) => (read ? ((read.at - from) / 1000).toFixed(1) : "?");
      const count = Math.max(0, ...reads.map((r) => r.shards.length));
      if (count === 0) return "one object";
      const running = reads.find((r) => r.shards.some((s) => s.status === "running"));
      // Each shard's end, with what it moved (from the ended job): an unequal end shows why.
      const ended = shardsOf(job);
      const ends = Array.from({ length: count }, (_, i) => {
        const end = at(reads.find((r) => r.shards[i] && !["pending", "running"].includes(r.shards[i].status)));
        const moved = ended[i];
        if (!moved) return end;
        // A backup's shards count bytes too; a restore's or verify's count objects only.
        const bytes = moved.bytesProcessed === undefined ? "" : `, ${(moved.bytesProcessed / 2 ** 20).toFixed(1)} MiB`;
        return `${end} (${moved.filesProcessed} objects${bytes})`;
      });
      return `shards running by ${at(running)} s; shards ended at ${ends.join(", ")} s; job completed at ${seconds(job.startedAt, job.completedAt).toFixed(1)} s`;
    },
  };
}

/**
 * Runs `work` on `server`, under the CPU profiler when `run` is one that `profile.runs` names,
 * logging the profile's summary.
 */
async function maybeProfiled(profile, run, kind, server, work, log) {
  if (!profile?.runs.includes(run.name)) return work();
  const file = join(profile.dir, `${run.name}-${kind}.cpuprofile`);
  const { result, summary } = await profiled(server.inspectorPort, file, work);
  log(`  ${run.name}: the ${kind}'s CPU profile (${file}):`);
  for (const line of summary) log(line);
  return result;
}

/**
 * `seed`: the seed's arguments for the data set (small objects, or the seed's mix). `d1Shards`:
 * shard counts run a second time with D1 shaped too (`d1Ms` per call, engine/d1-latency.ts), so
 * that the difference is D1's share of the time.
 */
export async function fanOutScaling({
  port,
  api,
  seed,
  shardCounts,
  latency,
  restores,
  d1Shards = [],
  d1Ms = 30,
  profile = null,
  log,
}) {
  const runs = [
    { name: "C", shards: 1, latency: false },
    ...shardCounts.map((k) => ({ name: `R${k}`, shards: k, latency: true })),
    ...d1Shards.map((k) => ({ name: `R${k}+D1`, shards: k, latency: true, d1: true })),
  ];
  // Checked before the minutes of seeding and ceilings.
  const unknown = profile?.runs.filter((name) => !runs.some((run) => run.name === name)) ?? [];
  if (unknown.length)
    throw new Error(`--profile ${unknown.join(",")}: no such run (${runs.map((run) => run.name).join(", ")})`);
  const base = mkdtempSync(join(tmpdir(), "r2-backup-bench-fanout-"));
  const made = [base];
  const copy = () => {
    const dir = mkdtempSync(join(tmpdir(), "r2-backup-bench-fanout-"));
    cpSync(base, dir, { recursive: true });
    made.push(dir);
    return dir;
  };
  const session = (state, vars, work) => withServer(port, state, vars, work);
  const ceilingOf = async (options) => {
    const ceiling = openCeiling(base, options);
    try {
      await ceiling.run("/clear");
      return await ceiling.run("/copy?from=SOURCE&hash=1&concurrency=6");
    } finally {
      await ceiling.dispose();
    }
  };
  try {
    const seeding = Date.now();
    seedState(base, seed);
    log(`\nfan-out: seeded (${seed.join(" ")}) in ${((Date.now() - seeding) / 1000).toFixed(0)} s; latency ${latency}`);
    const local = await ceilingOf({});
    const shaped = await ceilingOf({ latency });
    if (d1Shards.length && latency.trim().startsWith("{"))
      throw new Error("--fan-out-d1 needs --latency production or production×N (D1 is added to it)");
    const d1Latency = JSON.stringify({ base: latency, d1: { fixedMs: d1Ms } });
    const results = [];
    for (const run of runs) {
      const state = copy();
      const vars = {
        BACKUP_MAX_SHARDS: run.shards,
        BACKUP_SHARD_MIN_OBJECTS: 1,
        BACKUP_SHARD_POLL_MS: 500,
        ...(run.latency ? { BACKUP_TEST_R2_LATENCY: run.d1 ? d1Latency : latency } : {}),
      };
      const backupTimeline = shardTimeline();
      const backup = await session(state, vars, (server) =>
        maybeProfiled(profile, run, "backup", server, () => api.backup("full", backupTimeline.watch), log),
      );
      if (backup.status !== "completed")
        throw new Error(`${run.name}: backup ${backup.id} ended ${backup.status}: ${backup.error}`);
      const result = { ...run, backup, secs: seconds(backup.startedAt, backup.completedAt) };
      log(`  ${run.name}: backup ${result.secs.toFixed(1)} s (${backupTimeline.describe(backup)})`);
      if (restores) {
        await emptySource(state);
        const restoreTimeline = shardTimeline();
        const restored = await session(state, vars, (server) =>
          maybeProfiled(
            profile,
            run,
            "restore",
            server,
            () =>
              api.job(
                `/backup/restore/${backup.id}`,
                { overwriteExisting: true, verifyAfterRestore: false },
                restoreTimeline.watch,
              ),
            log,
          ),
        );
        result.restore = { job: restored, secs: seconds(restored.startedAt, restored.completedAt) };
        log(`  ${run.name}: restore ${result.restore.secs.toFixed(1)} s (${restoreTimeline.describe(restored)})`);
      }
      results.push(result);
      rmSync(state, { recursive: true, force: true });
    }
    const rate = (r) => r.backup.snapshotFileCount / r.secs;
    const c = rate(results[0]);
    const r1 = rate(results.find((r) => r.name === "R1"));
    log(`\nC = ${c.toFixed(1)} objects/s, R1 = ${r1.toFixed(1)} objects/s, C / R1 = ${(c / r1).toFixed(2)}`);
    log(
      `ceiling get→put + SHA-256: ${(local.objects / local.seconds).toFixed(1)} objects/s without the layer, ` +
        `${(shaped.objects / shaped.seconds).toFixed(1)} objects/s under it (one job object's 6 connections)`,
    );
    log(
      "\n| run | shards | latency | seconds | objects/s | MB/s | × one-object ceiling (layer) | speedup over R1 | target 0.8 × min(k, C/R1) | steps |\n| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    const ceilingRate = shaped.objects / shaped.seconds;
    const shaped1 = results.filter((r) => !r.d1);
    for (const r of shaped1) {
      const speedup = rate(r) / r1;
      const target = r.latency ? 0.8 * Math.min(r.shards, c / r1) : null;
      log(
        `| ${r.name} | ${r.shards} | ${r.latency ? latency : "off"} | ${r.secs.toFixed(1)} | ${rate(r).toFixed(1)} | ${(r.backup.snapshotSize / 1e6 / r.secs).toFixed(2)} | ` +
          `${r.latency ? (rate(r) / ceilingRate).toFixed(2) : ""} | ${r.latency ? speedup.toFixed(2) : ""} | ${target === null ? "" : `${target.toFixed(2)} ${speedup >= target ? "met" : "missed"}`} | ${r.backup.performance.steps} |`,
      );
    }
    const restoresRun = shaped1.filter((r) => r.restore);
    if (restoresRun.length) {
      const restoreRate = (r) => r.restore.job.result.filesRestored / r.restore.secs;
      const c1 = restoreRate(results[0]);
      const one = restoresRun.find((r) => r.name === "R1");
      log(
        "\n| restore | shards | latency | seconds | objects/s | speedup over R1 | target 0.8 × min(k, C/R1) |\n| --- | ---: | --- | ---: | ---: | ---: | ---: |",
      );
      for (const r of restoresRun) {
        const speedup = one && r.latency ? restoreRate(r) / restoreRate(one) : null;
        const target = one && r.latency ? 0.8 * Math.min(r.shards, c1 / restoreRate(one)) : null;
        log(
          `| ${r.name} | ${r.shards} | ${r.latency ? latency : "off"} | ${r.restore.secs.toFixed(1)} | ${restoreRate(r).toFixed(1)} | ` +
            `${speedup === null ? "" : speedup.toFixed(2)} | ${target === null ? "" : `${target.toFixed(2)} ${speedup >= target ? "met" : "missed"}`} |`,
        );
      }
    }
    logD1Share(results, d1Ms, log);
    return results;
  } finally {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  }
}

/** Each shard count run with and without D1 shaped: the difference is the time spent waiting on D1. */
function logD1Share(results, d1Ms, log) {
  const withD1 = results.filter((r) => r.d1);
  if (!withD1.length) return;
  log(
    `\n| D1 at ${d1Ms} ms a call | shards | backup s, D1 local | backup s, D1 shaped | D1's share | restore s, D1 local | restore s, D1 shaped | D1's share |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
  );
  const share = (without, shaped) => `${(100 * (1 - without / shaped)).toFixed(1)} %`;
  for (const r of withD1) {
    const plain = results.find((p) => !p.d1 && p.latency && p.shards === r.shards);
    if (!plain) continue;
    const restore = plain.restore && r.restore ? [plain.restore.secs, r.restore.secs] : null;
    log(
      `| ${r.name} | ${r.shards} | ${plain.secs.toFixed(1)} | ${r.secs.toFixed(1)} | ${share(plain.secs, r.secs)} | ` +
        (restore
          ? `${restore[0].toFixed(1)} | ${restore[1].toFixed(1)} | ${share(restore[0], restore[1])} |`
          : "| | |"),
    );
  }
}
