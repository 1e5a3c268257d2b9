/**
 * The framed blob format (v2), used when compression or encryption is enabled; a blob stored with
 * neither is the object's raw bytes. docs/storage-format.md describes it for recovery by hand.
 *
 *   header (22 bytes): "R2BKBLOB" | version u8 (2) | flags u8 (1 gzip, 2 aes-256-gcm)
 *                      | record size u32 BE | key id (8 bytes, zero when not encrypted)
 *   body, not encrypted: the gzip stream of the content
 *   body, encrypted:     records; record i = length u32 BE | nonce (12) | AES-GCM ciphertext + tag,
 *                        encrypting the i-th `record size` bytes of the (compressed) content, with
 *                        associated data header | i (u64 BE) | final (u8), so that reordered,
 *                        dropped, truncated or altered records fail authentication.
 *
 * A record's nonce (v2) is HMAC(nonce key, associated data | plaintext) cut to 12 bytes: derived
 * from everything the record authenticates, so two records that differ in anything (content,
 * position, finality, or header: compression flag, key id, version) never share a nonce under
 * one key, while the same record always encrypts to the same bytes (a replayed step rewrites
 * identical data, and any byte range of a large blob can be produced again from the source).
 * v1 derived it from i | final | plaintext only, so a gzip-framed F and a raw-framed F.gz = gzip(F)
 * produced records with equal nonces and different associated data; v1 blobs are still read
 * (the nonce is stored in each record, so decryption does not depend on how it was derived).
 */
import { Cooperative } from "../cooperative";
import { BlobIntegrityError } from "../errors";
import { toHex } from "./hashing";
import { joinBytes } from "./bytes";

export { joinBytes };
import type { EncryptionKey, Keyring } from "./keyring";

export const BLOB_MAGIC = "R2BKBLOB";
export const BLOB_VERSION = 2;
/** Versions this code reads: v1 (nonce without the header) and v2. */
export const READABLE_BLOB_VERSIONS: readonly number[] = [1, 2];
export const FLAG_GZIP = 1;
export const FLAG_AES_GCM = 2;
export const HEADER_SIZE = 22;
export const RECORD_SIZE = 64 * 1024;
/** Length prefix, nonce and tag around each record's ciphertext. */
export const RECORD_OVERHEAD = 4 + 12 + 16;

export interface BlobHeader {
  compressed: boolean;
  encrypted: boolean;
  recordSize: number;
  keyId: string | null;
}

export function encodeHeader(header: BlobHeader): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE);
  bytes.set(new TextEncoder().encode(BLOB_MAGIC), 0);
  bytes[8] = BLOB_VERSION;
  bytes[9] = (header.compressed ? FLAG_GZIP : 0) | (header.encrypted ? FLAG_AES_GCM : 0);
  new DataView(bytes.buffer).setUint32(10, header.recordSize);
  if (header.keyId) for (let i = 0; i < 8; i++) bytes[14 + i] = parseInt(header.keyId.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

export function decodeHeader(bytes: Uint8Array): BlobHeader {
  if (bytes.length < HEADER_SIZE || new TextDecoder().decode(bytes.subarray(0, 8)) !== BLOB_MAGIC) {
    throw new BlobIntegrityError("not a framed backup blob (bad magic)");
  }
  if (!READABLE_BLOB_VERSIONS.includes(bytes[8]!))
    throw new BlobIntegrityError(
      `unsupported blob format version ${bytes[8]} (this version reads ${READABLE_BLOB_VERSIONS.join(" and ")})`,
    );
  const flags = bytes[9]!;
  const encrypted = (flags & FLAG_AES_GCM) !== 0;
  const recordSize = new DataView(bytes.buffer, bytes.byteOffset).getUint32(10);
  if (encrypted && (recordSize === 0 || recordSize > 16 * 1024 * 1024))
    throw new BlobIntegrityError(`implausible record size ${recordSize}`);
  const keyId = encrypted ? toHex(bytes.subarray(14, 22)) : null;
  return { compressed: (flags & FLAG_GZIP) !== 0, encrypted, recordSize, keyId };
}

function recordAad(header: Uint8Array, index: number, final: boolean): Uint8Array {
  const aad = new Uint8Array(header.length + 9);
  aad.set(header, 0);
  new DataView(aad.buffer).setBigUint64(header.length, BigInt(index));
  aad[header.length + 8] = final ? 1 : 0;
  return aad;
}

export async function sealRecord(
  key: EncryptionKey,
  header: Uint8Array,
  index: number,
  final: boolean,
  plaintext: Uint8Array,
): Promise<Uint8Array> {
  const aad = recordAad(header, index, final);
  const nonceInput = new Uint8Array(aad.length + plaintext.length);
  nonceInput.set(aad, 0);
  nonceInput.set(plaintext, aad.length);
  const nonce = new Uint8Array(await crypto.subtle.sign("HMAC", key.nonce, nonceInput)).subarray(0, 12);
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, key.aes, plaintext),
  );
  const record = new Uint8Array(4 + 12 + ciphertext.length);
  new DataView(record.buffer).setUint32(0, 12 + ciphertext.length);
  record.set(nonce, 4);
  record.set(ciphertext, 16);
  return record;
}

