// `r2-backup get`: one object from a backup, streamed to a file (or stdout), and checked here too:
// the server holds back a wrong copy's last bytes and ends the transfer short, and the client
// compares the bytes it received with the ETag (the content's SHA-256) and Content-Length before
// it puts the file in place. A file is written as <file>.partial and renamed only once it checks
// out, so a failed download never leaves a complete-looking file behind.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CliError, EXIT, query } from "./client.mjs";

/** The file a key is saved to by default: its last path segment. */
export const fileNameOf = (key) => key.split("/").filter(Boolean).at(-1) ?? "download";

/** Downloads `key` of backup `id` to `output` ("-": stdout); returns what was written. */
export async function downloadObject(client, id, key, output) {
  const response = await client.download(`/backup/object/${encodeURIComponent(id)}${query({ key })}`);
  const expectedSha256 = response.headers.get("etag")?.replace(/^"|"$/g, "") ?? null;
  const expectedSize = Number(response.headers.get("content-length"));
  const hash = createHash("sha256");
  let size = 0;
  const counted = new Transform({
    transform(chunk, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  const toStdout = output === "-";
  const target = toStdout ? process.stdout : createWriteStream(`${output}.partial`);
  try {
    await pipeline(Readable.fromWeb(response.body), counted, target, { end: !toStdout });
  } catch (error) {
    if (!toStdout) await rm(`${output}.partial`, { force: true });
    throw new CliError(
      EXIT.serverError,
      `the download of ${key} broke off after ${size} of ${expectedSize} bytes (${error.cause?.message ?? error.message}); the server logs why (r2-backup logs ${id} --level error)`,
    );
  }
  const sha256 = hash.digest("hex");
  if (size !== expectedSize || (expectedSha256 && sha256 !== expectedSha256)) {
    if (!toStdout) await rm(`${output}.partial`, { force: true });
    throw new CliError(
      EXIT.serverError,
      `the download of ${key} did not check out: ${size} bytes with SHA-256 ${sha256}, expected ${expectedSize} bytes with ${expectedSha256}`,
    );
  }
  if (!toStdout) await rename(`${output}.partial`, output);
  return { key, file: toStdout ? null : output, size, sha256, contentType: response.headers.get("content-type") };
}
