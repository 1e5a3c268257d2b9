/**
 * The engine's error classes and the one rule for what a failure message says. Errors cross
 * stream transforms and RPC boundaries, where custom classes do not survive, so each class also
 * has a check that recognises it by name or message.
 */

/** A stored blob or manifest object is damaged (bad framing, failed authentication, bad gzip). */
export class BlobIntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BlobIntegrityError";
  }
}

/**
 * Whether an error means a stored blob is damaged. Errors thrown inside a stream transform reach
 * the reader as plain Errors carrying the original name in their message, so the class alone is
 * not enough; a gzip stream that fails to decompress is damage too.
 */
export function isBlobIntegrityError(error: unknown): error is Error {
  if (error instanceof BlobIntegrityError) return true;
  if (!(error instanceof Error)) return false;
  return (
    error.name === "BlobIntegrityError" ||
    error.message.startsWith("BlobIntegrityError:") ||
    /decompression failed|incorrect header check|invalid (block|stored|distance)|unexpected end of (file|stream)/i.test(
      error.message,
    )
  );
}

/** Raised while reading the source bucket, as opposed to writing the backup bucket. */
export class SourceReadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SourceReadError";
  }
}

/** Recognised by name or message too: a source read error raised inside a pipe loses its class. */
export function isSourceReadError(error: unknown): error is Error {
  return (
    error instanceof SourceReadError ||
    (error instanceof Error && (error.name === "SourceReadError" || error.message.startsWith("SourceReadError:")))
  );
}

/** Runs a source read, labelling any failure as a SourceReadError that says what was read. */
export async function readSource<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof SourceReadError || isVersionChanged(error)) throw error;
    throw new SourceReadError(`${what}: ${errorMessage(error)}`, { cause: error });
  }
}

const VERSION_CHANGED = "SourceVersionChanged";

/** The source object changed (or vanished) between two reads of one capture. */
export class SourceVersionChanged extends Error {
  constructor(key: string) {
    super(`${VERSION_CHANGED}: ${key} changed while it was being read`);
    this.name = VERSION_CHANGED;
  }
}

/** Recognised by name or message too: inside a stream pipe the class is lost. */
export function isVersionChanged(error: unknown): boolean {
  return error instanceof Error && (error.name === VERSION_CHANGED || error.message.includes(`${VERSION_CHANGED}:`));
}

/**
 * An error that no retry can cure (a manifest of an unknown format, a kept backup whose manifest
 * is gone): the operation is not retried and a job step fails its job at once.
 */
export class PermanentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PermanentError";
  }
}

/** Whether retrying may succeed: everything but a PermanentError (recognised by name across RPC). */
export function isRetryable(error: unknown): boolean {
  return !(error instanceof PermanentError || (error instanceof Error && error.name === "PermanentError"));
}

/**
 * The text recorded for a failure: the error's message, else its name, else what it is. A failed
 * job or backup never shows an empty error.
 */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message.trim() || error.name || "unknown error";
  const text = String(error).trim();
  return text && text !== "undefined" && text !== "null" ? text : "unknown error (no message)";
}
