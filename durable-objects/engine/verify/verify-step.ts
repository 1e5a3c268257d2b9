/**
 * Verification of a backup, one manifest chunk per step:
 *   quick  every blob the manifest names exists (and, stored raw, has the entry's size);
 *   full   every blob is read back, decrypted and decompressed as needed, and hashed.
 * An entry above BACKUP_HASH_STEP_BYTES is hashed across steps instead, a byte budget of content
 * ranges a step, with a resumable SHA-256 whose state rides in the checkpoint (as a backup hashes
 * such an object): one object of any size never makes one step longer than the budget allows.
 * Completeness: every chunk is present and readable (each one's content hashes to its name, so the
 * tree under the root is the one the root names), the checksum matches (version 3: the root's
 * name, the tree's Merkle root; versions 1 and 2: the chain over the leaves' hashes, computed as
 * they are read), and the entry count and sizes equal the index's. A problem is recorded by
 * path (the first 1,000 are kept, as findings in D1); a missing or altered chunk is a problem,
 * never a crash.
 */
import { isFramedBlob, openBlob } from "../format/blob-reader";
import { openRangedBlob } from "../format/blob-ranges";
import { resumableSha256 } from "../format/ordered-sha256";
import type { Sha256State } from "../format/resumable-sha256";
import { mapWithConcurrency } from "../concurrency";
import { EMPTY_CHAIN, extendChain, fnv1a32, sha256OfStream } from "../format/hashing";
import {
  advancePosition,
  manifestOf,
  NO_FINDINGS,
  sliceWithinBudget,
  withFindings,
  type ManifestJobState,
} from "../job-state";
import { ended, RUNNING } from "../lifecycle";
import { summedCounts, type ShardCounting } from "../leaf-fan-out";
import { isBlobIntegrityError } from "../errors";
import type { Keyring } from "../format/keyring";
import { treeChecksum } from "../format/manifest-tree";
import { manifestIndexKey, type ManifestEntry, type ManifestIndex } from "../format/manifest";

export type VerifyMode = "full" | "quick";

export interface VerifyProblem {
  path: string;
  problem:
    | "missing_blob"
    | "checksum_mismatch"
    | "size_mismatch"
    | "corrupt_blob"
    | "missing_manifest_index"
    | "missing_manifest_chunk"
    | "corrupt_manifest_chunk"
    | "manifest_checksum_mismatch"
    | "manifest_count_mismatch";
  expected: string | number | null;
  actual: string | number | null;
}

export interface VerifyState extends ManifestJobState {
  kind: "verify";
  mode: VerifyMode;
  /** Which copy is checked (absent in verifications begun before replicas: the primary). */
  copy?: "primary" | "replica";
  /** Null: every entry. Otherwise entries whose key hashes into the window [offset, offset + percent) of 100. */
  sample: { percent: number; offset: number } | null;
  /** `version` is absent in verifications begun before version 3 (they check versions 1 and 2 only). */
  index: (Pick<ManifestIndex, "chunkCount" | "fileCount" | "totalSize" | "checksum"> & { version?: number }) | null;
  /** The checksum recorded for the backup in D1, compared too. */
  recordedChecksum: string | null;
  /** Versions 1 and 2: the checksum chain over the leaves read so far. */
  chain: string;
  /** A chunk was missing or unreadable, so the checksum cannot be trusted to match. */
  chainBroken: boolean;
  entriesSeen: number;
  bytesSeen: number;
  filesChecked: number;
  filesMissing: number;
  checksumMismatches: number;
  problemCount: number;
  /** The first problem, for the closing log line (the list itself is in D1). */
  firstProblem: VerifyProblem | null;
  /** Full mode: the entry at the position, hashed across steps, hashed this far (absent: none begun). */
  largeEntry?: { hashed: number; hash: Sha256State } | null;
}

/** What a verify step needs: reads of the backup bucket only, so a plain fake can stand in. */
export interface VerifyDeps {
  backup: Pick<R2Bucket, "get" | "head">;
  keyring: Keyring | null;
  concurrency: number;
  /** Blob bytes one step reads at most (full mode), for entries hashed across steps. */
  byteBudget: number;
  /**
   * Entries up to this size are hashed whole in one step with the runtime's native SHA-256; larger
   * ones across steps, `byteBudget` at a time (BACKUP_HASH_STEP_BYTES, as a backup hashes).
   */
  wholeHashBytes: number;
}

