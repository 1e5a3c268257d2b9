import { describe, it } from "vitest";
import { runMatrix } from "./harness";
import { cleanupScenario, MATRIX_TIMEOUT, SAMPLED, settings, summarise } from "./scenarios";

describe(`fault matrix (${settings})`, () => {
  it("cleanup: sampled fault points end identical or failed cleanly", { timeout: MATRIX_TIMEOUT }, async () => {
    summarise(settings, "cleanup", await runMatrix(cleanupScenario(), SAMPLED));
  });
});
