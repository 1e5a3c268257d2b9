/**
 * Downloads with compression and encryption on: an encrypted multipart blob (above this project's
 * 6 MiB threshold, so stored uncompressed and read by range record by record) and a compressed and
 * encrypted small one, each downloaded whole and by ranges and compared with the original bytes;
 * an altered record fails its authentication and ends the transfer, and is logged.
 */
import { describe, expect, it } from "vitest";
import { RECORD_SIZE } from "../../durable-objects/engine/format/blob-format";
import { api, apiResponse } from "../helpers/api";
import { putObjects, sha256Hex, pseudoRandom, alterEncryptedRecord } from "../helpers/buckets";
import { completedBackup } from "../helpers/flows";

const MiB = 1024 * 1024;

const FILM = pseudoRandom(13 * MiB + 321, 5);
const NOTES = new TextEncoder().encode("meeting notes, compressible ".repeat(4000));

/** Bytes compared by their SHA-256 (a deep comparison of megabytes, element by element, would take minutes). */
const digestOf = async (bytes: Uint8Array | Error) => (bytes instanceof Error ? bytes : sha256Hex(bytes));

async function download(backupId: string, key: string, range?: string) {
  const response = await apiResponse("GET", `/api/backup/object/${backupId}?key=${encodeURIComponent(key)}`, {
    headers: range ? { range } : {},
  });
  const body = await response
    .arrayBuffer()
    .then((bytes) => new Uint8Array(bytes))
    .catch((error: Error) => error);
  // Over HTTP a body short of its Content-Length is a failed transfer; in process it may just end.
  const complete = body instanceof Uint8Array && body.length === Number(response.headers.get("content-length"));
  return { status: response.status, body, complete };
}

describe("downloads of encrypted and compressed objects", () => {
  it("gives back the original bytes, whole and by ranges, across records and parts", async () => {
    await putObjects([
      { key: "media/film.mov", body: FILM, contentType: "video/quicktime" },
      { key: "docs/notes.txt", body: NOTES, contentType: "text/plain" },
    ]);
    const backup = await completedBackup();
    const whole = await download(backup.id, "media/film.mov");
    expect(whole.status).toBe(200);
    expect(await digestOf(whole.body)).toBe(await sha256Hex(FILM));
    expect(await digestOf((await download(backup.id, "docs/notes.txt")).body)).toBe(await sha256Hex(NOTES));

    for (const [start, end] of [
      [0, 0],
      [RECORD_SIZE - 10, RECORD_SIZE + 10], // across two records
      [5 * MiB - 3, 5 * MiB + 70_000], // across the first part boundary, three records
      [FILM.length - 1000, FILM.length - 1],
    ] as const) {
      const part = await download(backup.id, "media/film.mov", `bytes=${start}-${end}`);
      expect(part.status, `${start}-${end}`).toBe(206);
      expect(await digestOf(part.body), `${start}-${end}`).toBe(await sha256Hex(FILM.subarray(start, end + 1)));
    }
    const notes = await download(backup.id, "docs/notes.txt", "bytes=1000-1999");
    expect([notes.status, await digestOf(notes.body)]).toEqual([206, await sha256Hex(NOTES.subarray(1000, 2000))]);
  });

  it("ends a transfer at an altered record, serves the records around it, and logs the failure", async () => {
    await putObjects([{ key: "media/film.mov", body: FILM }]);
    const backup = await completedBackup();
    await alterEncryptedRecord(100);

    const across = await download(backup.id, "media/film.mov", `bytes=${99 * RECORD_SIZE}-${102 * RECORD_SIZE}`);
    expect([across.status, across.complete]).toEqual([206, false]);
    const whole = await download(backup.id, "media/film.mov");
    expect([whole.status, whole.complete]).toEqual([200, false]);
    const before = await download(backup.id, "media/film.mov", `bytes=0-${100 * RECORD_SIZE - 1}`);
    expect(await digestOf(before.body)).toBe(await sha256Hex(FILM.subarray(0, 100 * RECORD_SIZE)));

    const logged = (await api("GET", `/api/backup/logs/${backup.id}?level=error`)).body.logs as { message: string }[];
    expect(logged).toHaveLength(2);
    for (const line of logged)
      expect(line.message).toMatch(
        /^Download of media\/film\.mov from backup .* failed: reading the backup's copy failed/,
      );
  });
});
