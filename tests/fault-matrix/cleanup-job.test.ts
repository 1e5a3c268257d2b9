import { describe, it } from "vitest";
import { runMatrix } from "./harness";
import { FAULT_POINTS, cleanupScenario, MATRIX_TIMEOUT, settings, summarise } from "./scenarios";

describe(`fault matrix (${settings})`, () => {
  it("cleanup: each fault point tried ends identical or failed cleanly", { timeout: MATRIX_TIMEOUT }, async () => {
    summarise(settings, "cleanup", await runMatrix(cleanupScenario(), FAULT_POINTS));
  });
});
