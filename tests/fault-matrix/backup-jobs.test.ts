import { describe, it } from "vitest";
import { runMatrix } from "./harness";
import { backupScenario, freshSource, MATRIX_TIMEOUT, parentThenChanges, SAMPLED, seedObjects, settings, SMALL_SCENARIO, summarise } from "./scenarios";

// The matrix is split over files (backup jobs, manifest jobs, cleanup) because each file gets
// fresh local storage: in one file, what hundreds of faulted runs leave behind made every later
// scenario several times slower.
describe(`fault matrix (${settings})`, () => {
  it("full backup: each fault point tried ends identical or failed cleanly", { timeout: MATRIX_TIMEOUT }, async () => {
    await freshSource(seedObjects());
    summarise(
      settings,
      "full backup",
      await runMatrix(
        backupScenario("full backup", "full", () => []),
        SMALL_SCENARIO,
      ),
    );
  });

  it("incremental backup: each fault point tried ends identical or failed cleanly", { timeout: MATRIX_TIMEOUT }, async () => {
    const objects = seedObjects();
    await freshSource(objects);
    const parentId = await parentThenChanges(objects);
    summarise(
      settings,
      "incremental backup",
      await runMatrix(
        backupScenario("incremental backup", "incremental", () => [parentId]),
        SMALL_SCENARIO,
      ),
    );
  });

  it("large-object backup: sampled fault points end identical or failed cleanly", { timeout: MATRIX_TIMEOUT }, async () => {
    await freshSource(seedObjects({ large: true }));
    summarise(
      settings,
      "large-object backup",
      await runMatrix(
        backupScenario("large-object backup", "full", () => []),
        SAMPLED,
      ),
    );
  });
});
