/**
 * Copying one stored object (a blob, a manifest chunk, a manifest index) from the primary backup
 * bucket to the replica, byte for byte with its metadata, so the replica holds the same format
 * and every reader works on either copy. Keys are content-addressed (blobs, chunks) or written
 * once (indexes), so an object already in the replica is never written again, and a copy that is
 * replayed after a crash writes the same bytes under the same key.
 */
import { isFramedBlob } from "../format/blob-reader";
import { mapWithConcurrency } from "../concurrency";
import { PARTS_IN_FLIGHT, partSizeFor, pipePart } from "../multipart";

export type CopyOutcome =
  | { kind: "present" }
  | { kind: "copied"; bytes: number }
  /** Missing from the primary: nothing to copy. */
  | { kind: "missing" }
  /** The primary's bytes do not hash to the content they name (raw blobs are checked by R2). */
  | { kind: "damaged"; detail: string };

export interface CopyDeps {
  primary: Pick<R2Bucket, "get">;
  replica: Pick<R2Bucket, "head" | "put" | "createMultipartUpload">;
  /** Objects above this size are copied part by part (R2's single put stops at 5 GiB). */
  multipartThreshold: number;
  partSize: number;
}

/**
 * Copies `key` unless the replica has it. `sha256` is the content hash of a blob stored raw (its
 * manifest entry's): R2 then refuses a copy whose bytes do not match, so damage in the primary is
 * found here rather than replicated.
 */
export async function copyIfAbsent(deps: CopyDeps, key: string, sha256: string | null = null): Promise<CopyOutcome> {
  if (await deps.replica.head(key)) return { kind: "present" };
  const object = await deps.primary.get(key);
  if (!object) return { kind: "missing" };
  if (object.size > deps.multipartThreshold) {
    // Read by ranges instead: this body is not needed.
    await object.body.cancel();
    return copyInParts(deps, object);
  }
  const checked = sha256 !== null && !isFramedBlob(object) ? { sha256 } : {};
  try {
    await deps.replica.put(key, object.body, {
      httpMetadata: object.httpMetadata,
      customMetadata: object.customMetadata,
      ...checked,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if ("sha256" in checked && /sha-?256|checksum|digest/i.test(message)) return { kind: "damaged", detail: message };
    throw error;
  }
  return { kind: "copied", bytes: object.size };
}

/**
 * A large object, by ranges of the primary into one multipart upload, within the step, PARTS_IN_FLIGHT
 * parts at a time (each a ranged read piped into a part upload: two connections). An upload
 * interrupted by a crash is aborted or left to R2's expiry of incomplete uploads; the replayed step
 * starts the object again (its parts are not checkpointed: a replica copy is never urgent).
 */
async function copyInParts(deps: CopyDeps, head: R2Object): Promise<CopyOutcome> {
  const partSize = partSizeFor(head.size, deps.partSize);
  const upload = await deps.replica.createMultipartUpload(head.key, {
    httpMetadata: head.httpMetadata,
    customMetadata: head.customMetadata,
  });
  const spans = Array.from({ length: Math.ceil(head.size / partSize) }, (_, i) => ({
    partNumber: i + 1,
    offset: i * partSize,
    length: Math.min(partSize, head.size - i * partSize),
  }));
  try {
    const parts = await mapWithConcurrency(spans, PARTS_IN_FLIGHT, async ({ partNumber, offset, length }) => {
      const range = await deps.primary.get(head.key, { range: { offset, length } });
      if (!range) return null;
      const { uploaded, fed } = await pipePart(upload, partNumber, length, range.body);
      if (uploaded.status === "rejected") throw uploaded.reason;
      if (fed.status === "rejected") throw fed.reason;
      return uploaded.value;
    });
    // Gone from the primary between its head and a range: nothing to copy.
    if (parts.includes(null)) {
      await upload.abort();
      return { kind: "missing" };
    }
    await upload.complete(parts as R2UploadedPart[]);
  } catch (error) {
    await upload.abort().catch(() => undefined); // the error that matters is the copy's
    throw error;
  }
  return { kind: "copied", bytes: head.size };
}
