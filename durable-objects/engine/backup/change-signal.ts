/**
 * What a backup measures for the mass-change alert (engine/monitor/mass-change.ts): keys whose
 * content changed from the parent's, how many objects of new content were sampled and how many of
 * those did not compress (format/incompressibility.ts), and the top-level prefixes the
 * modifications and deletions fell under. Kept in the checkpoint's counters, so a replayed step
 * counts nothing twice, and summed over a fanned-out backup's shards.
 */
export interface ChangeSignal {
  modified: number;
  sampled: number;
  incompressible: number;
  /** Modified and deleted keys per top-level prefix (`reports/`; `` for keys without a slash). */
  prefixes: Record<string, number>;
}

/** Distinct prefixes counted at most; later ones add to OTHER_PREFIXES, so the state stays small. */
const MAX_PREFIXES = 50;
export const OTHER_PREFIXES = "(other prefixes)";

export const NO_CHANGES: ChangeSignal = { modified: 0, sampled: 0, incompressible: 0, prefixes: {} };

/** The key's top-level prefix: up to and including its first slash, or `` at the top. */
export function topPrefix(key: string): string {
  const slash = key.indexOf("/");
  return slash < 0 ? "" : key.slice(0, slash + 1);
}

/** A key whose content changed or that was deleted. */
export function countChange(signal: ChangeSignal, key: string, kind: "modified" | "deleted"): ChangeSignal {
  return {
    ...signal,
    modified: signal.modified + (kind === "modified" ? 1 : 0),
    prefixes: addPrefix(signal.prefixes, topPrefix(key), 1),
  };
}

/** One object of new content judged by its sample (null: too small to judge, not counted). */
export function countSample(signal: ChangeSignal, incompressible: boolean | null | undefined): ChangeSignal {
  if (incompressible === null || incompressible === undefined) return signal;
  return {
    ...signal,
    sampled: signal.sampled + 1,
    incompressible: signal.incompressible + (incompressible ? 1 : 0),
  };
}

export function sumSignals(signals: readonly (ChangeSignal | undefined)[]): ChangeSignal {
  let total = NO_CHANGES;
  for (const signal of signals) {
    if (!signal) continue;
    let prefixes = total.prefixes;
    for (const [prefix, count] of Object.entries(signal.prefixes)) prefixes = addPrefix(prefixes, prefix, count);
    total = {
      modified: total.modified + signal.modified,
      sampled: total.sampled + signal.sampled,
      incompressible: total.incompressible + signal.incompressible,
      prefixes,
    };
  }
  return total;
}

function addPrefix(prefixes: Record<string, number>, prefix: string, count: number): Record<string, number> {
  const counted = prefix in prefixes || Object.keys(prefixes).length < MAX_PREFIXES ? prefix : OTHER_PREFIXES;
  return { ...prefixes, [counted]: (prefixes[counted] ?? 0) + count };
}

/** The `count` prefixes with the most changes, most first (ties by name). */
export function topPrefixes(prefixes: Record<string, number>, count: number): { prefix: string; changes: number }[] {
  return Object.entries(prefixes)
    .map(([prefix, changes]) => ({ prefix, changes }))
    .sort((a, b) => b.changes - a.changes || (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0))
    .slice(0, count);
}
