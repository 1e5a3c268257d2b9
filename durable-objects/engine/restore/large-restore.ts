/**
 * Restoring one object above the multipart threshold, part by part across steps: each part is the
 * content range read from the blob (decrypted record by record when encrypted), hashed in order
 * with the resumable SHA-256, and uploaded, PARTS_IN_FLIGHT parts at once (multipart.ts); the
 * upload id, finished parts and hash state are checkpointed after every window of parts. The upload is completed only if the whole content hashes to the
 * manifest's SHA-256, so a damaged backup copy never lands. Without `overwriteExisting`, an object
 * that exists at the target (checked before starting and again before completing) is never
 * replaced. A compressed blob cannot be read by range; it is restored in one streamed put instead,
 * up to R2's single-put limit.
 */
import type { RestoreTarget } from "../buckets";
import { openRangedBlob } from "../format/blob-ranges";
import { isBlobIntegrityError } from "../errors";
import type { Keyring } from "../format/keyring";
import { Cooperative } from "../cooperative";
import { finishedPrefix, movePart, nextParts, partSizeFor } from "../multipart";
import { toR2HttpMetadata, type ManifestEntry } from "../format/manifest";
import { ResumableSha256, type Sha256State } from "../format/resumable-sha256";

export interface LargeRestoreState {
  entry: ManifestEntry;
  target: string;
  uploadId: string | null;
  parts: { partNumber: number; etag: string }[];
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
    if (isBlobIntegrityError(error))
      return { outcome: { kind: "failed", reason: `the backup's copy is unreadable: ${error.message}` } };
    throw error;
  }
  if ("kind" in layout) return { outcome: await abandon(deps, state, layout) };

  let current = state;
  if (!current.uploadId) {
    const upload = await deps.source.createMultipartUpload(target, {
      httpMetadata: toR2HttpMetadata(entry.httpMetadata),
      customMetadata: entry.customMetadata,
    });
    current = { ...current, uploadId: upload.uploadId };
    await deps.save(current);
  }
  const upload = deps.source.resumeMultipartUpload(target, current.uploadId!);
  const partSize = partSizeFor(entry.size, deps.partSize);
  const partCount = Math.max(1, Math.ceil(entry.size / partSize));
  let spent = 0;
  for (;;) {
    const window = nextParts(current.parts.length, partCount, partSize, entry.size, spent, budget);
    if (window.length === 0) break;
    const hasher = new ResumableSha256(current.hashState ?? undefined);
    // Each part's bytes go to its upload and, in part order, to the hash (the whole object's, so
    // in order): a later part's copy for the hash waits in its tee until the parts before it are
    // hashed, at most a part each, PARTS_IN_FLIGHT parts a window.
    const opened = window.map((span) => layout.open(span.start, span.end).then((stream) => stream.tee()));
    for (const branches of opened) branches.catch(() => undefined); // each is awaited below, or its failure reported by its part
    const hashed = hashInOrder(
      hasher,
      opened.map(async (branches) => (await branches)[1]),
    );
    const moved = await Promise.all(window.map((span, i) => movePart(upload, span, async () => (await opened[i]!)[0])));
    const hashFailure = await hashed;
    // When the blob turns out damaged midway, the part upload fails too: the damage names it.
    const damage = [hashFailure, ...moved.map(({ fed }) => (fed.status === "rejected" ? fed.reason : null))].find(
      isBlobIntegrityError,
    );
    if (damage) {
      return {
        outcome: await abandon(deps, current, {
          kind: "failed",
          reason: `the backup's copy is unreadable: ${damage.message}`,
        }),
      };
    }
    for (const { uploaded, fed } of moved) {
      if (uploaded.status === "rejected") throw uploaded.reason;
      if (fed.status === "rejected") throw fed.reason;
    }
    if (hashFailure) throw hashFailure;
    spent += window.reduce((sum, part) => sum + (part.end - part.start), 0);
    current = {
      ...current,
      parts: [...current.parts, ...finishedPrefix(moved)],
      hashState: hasher.state(),
    };
    await deps.save(current);
  }
  if (current.parts.length < partCount) return { state: current };

  const sha256 = new ResumableSha256(current.hashState!).digestHex();
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

/** Feeds the streams to the hash one after another, in order; the first failure, or null. */
async function hashInOrder(
  hasher: ResumableSha256,
  streams: readonly Promise<ReadableStream<Uint8Array>>[],
): Promise<unknown> {
  const cooperative = new Cooperative();
  try {
    for (const stream of streams) {
      const reader = (await stream).getReader();
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        hasher.update(chunk.value);
        await cooperative.handled(chunk.value.length);
      }
    }
    return null;
  } catch (error) {
    return error;
  }
}

async function abandon(
  deps: LargeRestoreDeps,
  state: LargeRestoreState,
  outcome: LargeRestoreOutcome,
): Promise<LargeRestoreOutcome> {
  if (state.uploadId) await deps.source.resumeMultipartUpload(state.target, state.uploadId).abort();
  return outcome;
}
