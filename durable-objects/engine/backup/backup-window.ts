/**
 * Where one backup step stops: before the first object above the multipart threshold (it is
 * handed to the large-object phase, which spans steps), or when the objects to read would exceed
 * the step's byte budget. At least one object is always taken, so every step progresses; entries
 * that need no read (unchanged, deleted) cost nothing.
 */
import type { BackupEngineSettings } from "./backup-deps";
import type { MergeAction } from "./listing-merge";

/** Where to stop this step's window: before a large object, or when the byte budget is spent. */
export function cutWindow(
  actions: readonly MergeAction[],
  sizes: ReadonlyMap<string, number>,
  settings: Pick<BackupEngineSettings, "stepByteBudget"> & {
    storage: Pick<BackupEngineSettings["storage"], "multipartThreshold">;
  },
): { at: number; large: MergeAction | null } {
  let bytes = 0;
  for (const [i, action] of actions.entries()) {
    if (action.kind !== "new" && action.kind !== "modified") continue;
    const size = sizes.get(action.key) ?? 0;
    if (size > settings.storage.multipartThreshold) return { at: i, large: action };
    if (bytes + size > settings.stepByteBudget && bytes > 0) return { at: i, large: null };
    bytes += size;
  }
  return { at: actions.length, large: null };
}
