/**
 * The headers of a downloaded object: its stored HTTP metadata, its custom metadata as
 * `x-amz-meta-<name>` (as S3 and R2's S3 API answer), its SHA-256 as a strong ETag.
 *
 * Two stored fields are not served as stored: Content-Disposition is always `attachment` with the
 * key's file name (a backed-up HTML page must never render inside the API's origin), and
 * Cache-Control is `private, no-store` (the answer goes to an authenticated caller; a stored
 * `public` would let a shared cache keep it for others). Both stored values are kept in
 * `x-r2-backup-stored-content-disposition` and `x-r2-backup-stored-cache-control`.
 */
import type { SnapshotEntry } from "../../durable-objects/engine/snapshot-reader";

/** RFC 9110 token characters: what a header name may hold. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Printable ASCII without leading or trailing blanks: sent as it is. */
const PLAIN_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;

export function objectHeaders(entry: SnapshotEntry): Headers {
  const stored = entry.httpMetadata;
  const headers = new Headers({
    "content-type": stored.contentType ?? "application/octet-stream",
    "content-length": String(entry.size),
    etag: `"${entry.sha256}"`,
    "last-modified": new Date(entry.lastModified).toUTCString(),
    "accept-ranges": "bytes",
    "content-disposition": `attachment; filename*=UTF-8''${rfc5987(fileName(entry.key))}`,
    "cache-control": "private, no-store",
    "x-content-type-options": "nosniff",
    // Content shown by a browser anyway (a direct link) runs no script with the API's origin.
    "content-security-policy": "sandbox",
  });
  if (stored.contentLanguage) headers.set("content-language", stored.contentLanguage);
  if (stored.contentEncoding) headers.set("content-encoding", stored.contentEncoding);
  if (stored.cacheExpiry) headers.set("expires", new Date(stored.cacheExpiry).toUTCString());
  if (stored.contentDisposition)
    headers.set("x-r2-backup-stored-content-disposition", headerValue(stored.contentDisposition));
  if (stored.cacheControl) headers.set("x-r2-backup-stored-cache-control", headerValue(stored.cacheControl));
  let unnamed = 0;
  for (const [name, value] of Object.entries(entry.customMetadata)) {
    if (TOKEN.test(name)) headers.set(`x-amz-meta-${name.toLowerCase()}`, headerValue(value));
    else unnamed++;
  }
  // As S3 does: the number of metadata entries whose names cannot be headers.
  if (unnamed) headers.set("x-amz-missing-meta", String(unnamed));
  return headers;
}

/** The key's last segment: what a browser names the saved file. */
export function fileName(key: string): string {
  const segment = key.split("/").filter(Boolean).at(-1);
  return segment ?? "download";
}

/** RFC 5987 ext-value characters: everything outside attr-char percent-encoded. */
function rfc5987(text: string): string {
  return encodeURIComponent(text).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A value a header can carry: as it is when plain ASCII, else RFC 2047 encoded (as S3 does). */
function headerValue(value: string): string {
  if (PLAIN_VALUE.test(value)) return value;
  const bytes = new TextEncoder().encode(value);
  return `=?UTF-8?B?${btoa(String.fromCharCode(...bytes))}?=`;
}
