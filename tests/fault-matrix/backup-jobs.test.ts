import { describe, it } from "vitest";
import { runMatrix } from "./harness";
import {
  FAULT_POINTS,
  backupScenario,
  freshSource,
  writeFirstBackupScenario,
  MATRIX_TIMEOUT,
  parentThenChanges,
  seedObjects,
  settings,
  summarise,
} from "./scenarios";

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
        FAULT_POINTS,
      ),
    );
  });

  it(
    "full backup writing first: each fault point tried ends identical or failed cleanly",
    { timeout: MATRIX_TIMEOUT },
    async () => {
      await freshSource(seedObjects());
      summarise(settings, "full backup writing first", await runMatrix(writeFirstBackupScenario(), FAULT_POINTS));
    },
  );

  it(
    "incremental backup: each fault point tried ends identical or failed cleanly",
    { timeout: MATRIX_TIMEOUT },
    async () => {
      const objects = seedObjects();
      await freshSource(objects);
      const parentId = await parentThenChanges(objects);
      summarise(
        settings,
        "incremental backup",
        await runMatrix(
          backupScenario("incremental backup", "incremental", () => [parentId]),
          FAULT_POINTS,
        ),
      );
    },
  );

  it(
    "large-object backup: each fault point tried ends identical or failed cleanly",
    { timeout: MATRIX_TIMEOUT },
    async () => {
      await freshSource(seedObjects({ large: true }));
      summarise(
        settings,
        "large-object backup",
        await runMatrix(
          backupScenario("large-object backup", "full", () => []),
          FAULT_POINTS,
        ),
      );
    },
  );
});
