import { env } from "cloudflare:test";
import { describe, it } from "vitest";
import { completedBackup } from "../helpers/flows";
import { runMatrix } from "./harness";
import { backupScenario, cleanupScenario, freshSource, parentThenChanges, restoreScenario, seedObjects, summarise, verifyScenario } from "./scenarios";

// Which storage settings this project runs with (the matrix runs in two vitest projects).
const settings = (env.BACKUP_ENCRYPTION_ENABLED as string) === "true" ? "compressed+encrypted" : "plain";
const MATRIX_TIMEOUT = 240_000;

describe(`fault matrix (${settings})`, () => {
  it("full backup: every fault point ends identical or failed cleanly", { timeout: MATRIX_TIMEOUT }, async () => {
    await freshSource(seedObjects());
    summarise(settings, "full backup", await runMatrix(backupScenario("full backup", "full", () => [])));
  });

  it("incremental backup: every fault point ends identical or failed cleanly", { timeout: MATRIX_TIMEOUT }, async () => {
    const objects = seedObjects();
    await freshSource(objects);
    const parentId = await parentThenChanges(objects);
    summarise(settings, "incremental backup", await runMatrix(backupScenario("incremental backup", "incremental", () => [parentId])));
  });

  it("large-object backup: sampled fault points end identical or failed cleanly", { timeout: MATRIX_TIMEOUT }, async () => {
    await freshSource(seedObjects({ large: true }));
    summarise(
      settings,
      "large-object backup",
      await runMatrix(
        backupScenario("large-object backup", "full", () => []),
        { maxPoints: 24 },
      ),
    );
  });

  it("verify and restore: every fault point ends identical or failed cleanly", { timeout: MATRIX_TIMEOUT }, async () => {
    await freshSource(seedObjects());
    const backup = await completedBackup("full");
    summarise(settings, "full verify", await runMatrix(verifyScenario(() => backup.id)));
    summarise(
      settings,
      "restore",
      await runMatrix(
        restoreScenario("restore", () => backup.id),
        { maxPoints: 24 },
      ),
    );
  });

  it("cleanup: sampled fault points end identical or failed cleanly", { timeout: MATRIX_TIMEOUT }, async () => {
    summarise(settings, "cleanup", await runMatrix(cleanupScenario(), { maxPoints: 24 }));
  });

  it("large restore: sampled fault points end identical or failed cleanly", { timeout: MATRIX_TIMEOUT }, async () => {
    await freshSource(seedObjects({ large: true }));
    const backup = await completedBackup("full");
    summarise(
      settings,
      "large restore",
      await runMatrix(
        restoreScenario("large restore", () => backup.id),
        { maxPoints: 24 },
      ),
    );
  });
});
