/**
 * Restoring one object above the multipart threshold, part by part: each part is the content range
 * read from the blob (decrypted record by record when encrypted) and uploaded, PARTS_IN_FLIGHT
 * parts at once (multipart.ts), while the whole content is hashed in order. The upload id and the
 * finished parts are checkpointed as the parts done from the first grow. The upload is completed
 * only if the whole content hashes to the manifest's SHA-256, so a damaged backup copy never
 * lands. Without `overwriteExisting`, an object that exists at the target (checked before starting
 * and again before completing) is never replaced. A compressed blob cannot be read by range; it is
 * restored in one streamed put instead, up to R2's single-put limit.
 *
 * The hash: an object up to the hashing allowance (BACKUP_HASH_STEP_BYTES, or the step's budget if
 * larger) is restored within one step, reads and writes alike, and hashed natively (several times
 * the JavaScript hash; docs/performance.md, "One 1 GiB object"). Its hash cannot be checkpointed,
 * so a step that resumes after finished parts (a crash, a failed part) starts the object again:
 * hashing those parts again from the blob would prove what the blob holds now, not what was
 * uploaded. Larger objects move a step's budget at a time with the resumable JavaScript hash,
 * whose state rides in the checkpoint.
 */
import type { RestoreTarget } from "../buckets";
import { openRangedBlob } from "../format/blob-ranges";
import { errorMessage, isBlobIntegrityError } from "../errors";
import type { Keyring } from "../format/keyring";
import {
  movePart,
  moveParts,
  partSizeFor,
  partsWithin,
  raiseFirstFailure,
  type PartOutcome,
  type PartSpan,
} from "../multipart";
import { toR2HttpMetadata, type ManifestEntry } from "../format/manifest";
import { nativeSha256, resumableSha256, type OrderedSha256 } from "../format/ordered-sha256";
import type { Sha256State } from "../format/resumable-sha256";

export interface LargeRestoreState {
  entry: ManifestEntry;
  target: string;
  uploadId: string | null;
  parts: { partNumber: number; etag: string }[];
  /** The resumable hash after the finished parts; null when they were hashed natively (or none are). */
  hashState: Sha256State | null;
  /** Set just before completing, so a replay after the completion recognises its own object. */
  completing: boolean;
  /** Read from the replica after the primary's copy failed (why: `primaryProblem`); absent: the primary. */
  copy?: "replica";
  primaryProblem?: string;
}

export type LargeRestoreOutcome =
  | { kind: "restored"; verified: boolean }
  | { kind: "skipped" }
  | { kind: "failed"; reason: string }
  /** Compressed: cannot be read by range; the caller restores it in one put. */
  | { kind: "not_rangeable" };

export interface LargeRestoreDeps {
  source: RestoreTarget;
  backup: Pick<R2Bucket, "get" | "head">;
  keyring: Keyring | null;
  partSize: number;
  /** An object up to this size (or the step's budget, if larger) is restored in one step, hashed natively. */
  hashStepBytes: number;
  overwriteExisting: boolean;
  startedAt: string;
  save: (state: LargeRestoreState) => Promise<void>;
}

export function startLargeRestore(entry: ManifestEntry, target: string): LargeRestoreState {
  return { entry, target, uploadId: null, parts: [], hashState: null, completing: false };
}

interface BlobLayout {
  open: (start: number, end: number) => Promise<ReadableStream<Uint8Array>>;
}

async function layoutOf(deps: LargeRestoreDeps, entry: ManifestEntry): Promise<BlobLayout | LargeRestoreOutcome> {
  const blob = await openRangedBlob(deps.backup, entry.blob, entry.size, deps.keyring);
  switch (blob.kind) {
    case "rangeable":
      return { open: blob.open };
    case "missing":
      return { kind: "failed", reason: `the backup's copy (${entry.blob}) is missing from the backup store` };
    case "wrong_size":
      return {
        kind: "failed",
        reason: `the backup's copy is unreadable: it holds ${blob.storedSize} bytes; the manifest records ${entry.size}`,
      };
    case "not_rangeable":
      return { kind: "not_rangeable" };
    case "unknown_key":
      return {
        kind: "failed",
        reason: `the backup's copy is encrypted with key ${blob.keyId}, which is not configured`,
      };
  }
}