/** A stable, cheap spread of keys over 100 buckets for sampling. */
export function sampleBucket(key: string): number {
  return fnv1a32(key) % 100;
}

export function inSample(sample: VerifyState["sample"], key: string): boolean {
  if (!sample) return true;
  return (sampleBucket(key) - sample.offset + 100) % 100 < sample.percent;
}

export async function runVerifyStep(deps: VerifyDeps, state: VerifyState): Promise<VerifyState> {
  if (!state.index)
    return finish({ ...state, chainBroken: true }, [
      { path: manifestIndexKey(state.backupId), problem: "missing_manifest_index", expected: "present", actual: null },
    ]);
  if (state.nextChunkSeq >= state.chunkCount) return finish(state, []);

  const seq = state.nextChunkSeq;
  // Damage is a finding; a failed read (R2 unavailable) is thrown and retried with the step.
  const chunk = await manifestOf(deps.backup, deps.keyring, state).leaf(seq);
  if (chunk.kind === "unreadable") {
    // An unreadable index page hides every leaf under it: they are skipped together.
    const skipped = { ...state, nextChunkSeq: chunk.nextSeq, nextOffset: 0, chainBroken: true };
    return chunk.problem === "missing"
      ? addProblems(skipped, [
          { path: chunk.key, problem: "missing_manifest_chunk", expected: "present", actual: null },
        ])
      : addProblems(skipped, [
          { path: chunk.key, problem: "corrupt_manifest_chunk", expected: "readable", actual: chunk.detail },
        ]);
  }

  // The chunk's own accounting happens once, when its first part is handled (a large entry at
  // its start is handled over several steps that all begin there).
  const { entries } = chunk;
  const atChunkStart = state.nextOffset === 0 && !state.largeEntry;
  const accounted: VerifyState = atChunkStart
    ? {
        ...state,
        // Version 3 is checked by its root (every chunk read is checked against its name).
        chain: checkedByRoot(state.index) ? state.chain : await extendChain(state.chain, chunk.sha256),
        entriesSeen: state.entriesSeen + entries.length,
        bytesSeen: state.bytesSeen + entries.reduce((sum, e) => sum + e.size, 0),
      }
    : state;
  const next = entries[state.nextOffset];
  if (next && state.mode === "full" && inSample(state.sample, next.key) && next.size > deps.wholeHashBytes)
    return verifyLargeEntry(deps, accounted, next, entries.length);
  const { part, end } = sliceWithinBudget(
    entries,
    state.nextOffset,
    deps.byteBudget,
    (e) => state.mode === "full" && inSample(state.sample, e.key),
  );
  const sampled = part.filter((entry) => inSample(state.sample, entry.key));
  const found = await mapWithConcurrency(sampled, deps.concurrency, (entry) => checkEntry(deps, entry, state.mode));
  const problems = found.filter((p): p is VerifyProblem => p !== null);
  return addProblems(
    {
      ...accounted,
      ...advancePosition(state, end, entries.length),
      filesProcessed: state.filesProcessed + part.length,
      filesChecked: state.filesChecked + sampled.length,
      filesMissing: state.filesMissing + problems.filter((p) => p.problem === "missing_blob").length,
      checksumMismatches: state.checksumMismatches + problems.filter((p) => p.problem !== "missing_blob").length,
    },
    problems,
  );
}

/**
 * One step's share of an entry hashed across steps: the next `byteBudget` bytes of its content
 * hashed, or, with the last of them, the digest compared and the position moved past it.
 */