/** Splits a byte stream into `size`-byte pieces, holding back the last one to mark it final. */
function recordSealer(key: EncryptionKey, header: Uint8Array): TransformStream<Uint8Array, Uint8Array> {
  let held: Uint8Array = new Uint8Array(0);
  let index = 0;
  const cooperative = new Cooperative();
  return new TransformStream({
    async transform(chunk, controller) {
      const joined = new Uint8Array(held.length + chunk.length);
      joined.set(held, 0);
      joined.set(chunk, held.length);
      let offset = 0;
      // Seal only when more data follows, so the last record is known to be final at flush.
      while (joined.length - offset > RECORD_SIZE) {
        controller.enqueue(
          await sealRecord(key, header, index++, false, joined.subarray(offset, offset + RECORD_SIZE)),
        );
        offset += RECORD_SIZE;
        await cooperative.handled(RECORD_SIZE);
      }
      held = joined.slice(offset);
    },
    async flush(controller) {
      controller.enqueue(await sealRecord(key, header, index, true, held));
    },
  });
}

export interface FramingOptions {
  compress: boolean;
  key: EncryptionKey | null;
}

export const isFramed = (options: FramingOptions) => options.compress || options.key !== null;

export function headerFor(options: FramingOptions): Uint8Array {
  return encodeHeader({
    compressed: options.compress,
    encrypted: options.key !== null,
    recordSize: RECORD_SIZE,
    keyId: options.key?.id ?? null,
  });
}

/** The framed form of a content stream (header, then gzip and/or encrypted records). */
export function frameStream(content: ReadableStream<Uint8Array>, options: FramingOptions): ReadableStream<Uint8Array> {
  const header = headerFor(options);
  let body = content;
  if (options.compress) body = body.pipeThrough(new CompressionStream("gzip"));
  if (options.key) body = body.pipeThrough(recordSealer(options.key, header));
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      start(controller) {
        controller.enqueue(header);
      },
    }),
  );
}

