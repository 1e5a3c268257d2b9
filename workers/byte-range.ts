/**
 * The `Range` header of a download (RFC 9110 §14): one range of bytes, `bytes=a-b`, `bytes=a-` or
 * `bytes=-n` (the last n). Several ranges at once (a multipart/byteranges answer), other units and
 * text that does not parse are refused as unsatisfiable (416) with the reason, rather than
 * silently answered with the whole object: a client that asked for a part should learn it did
 * not get one.
 */

export type RangeRequest =
  | { kind: "whole" }
  /** Bytes start..end, both included, within the object. */
  | { kind: "range"; start: number; end: number }
  | { kind: "unsatisfiable"; why: string };

const ONE_RANGE = /^bytes=(\d*)-(\d*)$/;

export function parseRange(header: string | null, size: number): RangeRequest {
  if (header === null) return { kind: "whole" };
  const text = header.trim();
  if (text.includes(",")) return { kind: "unsatisfiable", why: "only one range is served at a time" };
  const match = ONE_RANGE.exec(text.replace(/\s+/g, ""));
  if (!match)
    return { kind: "unsatisfiable", why: "the Range header must be bytes=first-last, bytes=first- or bytes=-count" };
  const [first, last] = [match[1]!, match[2]!];
  if (first === "" && last === "") return { kind: "unsatisfiable", why: "bytes=- names no byte" };
  if (first === "") {
    const count = Number(last);
    if (count === 0 || size === 0)
      return { kind: "unsatisfiable", why: `the last ${count} bytes of a ${size}-byte object are none` };
    return { kind: "range", start: Math.max(0, size - count), end: size - 1 };
  }
  const start = Number(first);
  if (start >= size) return { kind: "unsatisfiable", why: `byte ${start} is past the end of a ${size}-byte object` };
  if (last === "") return { kind: "range", start, end: size - 1 };
  const end = Number(last);
  if (end < start) return { kind: "unsatisfiable", why: `the range ends (${end}) before it starts (${start})` };
  return { kind: "range", start, end: Math.min(end, size - 1) };
}