/** Advances by at most `budget` bytes; returns the new state, or the outcome once finished. */
export async function advanceLargeRestore(
  deps: LargeRestoreDeps,
  state: LargeRestoreState,
  budget: number,
): Promise<{ state: LargeRestoreState } | { outcome: LargeRestoreOutcome }> {
  const { entry, target } = state;
  const existing = await deps.source.head(target);
  if (
    state.completing &&
    existing &&
    existing.size === entry.size &&
    existing.uploaded.getTime() >= Date.parse(deps.startedAt)
  ) {
    return { outcome: { kind: "restored", verified: true } }; // completed just before a crash
  }
  if (!deps.overwriteExisting && existing) return { outcome: await abandon(deps, state, { kind: "skipped" }) };

  let layout: BlobLayout | LargeRestoreOutcome;
  try {
    layout = await layoutOf(deps, entry);
  } catch (error) {
    if (isBlobIntegrityError(error)) return { outcome: { kind: "failed", reason: unreadable(error) } };
    throw error;
  }
  if ("kind" in layout) return { outcome: await abandon(deps, state, layout) };

  let current = state;
  const partSize = partSizeFor(entry.size, deps.partSize);
  const partCount = Math.max(1, Math.ceil(entry.size / partSize));
  const finishedBytes = Math.min(entry.size, current.parts.length * partSize);
  if (current.uploadId && (current.hashState?.length ?? 0) !== finishedBytes) {
    // The hash no longer covers exactly the finished parts. Mostly: they were hashed natively by
    // a step that did not complete the object, and that hash is gone; hashing them again from
    // the blob would prove what the blob holds now, not what was uploaded (a copy repaired
    // between the two steps would pass for parts read before the repair). Or the part size
    // changed between steps. Either way, start the object again with a fresh upload.
    await letGo(deps, current);
    current = { ...current, uploadId: null, parts: [], hashState: null };
    await deps.save(current);
  }
  if (!current.uploadId) {
    const upload = await deps.source.createMultipartUpload(target, {
      httpMetadata: toR2HttpMetadata(entry.httpMetadata),
      customMetadata: entry.customMetadata,
    });
    current = { ...current, uploadId: upload.uploadId };
    await deps.save(current);
  }
  const upload = deps.source.resumeMultipartUpload(target, current.uploadId!);
  const wholeInThisStep = !current.hashState && entry.size <= Math.max(budget, deps.hashStepBytes);
  const hash = current.hashState
    ? resumableSha256(current.hashState)
    : wholeInThisStep
      ? nativeSha256()
      : resumableSha256();
  const spans = partsWithin(
    current.parts.length,
    partCount,
    partSize,
    entry.size,
    0,
    wholeInThisStep ? Number.POSITIVE_INFINITY : budget,
  );
  // Each part's bytes go to its upload and, in part order, to the hash (the whole object's, so in
  // order): a later part's copy for the hash waits in its tee until the parts before it are hashed.
  // A part counts as done only once it is hashed too, so at most PARTS_IN_FLIGHT parts are held.
  let hashedSoFar: Promise<unknown> = Promise.resolve(null); // the hash's first failure, or null
  const hashStateAfter = new Map<number, Sha256State | null>(); // saved with the parts up to each
  const moveAndHash = async (span: PartSpan): Promise<PartOutcome> => {
    const opened = layout.open(span.start, span.end).then((stream) => stream.tee());
    const forHash = opened.then(([, branch]) => branch);
    // Each is awaited below (or let go after an earlier part's failure), perhaps only after it has failed.
    for (const pending of [opened, forHash]) pending.catch(() => undefined);
    hashedSoFar = hashedSoFar.then((earlier) =>
      earlier === null ? hashPart(hash, forHash, span, hashStateAfter) : letGoOf(forHash, earlier),
    );
    const hashedThrough = hashedSoFar;
    const outcome = await movePart(upload, span, async () => (await opened)[0]);
    const hashFailure = await hashedThrough;
    // A part that failed on its own keeps its own reason (damage it read must be seen as damage).
    if (hashFailure === null || outcome.fed.status === "rejected") return outcome;
    return { ...outcome, fed: { status: "rejected", reason: hashFailure } };
  };
  const moved = await moveParts(spans, moveAndHash, async (parts) => {
    current = {
      ...current,
      parts: [...current.parts, ...parts],
      hashState: hashStateAfter.get(parts.at(-1)!.partNumber) ?? null,
    };
    await deps.save(current);
  });
  const hashFailure = await hashedSoFar;
  // When the blob turns out damaged midway, the part upload fails too: the damage names it.
  const damage = [hashFailure, ...moved.map(({ fed }) => (fed.status === "rejected" ? fed.reason : null))].find(
    isBlobIntegrityError,
  );
  if (damage) {
    return {
      outcome: await abandon(deps, current, { kind: "failed", reason: unreadable(damage) }),
    };
  }
  raiseFirstFailure(moved);
  if (hashFailure) throw hashFailure;
  if (current.parts.length < partCount) return { state: current };

  const sha256 = await hash.digestHex();
  if (sha256 !== entry.sha256) {
    return {
      outcome: await abandon(deps, current, {
        kind: "failed",
        reason: `the backup's copy does not match its checksum (expected ${entry.sha256}, read ${sha256})`,
      }),
    };
  }
  if (!deps.overwriteExisting && (await deps.source.head(target)))
    return { outcome: await abandon(deps, current, { kind: "skipped" }) };
  current = { ...current, completing: true };
  await deps.save(current);
  const written = await upload.complete(current.parts);
  return { outcome: { kind: "restored", verified: written.size === entry.size } };
}

