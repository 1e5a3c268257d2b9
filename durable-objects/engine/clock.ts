/**
 * The one wall clock the engine and the edge read. Production reads the runtime's time; a test may
 * move it forward (the simulated month advances days between operations), and then every reading
 * agrees: backup dates and ids, retention, schedules, leases, alarms, pending changes, alert
 * checks. R2's own times (an object's `uploaded`) cannot be moved, which is why a test that moves
 * the clock runs with a grace period of 0.
 */
let offsetMs = 0;

export const clock = {
  /** Milliseconds since the epoch, as `Date.now()`. */
  now: (): number => Date.now() + offsetMs,
  date: (): Date => new Date(Date.now() + offsetMs),
};

/** Tests only: moves the clock forward by `ms` for every reader in this isolate. */
export function advanceClock(ms: number): void {
  if (ms < 0) throw new RangeError("the clock only moves forward");
  offsetMs += ms;
}

/** Tests only: how far the clock has been moved. */
export function clockOffset(): number {
  return offsetMs;
}
