/**
 * One large object's restore (engine/restore/large-restore.ts) against the real local R2: within
 * the hashing allowance it is restored in one step with the native hash, whose state cannot be
 * checkpointed, so a resumed step starts the object again; above it, a step's budget at a time
 * with the resumable hash carried in the state.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../../durable-objects/engine/format/hashing";
import type { ManifestEntry } from "../../../durable-objects/engine/format/manifest";
import {
  advanceLargeRestore,
  startLargeRestore,
  type LargeRestoreDeps,
  type LargeRestoreState,
} from "../../../durable-objects/engine/restore/large-restore";
import { pseudoRandom } from "../../helpers/buckets";
import { partCountingBucket, slowFirstPart } from "../../helpers/faults";

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const BUDGET = 6 * MiB;
/** Five parts: more than PARTS_IN_FLIGHT (3), so the fourth starts as one of the first three ends. */
const CONTENT = pseudoRandom(4 * PART + 4321, 23);

async function storedEntry(key: string, content: Uint8Array): Promise<ManifestEntry> {
  const sha256 = await sha256Hex(content);
  await env.R2_BACKUP_BUCKET.put(`blobs/${sha256}`, content, { customMetadata: { format: "raw", sha256 } });
  return {
    key,
    size: content.length,
    etag: "e",
    lastModified: "2026-12-01T10:00:00.000Z",
    sha256,
    blob: `blobs/${sha256}`,
    httpMetadata: { contentType: "video/quicktime" },
    customMetadata: { scene: "42" },
  };
}

function depsFor(source: R2Bucket, hashStepBytes: number, saved: LargeRestoreState[]): LargeRestoreDeps {
  return {
    source,
    backup: env.R2_BACKUP_BUCKET,
    keyring: null,
    partSize: PART,
    hashStepBytes,
    overwriteExisting: false,
    startedAt: new Date(Date.now() - 1000).toISOString(),
    save: async (state) => {
      saved.push(state);
    },
  };
}

async function restoredHash(key: string): Promise<string> {
  const object = await env.R2_BUCKET.get(key);
  expect(object?.httpMetadata?.contentType).toBe("video/quicktime");
  expect(object?.customMetadata).toEqual({ scene: "42" });
  return sha256Hex(await object!.arrayBuffer());
}

/** Steps the restore until it ends restored; the state each unfinished step left. */
async function statesToEnd(
  deps: LargeRestoreDeps,
  from: LargeRestoreState,
  budget = BUDGET,
): Promise<LargeRestoreState[]> {
  const states: LargeRestoreState[] = [];
  let state = from;
  for (let step = 0; ; step++) {
    expect(step).toBeLessThan(10);
    const advanced = await advanceLargeRestore(deps, state, budget);
    if ("outcome" in advanced) {
      expect(advanced.outcome).toEqual({ kind: "restored", verified: true });
      return states;
    }
    state = advanced.state;
    states.push(state);
  }
}