/**
 * Hashes one part's copy, after the parts before it: null, or the failure. Notes the hash's state
 * after it, which a step saves with the parts up to it (null for the native hash).
 */
async function hashPart(
  hash: OrderedSha256,
  forHash: Promise<ReadableStream<Uint8Array>>,
  span: PartSpan,
  stateAfter: Map<number, Sha256State | null>,
): Promise<unknown> {
  try {
    await hash.feed(await forHash);
    stateAfter.set(span.partNumber, hash.saved());
    return null;
  } catch (error) {
    return error;
  }
}

/**
 * A part's copy for the hash after an earlier part failed it: cancelled, so its tee stops keeping
 * bytes for it, its own failure observed. The earlier failure stands for it.
 */
async function letGoOf(forHash: Promise<ReadableStream<Uint8Array>>, earlier: unknown): Promise<unknown> {
  void forHash.then((unread) => unread.cancel(earlier)).catch(() => undefined);
  return earlier;
}

const unreadable = (error: { message: string }) => `the backup's copy is unreadable: ${error.message}`;

/**
 * Aborts the object's upload, if one was opened (it is starting over, or ends without it). A
 * failure to abort is reported and not fatal: an upload left open holds no object, and the
 * bucket's lifecycle removes it (R2 aborts incomplete multipart uploads after 7 days by default).
 */
async function letGo(deps: LargeRestoreDeps, state: LargeRestoreState): Promise<void> {
  if (!state.uploadId) return;
  try {
    await deps.source.resumeMultipartUpload(state.target, state.uploadId).abort();
  } catch (error) {
    console.warn(`restore of ${state.target}: could not abort upload ${state.uploadId}: ${errorMessage(error)}`);
  }
}

async function abandon(
  deps: LargeRestoreDeps,
  state: LargeRestoreState,
  outcome: LargeRestoreOutcome,
): Promise<LargeRestoreOutcome> {
  await letGo(deps, state);
  return outcome;
}
