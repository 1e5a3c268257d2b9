/**
 * Objects above the multipart threshold, handled over as many steps as their size needs, each step
 * reading at most its byte budget. Two stages, both resumable from the checkpoint:
 *
 *   hashing    ranges of the object feed a resumable SHA-256 (its state rides in the checkpoint);
 *   uploading  unless the store already has the content, a multipart upload whose id and finished
 *              parts are checkpointed as the parts done from the first grow (multipart.ts: parts
 *              move PARTS_IN_FLIGHT at once), so a crash re-uploads at most PARTS_AHEAD parts.
 *
 * Every range is read with `etagMatches` on the version first seen; if the object changes midway
 * the capture starts over on the new version, at most `maxRestarts` times (an object rewritten
 * faster than it can be read would otherwise hold the bucket's lease forever): then it is recorded
 * as failed and the backup moves on. If it is deleted it is simply gone.
 */
import type { SourceReader, BlobStore } from "../buckets";
import { encryptedRange, encryptedSize, type FramingOptions } from "../format/blob-format";
import {
  blobKeyFor,
  blobMetadata,
  capturedResult,
  describeBlob,
  framingFor,
  originFor,
  type CaptureResult,
  type StorageSettings,
} from "./blob-store";
import { blobMismatch } from "./blob-trust";
import { LockedBlobError, refuseIfLocked } from "../settings/bucket-lock";
import { errorMessage, isSourceReadError, isVersionChanged, readSource, SourceVersionChanged } from "../errors";
import { cooperativeStream } from "../cooperative";
import { sha256OfR2Body } from "../format/hashing";
import { movePart, moveParts, partSizeFor, partsWithin, raiseFirstFailure } from "../multipart";
import { storedHttpMetadata, type ManifestEntry, type StoredHttpMetadata } from "../format/manifest";
import { resumableSha256 } from "../format/ordered-sha256";
import type { Sha256State } from "../format/resumable-sha256";

export interface LargeObjectState {
  key: string;
  /** A modified object replaces this parent entry; a new one has none. */
  previous: ManifestEntry | null;
  version: {
    etag: string;
    size: number;
    uploaded: string;
    httpMetadata: StoredHttpMetadata;
    customMetadata: Record<string, string>;
  } | null;
  stage: "hashing" | "uploading" | "done";
  hashedBytes: number;
  hashState: Sha256State | null;
  sha256: string | null;
  blob: string | null;
  uploadId: string | null;
  parts: { partNumber: number; etag: string }[];
  /**
   * The part size of the open upload, fixed when it was created: R2 needs every part but the last
   * to be equal, so a changed BACKUP_PART_SIZE_BYTES must not apply to an upload under way.
   */
  partSize: number | null;
  result: CaptureResult | { kind: "failed"; error: string } | null;
  /** Failed attempts to read the source; after the configured number the object is `failed`. */
  readFailures: number;
  /** Times the capture started over because the object changed under it. */
  restarts: number;
}

export function startLargeObject(key: string, previous: ManifestEntry | null, restarts = 0): LargeObjectState {
  return {
    key,
    previous,
    version: null,
    stage: "hashing",
    hashedBytes: 0,
    hashState: null,
    sha256: null,
    blob: null,
    uploadId: null,
    parts: [],
    partSize: null,
    result: null,
    readFailures: 0,
    restarts,
  };
}

export interface LargeObjectDeps {
  source: SourceReader;
  backup: BlobStore;
  backupId: string;
  settings: StorageSettings;
  /** Restarts on a changed object before it is recorded as failed. */
  maxRestarts: number;
  /** Reads of an unreadable object (across steps) before it is recorded as failed. */
  readAttempts: number;
  /** An object up to this size is hashed natively in one step, even above the step's budget. */
  hashStepBytes: number;
  /** Persists the state mid-step (after each uploaded part). */
  save: (state: LargeObjectState) => Promise<void>;
}

/** Aborts the multipart upload a capture left open, if any (R2 would expire it, billing meanwhile). */
export async function abortOpenUpload(
  backup: Pick<R2Bucket, "resumeMultipartUpload">,
  state: LargeObjectState,
): Promise<void> {
  if (!state.uploadId) return;
  await backup
    .resumeMultipartUpload(state.blob!, state.uploadId)
    .abort()
    .catch((abortError: unknown) =>
      console.error(`aborting the upload of ${state.key} failed; R2 expires it`, abortError),
    );
}

