import { describe, it } from "vitest";
import { completedBackup } from "../helpers/flows";
import { runMatrix } from "./harness";
import { freshSource, MATRIX_TIMEOUT, restoreScenario, SAMPLED, seedObjects, settings, SMALL_SCENARIO, summarise, verifyScenario } from "./scenarios";

describe(`fault matrix (${settings})`, () => {
  it("verify and restore: each fault point tried ends identical or failed cleanly", { timeout: MATRIX_TIMEOUT }, async () => {
    await freshSource(seedObjects());
    const backup = await completedBackup("full");
    summarise(
      settings,
      "full verify",
      await runMatrix(
        verifyScenario(() => backup.id),
        SMALL_SCENARIO,
      ),
    );
    summarise(
      settings,
      "restore",
      await runMatrix(
        restoreScenario("restore", () => backup.id),
        SAMPLED,
      ),
    );
  });

  it("large restore: sampled fault points end identical or failed cleanly", { timeout: MATRIX_TIMEOUT }, async () => {
    await freshSource(seedObjects({ large: true }));
    const backup = await completedBackup("full");
    summarise(
      settings,
      "large restore",
      await runMatrix(
        restoreScenario("large restore", () => backup.id),
        SAMPLED,
      ),
    );
  });
});
