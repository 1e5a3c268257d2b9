/**
 * Storing and reading the content-addressed chunks of version 2 manifests (manifest-tree.ts).
 */
import { mapWithConcurrency } from "../concurrency";
import { BlobIntegrityError, PermanentError } from "../errors";
import { sha256Hex } from "./hashing";
import type { Keyring } from "./keyring";
import { decodeBody, encodeBody, parseChunk, type ManifestCodec } from "./manifest";
import { chunkKey, nameMatches, parsePage, type ChunkRef, type NewChunk } from "./manifest-tree";
import type { TreeNodes } from "./tree-diff";

/**
 * How a backup writes its chunks: a full backup rewrites every chunk it names (so it repairs one
 * that was damaged in place); an incremental one writes only the chunks not stored yet, and
 * reuses the rest (its parent's, for what did not change) by name.
 */
export type ChunkWriteMode = "rewrite" | "if-absent";

/**
 * Chunks written at once. A step usually writes one or two, but a fan-out's join and a backup's
 * last step write several, and each is a round trip (80 ms a write in production): one after
 * another, the 9 chunks of an 8-shard join took most of a second. Their order does not matter:
 * pages written in one batch name each other's chunks, but nothing outside the step reads them
 * before it commits (the index, D1 and the checkpoint come after). Calls beyond a job object's 6
 * connections queue.
 */
const CHUNK_WRITES_IN_FLIGHT = 6;

/**
 * Stores the chunks; returns how many this backup (`writer`) stored, and their bytes. A chunk that
 * was already there counts only if this backup stored it, in an earlier attempt of the same step
 * (its metadata names the writer), so a replayed step reports the same figures as the first.
 */
export async function storeChunks(
  bucket: Pick<R2Bucket, "put" | "head">,
  codec: ManifestCodec,
  chunks: readonly NewChunk[],
  mode: ChunkWriteMode,
  writer: string,
): Promise<{ chunks: number; bytes: number }> {
  const sizes = await mapWithConcurrency(chunks, CHUNK_WRITES_IN_FLIGHT, async (chunk) => {
    const body = await encodeBody(chunk.text, codec);
    const key = chunkKey(chunk.ref.name);
    const stored = await bucket.put(key, body, {
      httpMetadata: {
        contentType:
          codec.keyring || codec.compress
            ? "application/octet-stream"
            : chunk.ref.level === 0
              ? "application/x-ndjson"
              : "application/json",
      },
      customMetadata: { level: String(chunk.ref.level), entries: String(chunk.ref.entries), writer },
      ...(mode === "if-absent" ? { onlyIf: { etagDoesNotMatch: "*" } } : {}),
    });
    // R2 answers null when the precondition failed: the chunk is already there.
    const ours =
      stored ??
      (await bucket.head(key).then((existing) => (existing?.customMetadata?.writer === writer ? existing : null)));
    return ours ? ours.size : null;
  });
  const ours = sizes.filter((size): size is number => size !== null);
  return { chunks: ours.length, bytes: ours.reduce((sum, size) => sum + size, 0) };
}

/**
 * Reads a chunk's text and its SHA-256, or null when it is missing. A chunk whose content does not
 * hash to its name is damage (BlobIntegrityError), so a reader never trusts a chunk swapped under
 * a name.
 */
export async function readChunkText(
  bucket: Pick<R2Bucket, "get">,
  keyring: Keyring | null,
  name: string,
): Promise<{ text: string; sha256: string } | null> {
  const object = await bucket.get(chunkKey(name));
  if (!object) return null;
  const text = await decodeBody(object, keyring);
  const sha256 = await sha256Hex(text);
  if (!(await nameMatches(name, sha256, keyring)))
    throw new BlobIntegrityError(`${chunkKey(name)} does not hold the content its name is the hash of`);
  return { text, sha256 };
}

/**
 * A tree's chunks as the walks (diff, path edits) read them: checked against their names, parsed.
 * A missing chunk ends the walk (PermanentError naming it): the tree it belongs to is damaged,
 * which a verification of `whose` reports in full.
 */
export function chunkNodes(bucket: Pick<R2Bucket, "get">, keyring: Keyring | null, whose: string): TreeNodes {
  const text = async (ref: ChunkRef) => {
    const chunk = await readChunkText(bucket, keyring, ref.name);
    if (!chunk) throw new PermanentError(`manifest chunk ${chunkKey(ref.name)} is missing; verify ${whose}`);
    return chunk.text;
  };
  return {
    children: async (ref) => parsePage(await text(ref), ref.level),
    entries: async (ref) => parseChunk(await text(ref)),
  };
}
