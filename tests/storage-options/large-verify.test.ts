/**
 * A full verification of an object larger than a step's byte budget (6 MiB here) hashes it across
 * steps by content ranges, its hash state checkpointed (an eviction between steps loses nothing),
 * so no step reads more than the budget; an altered record in the middle is still found. Before
 * the large-entry path, one step read the whole object, whatever its size.
 */
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { pseudoRandom, putObjects, alterEncryptedRecord } from "../helpers/buckets";
import { completedBackup } from "../helpers/flows";
import { verifyHashedBySteps } from "../helpers/jobs";

const MiB = 1024 * 1024;
const FILM = pseudoRandom(13 * MiB + 321, 11);

async function verifyInSteps(backupId: string) {
  const started = await api("POST", `/api/backup/verify/${backupId}`, { body: { mode: "full" } });
  expect(started.status).toBe(202);
  const hashed = await verifyHashedBySteps(started.body.job.id);
  const job = (await api("GET", `/api/backup/jobs/${started.body.job.id}`)).body.job;
  return { hashed, job };
}

describe("verifying an object larger than a step's budget", () => {
  it("hashes it over several steps, resuming after evictions, and finds it sound", async () => {
    await putObjects([
      { key: "media/film.mov", body: FILM },
      { key: "notes.txt", body: "small" },
    ]);
    const backup = await completedBackup();
    const { hashed, job } = await verifyInSteps(backup.id);
    expect(hashed.filter((h) => h !== null)).toEqual([6 * MiB, 12 * MiB]);
    expect(job.result).toMatchObject({ valid: true, filesChecked: 2, problemCount: 0 });
  });

  it("finds an altered record in the middle of it", async () => {
    await putObjects([{ key: "media/film.mov", body: FILM }]);
    const backup = await completedBackup();
    await alterEncryptedRecord(150);

    const { hashed, job } = await verifyInSteps(backup.id);
    expect(hashed.filter((h) => h !== null)).toEqual([6 * MiB]); // found in the second range
    expect(job.result).toMatchObject({ valid: false, filesChecked: 1, checksumMismatches: 1 });
    const problems = (await api("GET", `/api/backup/jobs/${job.id}`)).body.job.result.problems;
    expect(problems).toEqual([
      expect.objectContaining({
        path: "media/film.mov",
        problem: "corrupt_blob",
        actual: expect.stringContaining("record 150"),
      }),
    ]);
  });
});