describe("a large object's restore", () => {
  it("within the hashing allowance: one step, whatever the step's budget, hashed natively", async () => {
    const entry = await storedEntry("media/one-step.mov", CONTENT);
    const saved: LargeRestoreState[] = [];
    const counting = partCountingBucket(env.R2_BUCKET);
    const advanced = await advanceLargeRestore(
      depsFor(counting.bucket, 32 * MiB, saved),
      startLargeRestore(entry, entry.key),
      BUDGET,
    );
    expect(advanced).toEqual({ outcome: { kind: "restored", verified: true } });
    // The upload id, then the parts done from the first as they grow, then completing; no hash
    // state (a native digest has none to save).
    const counts = saved.map((state) => state.parts.length);
    expect(counts[0]).toBe(0);
    expect(counts.slice(-2)).toEqual([5, 5]);
    expect(saved.at(-1)!.completing).toBe(true);
    for (const [i, count] of counts.slice(1, -1).entries()) expect(count).toBeGreaterThan(counts[i]!);
    expect(saved.every((state) => state.hashState === null)).toBe(true);
    expect([...counting.uploaded].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(await restoredHash(entry.key)).toBe(entry.sha256);
  });

  it("a slow part does not hold the next ones up: part 4 starts while part 1 is still uploading", async () => {
    const entry = await storedEntry("media/slow-part.mov", CONTENT);
    const slow = slowFirstPart();
    const advanced = await advanceLargeRestore(
      depsFor(partCountingBucket(env.R2_BUCKET, { beforePart: slow.beforePart }).bucket, 32 * MiB, []),
      startLargeRestore(entry, entry.key),
      BUDGET,
    );
    expect(advanced).toEqual({ outcome: { kind: "restored", verified: true } });
    expect(slow.overlapped()).toBe(true);
    expect(await restoredHash(entry.key)).toBe(entry.sha256);
  });

  it("a step that resumes after natively hashed parts starts the object again, with a fresh upload", async () => {
    const entry = await storedEntry("media/resumed.mov", CONTENT);
    const saved: LargeRestoreState[] = [];
    const counting = partCountingBucket(env.R2_BUCKET, { failAtPart: 4 });
    const deps = depsFor(counting.bucket, 32 * MiB, saved);
    await expect(advanceLargeRestore(deps, startLargeRestore(entry, entry.key), BUDGET)).rejects.toThrow(
      /injected fault: uploadPart/,
    );
    const afterCrash = saved.at(-1)!;
    expect(afterCrash.parts.map((part) => part.partNumber)).toEqual([1, 2, 3]);
    expect(afterCrash.hashState).toBeNull();

    const advanced = await advanceLargeRestore(deps, afterCrash, BUDGET);
    expect(advanced).toEqual({ outcome: { kind: "restored", verified: true } });
    const restarted = saved.find((state) => state.parts.length === 0 && state.uploadId === null);
    expect(restarted).toBeDefined();
    expect(saved.at(-1)!.uploadId).not.toBe(afterCrash.uploadId);
    // First try: 1, 2, 3, and 5 if it started before 4 failed; then the whole object again.
    const firstTry = counting.uploaded.slice(0, counting.uploaded.length - 5);
    expect([
      [1, 2, 3],
      [1, 2, 3, 5],
    ]).toContainEqual([...firstTry].sort());
    expect([...counting.uploaded.slice(-5)].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(await restoredHash(entry.key)).toBe(entry.sha256);
  });

  it("a copy that was wrong while the first parts moved and repaired before the retry: the retry moves it all again", async () => {
    const entry = await storedEntry("media/repaired.mov", CONTENT);
    const wrong = CONTENT.slice();
    wrong[1000] = wrong[1000]! ^ 1; // in part 1
    await env.R2_BACKUP_BUCKET.put(entry.blob, wrong, { customMetadata: { format: "raw", sha256: entry.sha256 } });
    const saved: LargeRestoreState[] = [];
    const deps = depsFor(partCountingBucket(env.R2_BUCKET, { failAtPart: 4 }).bucket, 32 * MiB, saved);
    await expect(advanceLargeRestore(deps, startLargeRestore(entry, entry.key), BUDGET)).rejects.toThrow();
    await env.R2_BACKUP_BUCKET.put(entry.blob, CONTENT, { customMetadata: { format: "raw", sha256: entry.sha256 } });

    // Hashing the finished parts again from the repaired copy would have matched the manifest
    // and completed an object holding the wrong part 1.
    const advanced = await advanceLargeRestore(deps, saved.at(-1)!, BUDGET);
    expect(advanced).toEqual({ outcome: { kind: "restored", verified: true } });
    expect(await restoredHash(entry.key)).toBe(entry.sha256);
  });

  it("a copy damaged before the retry: the object fails, nothing lands", async () => {
    const entry = await storedEntry("media/altered.mov", CONTENT);
    const saved: LargeRestoreState[] = [];
    const deps = depsFor(partCountingBucket(env.R2_BUCKET, { failAtPart: 4 }).bucket, 32 * MiB, saved);
    await expect(advanceLargeRestore(deps, startLargeRestore(entry, entry.key), BUDGET)).rejects.toThrow();
    const altered = CONTENT.slice();
    altered[1000] = altered[1000]! ^ 1;
    await env.R2_BACKUP_BUCKET.put(entry.blob, altered, { customMetadata: { format: "raw", sha256: entry.sha256 } });

    const advanced = await advanceLargeRestore(deps, saved.at(-1)!, BUDGET);
    expect(advanced).toEqual({
      outcome: { kind: "failed", reason: expect.stringMatching(/does not match its checksum/) },
    });
    expect(await env.R2_BUCKET.head(entry.key)).toBeNull();
  });

  it("above the hashing allowance: a step's budget at a time, the resumable hash carried in the state", async () => {
    const entry = await storedEntry("media/many-steps.mov", CONTENT);
    const saved: LargeRestoreState[] = [];
    const states = await statesToEnd(depsFor(env.R2_BUCKET, 1 * MiB, saved), startLargeRestore(entry, entry.key));
    for (const state of states) expect(state.hashState?.length).toBe(state.parts.length * PART);
    // One 5 MiB part per 6 MiB step; the fourth step moves part 4 and the 4 KiB part 5, and completes.
    expect(states.map((state) => state.parts.length)).toEqual([1, 2, 3]);
    expect(await restoredHash(entry.key)).toBe(entry.sha256);
  });

  it("several parts a step with the resumable hash: each save holds the hash of exactly the parts saved", async () => {
    const entry = await storedEntry("media/several-a-step.mov", CONTENT);
    const saved: LargeRestoreState[] = [];
    // Part 1's upload waits until the hash has gone on through parts 2 and 3, and part 2's longer,
    // so part 1 is saved alone: the hash's state at that moment covers three parts, not one.
    const slowSecond = partCountingBucket(env.R2_BUCKET, {
      beforePart: async (partNumber) => {
        if (partNumber <= 2) await new Promise((resolve) => setTimeout(resolve, 500 * partNumber));
      },
    });
    const states = await statesToEnd(
      depsFor(slowSecond.bucket, 1 * MiB, saved),
      startLargeRestore(entry, entry.key),
      16 * MiB,
    );
    // Three 5 MiB parts in the first 16 MiB step, the other two in the second, which completes.
    expect(states.map((state) => state.parts.length)).toEqual([3]);
    const midway = saved.filter((state) => state.parts.length > 0 && state.parts.length < 5);
    expect(midway.map((state) => state.parts.length)).toContain(1);
    for (const state of midway) expect(state.hashState?.length).toBe(state.parts.length * PART);
    expect(await restoredHash(entry.key)).toBe(entry.sha256);
  });

  it("a part size changed between steps: the finished parts no longer line up with the hash, so the object starts again", async () => {
    const entry = await storedEntry("media/resized.mov", CONTENT);
    const saved: LargeRestoreState[] = [];
    const first = await advanceLargeRestore(
      depsFor(env.R2_BUCKET, 1 * MiB, saved),
      startLargeRestore(entry, entry.key),
      BUDGET,
    );
    if (!("state" in first)) throw new Error("expected a state after one step");
    expect(first.state.hashState?.length).toBe(PART);

    const resized = { ...depsFor(env.R2_BUCKET, 1 * MiB, saved), partSize: 6 * MiB };
    for (const state of await statesToEnd(resized, first.state))
      expect(state.hashState?.length).toBe(state.parts.length * 6 * MiB);
    expect(saved.some((s) => s.uploadId === null && s.parts.length === 0)).toBe(true);
    expect(await restoredHash(entry.key)).toBe(entry.sha256);
  });
});
