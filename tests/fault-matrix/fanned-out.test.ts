import { describe, it } from "vitest";
import { completedBackup } from "../helpers/flows";
import { runMatrix } from "./harness";
import {
  FAULT_POINTS,
  fannedOutRestoreScenario,
  fannedOutScenario,
  freshSource,
  MATRIX_TIMEOUT,
  seedObjects,
  settings,
  summarise,
} from "./scenarios";

// A file of its own: each faulted run of a fanned-out backup leaves a parent and two shard objects
// behind, and in the same file as the large-object scenario those hundreds of objects made every
// later run twice as slow (and CI's run half an hour).
describe(`fault matrix (${settings})`, () => {
  it(
    "fanned-out full backup, a fault in a shard mid-range and in the parent while its shards run: identical or failed cleanly",
    { timeout: MATRIX_TIMEOUT },
    async () => {
      await freshSource(seedObjects());
      for (const [name, faulted] of [
        ["fanned-out backup, shard 2 faulted", 1],
        ["fanned-out backup, parent faulted", "parent"],
      ] as const)
        summarise(settings, name, await runMatrix(fannedOutScenario(name, faulted), FAULT_POINTS));
    },
  );

  it(
    "restore fanned out within one leaf, a fault in a shard mid-range and in the parent while its shards run: identical or failed cleanly",
    { timeout: MATRIX_TIMEOUT },
    async () => {
      await freshSource(seedObjects());
      const backup = await completedBackup("full");
      for (const [name, faulted] of [
        ["fanned-out restore, shard 2 faulted", 1],
        ["fanned-out restore, parent faulted", "parent"],
      ] as const)
        summarise(
          settings,
          name,
          await runMatrix(
            fannedOutRestoreScenario(name, faulted, () => backup.id),
            FAULT_POINTS,
          ),
        );
    },
  );
});
