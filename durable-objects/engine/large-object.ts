/**
 * Objects above the multipart threshold, handled over as many steps as their size needs, each step
 * reading at most its byte budget. Two stages, both resumable from the checkpoint:
 *
 *   hashing    ranges of the object feed a resumable SHA-256 (its state rides in the checkpoint);
 *   uploading  unless the store already has the content, a multipart upload whose id and finished
 *              parts are checkpointed after every part, so a crash re-uploads at most one part.
 *
 * Every range is read with `etagMatches` on the version first seen; if the object changes midway
 * the capture starts over on the new version, and if it is deleted it is simply gone.
 */
import { encryptedRange, encryptedSize, type FramingOptions } from "./blob-format";
import {
  blobKeyFor,
  blobMetadata,
  capturedResult,
  describeBlob,
  framingFor,
  originFor,
  readSource,
  type CaptureResult,
  type StorageSettings,
} from "./blob-store";
import { storedHttpMetadata, type ManifestEntry, type StoredHttpMetadata } from "./manifest";
import { ResumableSha256, type Sha256State } from "./resumable-sha256";

export interface LargeObjectState {
  key: string;
  /** A modified object replaces this parent entry; a new one has none. */
  previous: ManifestEntry | null;
  version: { etag: string; size: number; uploaded: string; httpMetadata: StoredHttpMetadata; customMetadata: Record<string, string> } | null;
  stage: "hashing" | "uploading" | "done";
  hashedBytes: number;
  hashState: Sha256State | null;
  sha256: string | null;
  blob: string | null;
  uploadId: string | null;
  parts: { partNumber: number; etag: string }[];
  result: CaptureResult | null;
  /** Failed attempts to read the source; after the configured number the object is `failed`. */
  readFailures: number;
}

export function startLargeObject(key: string, previous: ManifestEntry | null): LargeObjectState {
  return { key, previous, version: null, stage: "hashing", hashedBytes: 0, hashState: null, sha256: null, blob: null, uploadId: null, parts: [], result: null, readFailures: 0 };
}

export interface LargeObjectDeps {
  source: R2Bucket;
  backup: R2Bucket;
  backupId: string;
  settings: StorageSettings;
  /** Persists the state mid-step (after each uploaded part). */
  save: (state: LargeObjectState) => Promise<void>;
}

class VersionChanged extends Error {}

/** Advances the capture by at most `budget` bytes; the result is set once the stage is "done". */
export async function advanceLargeObject(deps: LargeObjectDeps, state: LargeObjectState, budget: number): Promise<LargeObjectState> {
  try {
    return await advance(deps, state, budget);
  } catch (error) {
    if (!(error instanceof VersionChanged)) throw error;
    // The object changed (or vanished) between ranges: start over on whatever is there now.
    if (state.uploadId) await deps.backup.resumeMultipartUpload(state.blob!, state.uploadId).abort().catch(() => undefined);
    return startLargeObject(state.key, state.previous);
  }
}

async function advance(deps: LargeObjectDeps, initial: LargeObjectState, budget: number): Promise<LargeObjectState> {
  let state = initial;
  if (!state.version) {
    const head = await readSource(`head ${state.key}`, () => deps.source.head(state.key));
    if (!head) return { ...state, stage: "done", result: { kind: "gone" } };
    state = { ...state, version: { etag: head.etag, size: head.size, uploaded: head.uploaded.toISOString(), httpMetadata: storedHttpMetadata(head.httpMetadata), customMetadata: { ...(head.customMetadata ?? {}) } } };
  }
  const version = state.version!;
  let spent = 0;

  const readRange = async (offset: number, length: number): Promise<R2ObjectBody> => {
    const object = await readSource(`get ${state.key} bytes ${offset}+${length}`, () =>
      deps.source.get(state.key, { range: { offset, length }, onlyIf: { etagMatches: version.etag } }),
    );
    if (!object || !("body" in object)) throw new VersionChanged();
    return object;
  };

  while (state.stage === "hashing" && spent < budget) {
    const length = Math.min(budget - spent, version.size - state.hashedBytes);
    const hasher = new ResumableSha256(state.hashState ?? undefined);
    if (length > 0) {
      const reader = (await readRange(state.hashedBytes, length)).body.getReader();
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) hasher.update(chunk.value);
    }
    spent += length;
    state = { ...state, hashedBytes: state.hashedBytes + length, hashState: hasher.state() };
    if (state.hashedBytes === version.size) {
      const sha256 = new ResumableSha256(state.hashState!).digestHex();
      const blob = await blobKeyFor(sha256, deps.settings.keyring);
      state = { ...state, stage: "uploading", sha256, blob };
    }
  }

  if (state.stage === "uploading") {
    const origin = await originFor(deps.backupId, state.key, deps.settings.keyring);
    // Compression state cannot be carried across steps, so large objects are never compressed.
    const framing: FramingOptions = framingFor(state.key, version.httpMetadata.contentType, deps.settings, false);
    const existing = await deps.backup.head(state.blob!);
    if (existing && !state.uploadId) return finish(state, describeBlob(existing), origin);

    if (!state.uploadId) {
      const upload = await deps.backup.createMultipartUpload(state.blob!, { customMetadata: blobMetadata(origin, framing, state.sha256!) });
      state = { ...state, uploadId: upload.uploadId };
      await deps.save(state);
    }
    const upload = deps.backup.resumeMultipartUpload(state.blob!, state.uploadId!);
    const storedSize = framing.key ? encryptedSize(version.size) : version.size;
    const partSize = partSizeFor(storedSize, deps.settings.partSize);
    const partCount = Math.max(1, Math.ceil(storedSize / partSize));
    for (;;) {
      const start = state.parts.length * partSize;
      const end = Math.min(storedSize, start + partSize);
      // At most `budget` bytes a step, but always at least one part.
      if (state.parts.length >= partCount || (spent > 0 && spent + (end - start) > budget)) break;
      let body: ReadableStream<Uint8Array>;
      if (framing.key) {
        // Produced from the content as it streams in (about one record in memory), with a known
        // length, as R2 needs for a part.
        const fixed = new FixedLengthStream(end - start);
        void encryptedRange(framing.key, version.size, start, end, async (offset, length) => (await readRange(offset, length)).body)
          .pipeTo(fixed.writable)
          .catch(() => undefined); // the part upload fails with the same error
        body = fixed.readable;
      } else {
        body = (await readRange(start, end - start)).body;
      }
      const part = await upload.uploadPart(state.parts.length + 1, body);
      spent += end - start;
      state = { ...state, parts: [...state.parts, { partNumber: part.partNumber, etag: part.etag }] };
      await deps.save(state);
    }
    if (state.parts.length === partCount) {
      const raced = await deps.backup.head(state.blob!);
      if (raced) {
        await upload.abort();
        return finish(state, describeBlob(raced), origin);
      }
      const written = await upload.complete(state.parts);
      return finish(state, { origin, size: written.size }, origin);
    }
  }
  return state;
}

function finish(state: LargeObjectState, stored: { origin: { backupId: string; sourceKey: string }; size: number }, origin: { backupId: string; sourceKey: string }): LargeObjectState {
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
  return { ...state, stage: "done", uploadId: null, hashState: null, result: capturedResult(entry, stored, origin) };
}

/** R2 allows 10,000 parts: larger objects get larger parts (whole MiB), up to R2's object limit. */
export const MAX_PARTS = 10_000;
export function partSizeFor(storedSize: number, configured: number): number {
  const MiB = 1024 * 1024;
  return Math.max(configured, Math.ceil(storedSize / MAX_PARTS / MiB) * MiB);
}