/**
 * Advances the capture by at most `budget` bytes; the result is set once the stage is "done".
 * The source's failures are handled here, across steps, from the state last saved in this call
 * (which may hold an upload id and parts the step added): a changed object starts over (at most
 * `maxRestarts` times), an unreadable one is retried by the next step (at most `readAttempts`
 * reads in all); then the object is recorded as failed and its open upload aborted.
 */
export async function advanceLargeObject(
  deps: LargeObjectDeps,
  state: LargeObjectState,
  budget: number,
): Promise<LargeObjectState> {
  let saved = state;
  const tracked: LargeObjectDeps = {
    ...deps,
    save: async (next) => {
      saved = next;
      await deps.save(next);
    },
  };
  try {
    return await advance(tracked, state, budget);
  } catch (error) {
    if (isVersionChanged(error)) {
      await abortOpenUpload(deps.backup, saved);
      const restarts = state.restarts + 1;
      if (restarts <= deps.maxRestarts) return startLargeObject(state.key, state.previous, restarts);
      return failed(
        startLargeObject(state.key, state.previous, restarts),
        `${state.key} changed ${restarts} times while it was being backed up (${errorMessage(error)}); it is left for the next backup`,
      );
    }
    if (error instanceof LockedBlobError) return failed(saved, error.message);
    if (!isSourceReadError(error)) throw error;
    if (saved.readFailures + 1 < deps.readAttempts) {
      await deps.save({ ...saved, readFailures: saved.readFailures + 1 });
      throw error;
    }
    await abortOpenUpload(deps.backup, saved);
    return failed(saved, error.message);
  }
}

function failed(state: LargeObjectState, error: string): LargeObjectState {
  return { ...state, stage: "done", uploadId: null, result: { kind: "failed", error } };
}