/** Reads a framed blob's header, then returns the decrypted and decompressed content stream. */
export async function unframeStream(
  stored: ReadableStream<Uint8Array>,
  keyring: Keyring | null,
): Promise<ReadableStream<Uint8Array>> {
  const reader = stored.getReader();
  let pending: Uint8Array = new Uint8Array(0);
  while (pending.length < HEADER_SIZE) {
    const { done, value } = await reader.read();
    if (done) throw new BlobIntegrityError("blob is shorter than its header");
    pending = concat(pending, value);
  }
  const headerBytes = pending.slice(0, HEADER_SIZE);
  const header = decodeHeader(headerBytes);
  const leftover = pending.slice(HEADER_SIZE);
  let body: ReadableStream<Uint8Array> = new ReadableStream<Uint8Array>({
    start(controller) {
      if (leftover.length) controller.enqueue(leftover);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  if (header.encrypted) {
    const key = keyring?.byId.get(header.keyId!);
    if (!key) {
      await reader.cancel();
      throw new BlobIntegrityError(
        `blob is encrypted with key ${header.keyId}, which is not configured (BACKUP_ENCRYPTION_KEY or BACKUP_ENCRYPTION_KEYS)`,
      );
    }
    body = body.pipeThrough(recordOpener(key, headerBytes, header.recordSize));
  }
  if (header.compressed) body = body.pipeThrough(new DecompressionStream("gzip"));
  return body;
}

/**
 * Decrypts records. A whole blob starts at record 0 and must end with the final record; a range of
 * records (`firstIndex`, `wholeBlob` false) is read from the middle of a blob, for large restores.
 */
function recordOpener(
  key: EncryptionKey,
  header: Uint8Array,
  recordSize: number,
  firstIndex = 0,
  wholeBlob = true,
): TransformStream<Uint8Array, Uint8Array> {
  let buffer: Uint8Array = new Uint8Array(0);
  let index = firstIndex;
  let finished = false;
  const cooperative = new Cooperative();
  return new TransformStream({
    async transform(chunk, controller) {
      buffer = concat(buffer, chunk);
      for (;;) {
        if (buffer.length < 4) return;
        const length = new DataView(buffer.buffer, buffer.byteOffset).getUint32(0);
        if (length < 28 || length > recordSize + 28)
          throw new BlobIntegrityError(`record ${index} has an implausible length ${length}`);
        if (buffer.length < 4 + length) return;
        if (finished) throw new BlobIntegrityError("data follows the final record");
        const nonce = buffer.subarray(4, 16);
        const ciphertext = buffer.subarray(16, 4 + length);
        const plaintext = await openRecord(key, header, index, nonce, ciphertext);
        controller.enqueue(plaintext.plaintext);
        finished = plaintext.final;
        index++;
        buffer = buffer.slice(4 + length);
        await cooperative.handled(length);
      }
    },
    flush() {
      if (buffer.length > 0) throw new BlobIntegrityError(`blob ends inside record ${index}`);
      if (wholeBlob && !finished)
        throw new BlobIntegrityError(`blob is truncated: record ${index - 1} is not the final one`);
    },
  });
}

/** The final flag is not stored: a record authenticates as final or as not final, never both. */
async function openRecord(
  key: EncryptionKey,
  header: Uint8Array,
  index: number,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
) {
  for (const final of [false, true]) {
    try {
      const plaintext = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: nonce, additionalData: recordAad(header, index, final) },
        key.aes,
        ciphertext,
      );
      return { plaintext: new Uint8Array(plaintext), final };
    } catch {
      // Authentication failed under this flag; try the other, then report.
    }
  }
  throw new BlobIntegrityError(`record ${index} failed authentication (altered, reordered or wrong key)`);
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Passes bytes [skip, skip + length) of a stream through, and drops the rest. */
/** Keeps `length` bytes after the first `skip` of a sequence of chunks, chunk by chunk. */
function windowOf(skip: number, length: number): (chunk: Uint8Array) => Uint8Array {
  let toSkip = skip;
  let remaining = length;
  return (chunk) => {
    const dropped = Math.min(toSkip, chunk.length);
    toSkip -= dropped;
    const kept = chunk.subarray(dropped, dropped + Math.min(remaining, chunk.length - dropped));
    remaining -= kept.length;
    return kept;
  };
}

export function byteWindow(skip: number, length: number): TransformStream<Uint8Array, Uint8Array> {
  const window = windowOf(skip, length);
  return new TransformStream({
    transform(chunk, controller) {
      const kept = window(chunk);
      if (kept.length) controller.enqueue(kept);
    },
  });
}

/** Stored size of an encrypted, uncompressed blob of `size` content bytes. */
export function encryptedSize(size: number): number {
  const records = Math.max(1, Math.ceil(size / RECORD_SIZE));
  return HEADER_SIZE + size + records * RECORD_OVERHEAD;
}

/**
 * Bytes [start, end) of the encrypted, uncompressed framing of a `size`-byte content, as a stream
 * produced from the content range they cover (`readContent` streams it). Memory stays at about one
 * record whatever the range, so a part of any size can be uploaded, and a large blob can be
 * uploaded part by part across steps with no state but the part number.
 */
export function encryptedRange(
  key: EncryptionKey,
  size: number,
  start: number,
  end: number,
  readContent: (offset: number, length: number) => Promise<ReadableStream<Uint8Array>>,
): ReadableStream<Uint8Array> {
  const header = headerFor({ compress: false, key });
  const records = Math.max(1, Math.ceil(size / RECORD_SIZE));
  const slot = RECORD_SIZE + RECORD_OVERHEAD;
  const first = Math.max(0, Math.floor((start - HEADER_SIZE) / slot));
  const last = Math.min(records - 1, Math.max(0, Math.floor((end - 1 - HEADER_SIZE) / slot)));
  const contentStart = first * RECORD_SIZE;
  const contentLength = Math.min(size, (last + 1) * RECORD_SIZE) - contentStart;
  // Output begins at the header (when the range includes it) or at record `first`.
  const regionStart = start < HEADER_SIZE ? 0 : HEADER_SIZE + first * slot;
  let index = first;
  let pending: Uint8Array = new Uint8Array(0);
  let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;

  const finish = async (controller: ReadableStreamDefaultController<Uint8Array>) => {
    await reader?.cancel();
    controller.close();
  };

  const window = windowOf(start - regionStart, end - start);
  const emit = (controller: ReadableStreamDefaultController<Uint8Array>, chunk: Uint8Array) => {
    const kept = window(chunk);
    if (kept.length) controller.enqueue(kept);
  };
  const cooperative = new Cooperative();
  // One record per call: complete when RECORD_SIZE bytes (or the content's end) have arrived.
  const pullRecord = async (controller: ReadableStreamDefaultController<Uint8Array>) => {
    if (index > last || HEADER_SIZE + index * slot >= end) return finish(controller);
    reader ??= (await readContent(contentStart, contentLength)).getReader();
    const recordLength = Math.min(RECORD_SIZE, size - index * RECORD_SIZE);
    while (pending.length < recordLength) {
      const { done, value } = await reader.read();
      if (done) break;
      pending = concat(pending, value);
    }
    if (pending.length < recordLength)
      throw new Error(`content ended early: record ${index} needs ${recordLength} bytes`);
    emit(controller, await sealRecord(key, header, index, index === records - 1, pending.subarray(0, recordLength)));
    pending = pending.slice(recordLength);
    index++;
    await cooperative.handled(recordLength);
    if (index > last) await finish(controller);
  };
  // The window is cut inside this stream, not by a pipe behind it: a pipe's own promise would
  // be left rejected, unobserved, when the consumer cancels while a read is failing.
  const region = new ReadableStream<Uint8Array>({
    start(controller) {
      if (start < HEADER_SIZE) emit(controller, header);
    },
    pull: pullRecord,
  });

  return region;
}

/** Where the records holding content bytes [start, end) lie in an encrypted, uncompressed blob. */
export function recordSpan(size: number, start: number, end: number) {
  const slot = RECORD_SIZE + RECORD_OVERHEAD;
  const first = Math.floor(start / RECORD_SIZE);
  const last = Math.max(first, Math.floor((end - 1) / RECORD_SIZE));
  const storedEnd = Math.min(HEADER_SIZE + (last + 1) * slot, encryptedSize(size));
  return { first, last, storedStart: HEADER_SIZE + first * slot, storedEnd, contentStart: first * RECORD_SIZE };
}

/**
 * Content bytes [start, end) of an encrypted, uncompressed blob, decrypted from the stored range
 * that holds them (`readStored` streams it; `headerBytes` are the blob's first HEADER_SIZE bytes).
 */
export function decryptedRange(
  key: EncryptionKey,
  headerBytes: Uint8Array,
  size: number,
  start: number,
  end: number,
  stored: ReadableStream<Uint8Array>,
): ReadableStream<Uint8Array> {
  const span = recordSpan(size, start, end);
  return stored
    .pipeThrough(recordOpener(key, headerBytes, RECORD_SIZE, span.first, false))
    .pipeThrough(byteWindow(start - span.contentStart, end - start));
}