async function verifyLargeEntry(
  deps: VerifyDeps,
  state: VerifyState,
  entry: ManifestEntry,
  chunkLength: number,
): Promise<VerifyState> {
  const checked = (problem: VerifyProblem | null): VerifyState =>
    addProblems(
      {
        ...state,
        largeEntry: null,
        ...advancePosition(state, state.nextOffset + 1, chunkLength),
        filesProcessed: state.filesProcessed + 1,
        filesChecked: state.filesChecked + 1,
        filesMissing: state.filesMissing + (problem?.problem === "missing_blob" ? 1 : 0),
        checksumMismatches: state.checksumMismatches + (problem && problem.problem !== "missing_blob" ? 1 : 0),
      },
      problem ? [problem] : [],
    );
  const problem = (
    kind: VerifyProblem["problem"],
    expected: VerifyProblem["expected"],
    actual: VerifyProblem["actual"],
  ) => checked({ path: entry.key, problem: kind, expected, actual });
  const integrity = (error: unknown) => {
    // Only a blob that fails its own integrity checks is a finding; anything else is retried.
    if (isBlobIntegrityError(error))
      return problem("corrupt_blob", "readable", error.message.replace(/^BlobIntegrityError: /, ""));
    throw error;
  };

  let blob: Awaited<ReturnType<typeof openRangedBlob>>;
  try {
    blob = await openRangedBlob(deps.backup, entry.blob, entry.size, deps.keyring);
  } catch (error) {
    return integrity(error);
  }
  switch (blob.kind) {
    case "missing":
      return problem("missing_blob", entry.blob, null);
    case "wrong_size":
      return problem("size_mismatch", entry.size, blob.storedSize);
    case "unknown_key":
      return problem("corrupt_blob", "readable", `encrypted with key ${blob.keyId}, which is not configured`);
    case "not_rangeable":
      // Compressed (only objects below the multipart threshold are): read whole, as before.
      return checked(await checkEntry(deps, entry, "full"));
  }
  const start = state.largeEntry?.hashed ?? 0;
  const end = Math.min(entry.size, start + deps.byteBudget);
  const hasher = resumableSha256(state.largeEntry?.hash);
  try {
    await hasher.feed(await blob.open(start, end));
  } catch (error) {
    return integrity(error);
  }
  const hash = hasher.saved()!;
  // The hash state counts every byte hashed, this step's after the `start` before it.
  if (hash.length !== end) return problem("size_mismatch", entry.size, hash.length);
  if (end < entry.size) return { ...state, largeEntry: { hashed: end, hash } };
  const sha256 = await hasher.digestHex();
  return checked(
    sha256 === entry.sha256
      ? null
      : { path: entry.key, problem: "checksum_mismatch", expected: entry.sha256, actual: sha256 },
  );
}

async function checkEntry(deps: VerifyDeps, entry: ManifestEntry, mode: VerifyMode): Promise<VerifyProblem | null> {
  const problem = (
    kind: VerifyProblem["problem"],
    expected: VerifyProblem["expected"],
    actual: VerifyProblem["actual"],
  ): VerifyProblem => ({
    path: entry.key,
    problem: kind,
    expected,
    actual,
  });
  if (mode === "quick") {
    const head = await deps.backup.head(entry.blob);
    if (!head) return problem("missing_blob", entry.blob, null);
    // A framed blob's stored size depends on compression; only raw blobs have a size to compare.
    if (!isFramedBlob(head) && head.size !== entry.size) return problem("size_mismatch", entry.size, head.size);
    return null;
  }
  try {
    const content = await openBlob(deps.backup, entry.blob, deps.keyring);
    if (!content) return problem("missing_blob", entry.blob, null);
    const { sha256, size } = await sha256OfStream(content);
    if (sha256 !== entry.sha256) return problem("checksum_mismatch", entry.sha256, sha256);
    if (size !== entry.size) return problem("size_mismatch", entry.size, size);
    return null;
  } catch (error) {
    // Only a blob that fails its own integrity checks is a finding; anything else is retried.
    if (isBlobIntegrityError(error))
      return problem("corrupt_blob", "readable", error.message.replace(/^BlobIntegrityError: /, ""));
    throw error;
  }
}

function addProblems(state: VerifyState, problems: readonly VerifyProblem[]): VerifyState {
  const findings = problems.map((p) => ({
    list: "problem" as const,
    path: p.path,
    detail: p.problem,
    expected: p.expected === null ? null : String(p.expected),
    actual: p.actual === null ? null : String(p.actual),
  }));
  return withFindings(
    {
      ...state,
      problemCount: state.problemCount + problems.length,
      firstProblem: state.firstProblem ?? problems[0] ?? null,
    },
    findings,
  );
}