async function advance(deps: LargeObjectDeps, initial: LargeObjectState, budget: number): Promise<LargeObjectState> {
  let state = initial;
  if (!state.version) {
    const head = await readSource(`head ${state.key}`, () => deps.source.head(state.key));
    if (!head) return { ...state, stage: "done", result: { kind: "gone" } };
    state = {
      ...state,
      version: {
        etag: head.etag,
        size: head.size,
        uploaded: head.uploaded.toISOString(),
        httpMetadata: storedHttpMetadata(head.httpMetadata),
        customMetadata: { ...(head.customMetadata ?? {}) },
      },
    };
  }
  const version = state.version!;
  let spent = 0;

  const readRange = async (offset: number, length: number): Promise<R2ObjectBody> => {
    const object = await readSource(`get ${state.key} bytes ${offset}+${length}`, () =>
      deps.source.get(state.key, { range: { offset, length }, onlyIf: { etagMatches: version.etag } }),
    );
    if (!object || !("body" in object)) throw new SourceVersionChanged(state.key);
    return object;
  };

  // An object up to the hashing allowance (or this step's budget, if larger) is hashed natively in
  // one go (crypto.DigestStream: about 15× the JavaScript hash, and it never blocks the isolate);
  // only larger ones need the hash state carried across steps. The allowance may exceed the step's
  // budget because hashing only reads: a 1 GiB object hashed in JavaScript over two steps took
  // six times as long as 256 MiB hashed natively (docs/performance.md).
  if (state.stage === "hashing" && state.hashedBytes === 0 && version.size <= Math.max(budget, deps.hashStepBytes)) {
    const { sha256 } = await sha256OfR2Body((await readRange(0, version.size)).body);
    spent += version.size;
    state = {
      ...state,
      hashedBytes: version.size,
      stage: "uploading",
      sha256,
      blob: await blobKeyFor(sha256, deps.settings.keyring),
    };
  }
  while (state.stage === "hashing" && spent < budget) {
    const length = Math.min(budget - spent, version.size - state.hashedBytes);
    const hasher = resumableSha256(state.hashState ?? undefined);
    if (length > 0) await hasher.feed((await readRange(state.hashedBytes, length)).body);
    spent += length;
    state = { ...state, hashedBytes: state.hashedBytes + length, hashState: hasher.saved() };
    if (state.hashedBytes === version.size) {
      const sha256 = await hasher.digestHex();
      const blob = await blobKeyFor(sha256, deps.settings.keyring);
      state = { ...state, stage: "uploading", sha256, blob };
    }
  }

  if (state.stage === "uploading") {
    const origin = await originFor(deps.backupId, state.key, deps.settings.keyring);
    // Compression state cannot be carried across steps, so large objects are never compressed.
    const framing: FramingOptions = framingFor(state.key, version.httpMetadata.contentType, deps.settings, false);
    const mismatchOf = (object: R2Object) => blobMismatch(object, { sha256: state.sha256!, size: version.size });
    const existing = await deps.backup.head(state.blob!);
    const mismatch = existing ? mismatchOf(existing) : null;
    if (existing && !mismatch && !state.uploadId) return finish(state, describeBlob(existing), origin);
    // A damaged or foreign blob at the name is replaced by the upload below (completion overwrites),
    // unless a bucket lock keeps it.
    if (existing && mismatch && !state.uploadId) {
      refuseIfLocked(existing, state.blob!, mismatch, deps.settings.lockDays ?? 0, state.key);
      console.warn(`blob ${state.blob} for ${state.key} fails its trust check; writing it again`);
    }

    const storedSize = framing.key ? encryptedSize(version.size) : version.size;
    if (!state.uploadId) {
      const upload = await deps.backup.createMultipartUpload(state.blob!, {
        customMetadata: blobMetadata(origin, framing, state.sha256!, version.size),
      });
      state = { ...state, uploadId: upload.uploadId, partSize: partSizeFor(storedSize, deps.settings.partSize) };
      await deps.save(state);
    }
    const upload = deps.backup.resumeMultipartUpload(state.blob!, state.uploadId!);
    // Older states have no part size: theirs was the configured one at the time.
    const partSize = state.partSize ?? partSizeFor(storedSize, deps.settings.partSize);
    const partCount = Math.max(1, Math.ceil(storedSize / partSize));
    // Encrypted parts are produced from the content as it streams in (about one record in memory);
    // plain parts pass through cooperative yields (cooperative.ts). When the source changes or
    // fails midway, the pipe fails with the reason and the part upload only with a broken body, so
    // the pipe's error is the one raised; of the parts' failures, a changed or unreadable source is
    // raised first (the capture starts over or is retried from the source).
    const moved = await moveParts(
      partsWithin(state.parts.length, partCount, partSize, storedSize, spent, budget),
      (span) =>
        movePart(upload, span, async () =>
          framing.key
            ? encryptedRange(
                framing.key,
                version.size,
                span.start,
                span.end,
                async (offset, length) => (await readRange(offset, length)).body,
              )
            : (await readRange(span.start, span.end - span.start)).body.pipeThrough(cooperativeStream()),
        ),
      // The parts up to the first that failed are kept (the upload takes them in whatever order).
      async (parts) => {
        state = { ...state, parts: [...state.parts, ...parts] };
        await deps.save(state);
      },
    );
    for (const { fed } of moved)
      if (fed.status === "rejected" && (isVersionChanged(fed.reason) || isSourceReadError(fed.reason)))
        throw fed.reason;
    raiseFirstFailure(moved);
    if (state.parts.length === partCount) {
      const raced = await deps.backup.head(state.blob!);
      if (raced && mismatchOf(raced) === null) {
        await upload.abort();
        return finish(state, describeBlob(raced), origin);
      }
      const written = await upload.complete(state.parts);
      return finish(state, { origin, size: written.size }, origin);
    }
  }
  return state;
}

function finish(
  state: LargeObjectState,
  stored: { origin: { backupId: string; sourceKey: string }; size: number },
  origin: { backupId: string; sourceKey: string },
): LargeObjectState {
  const version = state.version!;
  const entry: ManifestEntry = {
    key: state.key,
    size: version.size,
    etag: version.etag,
    lastModified: version.uploaded,
    sha256: state.sha256!,
    blob: state.blob!,
    httpMetadata: version.httpMetadata,
    customMetadata: version.customMetadata,
  };
  return {
    ...state,
    stage: "done",
    uploadId: null,
    partSize: null,
    hashState: null,
    result: capturedResult(entry, stored, origin),
  };
}
