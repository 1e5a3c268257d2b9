/**
 * R2's rule for object keys, in one place: at most 1,024 bytes of UTF-8 (not characters: a key of
 * 1,000 characters can be 2,000 bytes, and R2 refuses it, error 10020). Every key that enters the
 * system (change events, development writes, restore targets, template prefixes) is checked
 * against it.
 */
export const MAX_KEY_BYTES = 1024;

export const utf8Length = (text: string) => new TextEncoder().encode(text).length;

/** Why R2 could never hold `key` (null when it could). */
export function keyProblem(key: string): string | null {
  if (key.length === 0) return "the key is empty";
  const bytes = utf8Length(key);
  return bytes > MAX_KEY_BYTES ? `the key is ${bytes} bytes in UTF-8; R2 allows ${MAX_KEY_BYTES}` : null;
}

/** R2's answer to a key it can never hold ("The specified object name is not valid", 10020). */
export function isInvalidKeyError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /object name is not valid|\(10020\)/i.test(message);
}