function finish(state: VerifyState, problems: VerifyProblem[]): VerifyState {
  const found = [...problems];
  const { index } = state;
  if (index) {
    const computed = checkedByRoot(index) ? treeChecksum(state.root ?? null) : state.chain;
    if (
      !state.chainBroken &&
      (computed !== index.checksum || (state.recordedChecksum !== null && state.recordedChecksum !== index.checksum))
    ) {
      found.push({
        path: manifestIndexKey(state.backupId),
        problem: "manifest_checksum_mismatch",
        expected: state.recordedChecksum ?? index.checksum,
        actual: computed,
      });
    }
    if (!state.chainBroken && (state.entriesSeen !== index.fileCount || state.bytesSeen !== index.totalSize)) {
      found.push({
        path: manifestIndexKey(state.backupId),
        problem: "manifest_count_mismatch",
        expected: `${index.fileCount} files, ${index.totalSize} bytes`,
        actual: `${state.entriesSeen} files, ${state.bytesSeen} bytes`,
      });
    }
  }
  return ended(addProblems(state, found), "completed", null);
}

/** Version 3 is checked by its root's name; versions 1 and 2 (and states begun before 3 existed) by their chain. */
export const checkedByRoot = (index: NonNullable<VerifyState["index"]>) => (index.version ?? 2) >= 3;

const verifyNumbers = summedCounts<
  VerifyState,
  | "filesProcessed"
  | "filesChecked"
  | "filesMissing"
  | "checksumMismatches"
  | "problemCount"
  | "entriesSeen"
  | "bytesSeen"
>(
  ["filesProcessed", "filesChecked", "filesMissing", "checksumMismatches", "problemCount", "entriesSeen", "bytesSeen"],
  "problemCount",
);
type VerifySummary = ReturnType<typeof verifyNumbers.summarize> & Pick<VerifyState, "chainBroken" | "firstProblem">;

/**
 * What a verification counts, summed over its shards when it fans out (leaf-fan-out.ts): only a
 * version 3 snapshot's does, whose checksum is its root's name, so no chain runs through every
 * leaf. A shard that met an unreadable chunk leaves the counts unchecked, as one object would.
 */
export const verifyCounting: ShardCounting<VerifyState, VerifySummary> = {
  summarize: (state) => ({
    ...verifyNumbers.summarize(state),
    chainBroken: state.chainBroken,
    firstProblem: state.firstProblem,
  }),
  progress: verifyNumbers.progress,
  join: (state, summaries) => ({
    ...verifyNumbers.join(state, summaries),
    chainBroken: summaries.some((s) => s.chainBroken),
    firstProblem: summaries.find((s) => s.firstProblem)?.firstProblem ?? null,
  }),
  fresh: (parent) => ({ ...verifyNumbers.fresh(parent), chainBroken: false, firstProblem: null, chain: EMPTY_CHAIN }),
};

export function verifyResult(state: VerifyState) {
  return {
    valid: state.problemCount === 0,
    mode: state.mode,
    copy: state.copy ?? "primary",
    samplePercent: state.sample?.percent ?? 100,
    /** Where this run's window was (the next sampled run starts after it). */
    sample: state.sample,
    filesChecked: state.filesChecked,
    filesMissing: state.filesMissing,
    checksumMismatches: state.checksumMismatches,
    problemCount: state.problemCount,
  };
}

export function initialVerifyState(
  base: Omit<
    VerifyState,
    | "chain"
    | "chainBroken"
    | "entriesSeen"
    | "bytesSeen"
    | "filesChecked"
    | "filesMissing"
    | "checksumMismatches"
    | "problemCount"
    | "firstProblem"
    | "nextChunkSeq"
    | "nextOffset"
    | "filesProcessed"
    | "newFindings"
    | "findingsStored"
    | keyof typeof RUNNING
  >,
): VerifyState {
  return {
    ...base,
    nextChunkSeq: 0,
    nextOffset: 0,
    filesProcessed: 0,
    chain: EMPTY_CHAIN,
    chainBroken: false,
    entriesSeen: 0,
    bytesSeen: 0,
    filesChecked: 0,
    filesMissing: 0,
    checksumMismatches: 0,
    problemCount: 0,
    firstProblem: null,
    ...NO_FINDINGS,
    ...RUNNING,
  };
}
