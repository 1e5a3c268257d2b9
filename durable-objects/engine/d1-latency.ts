/**
 * Production-shaped D1 on the local stack, for benches only (the `d1` entry of
 * BACKUP_TEST_R2_LATENCY, r2-latency.ts): locally D1 is in-process SQLite, so what a job's records
 * cost in production (a round trip to the database's primary, and a durable commit for a write)
 * is invisible. Wrapped this way, every statement run and every batch waits `fixedMs` once it has
 * returned (a per-MiB part is not charged: what a job sends D1 is a few rows). D1 calls take no R2 connection slot here: the bench measures how long a job waits on
 * D1, not whether D1 calls would queue behind R2 ones.
 */
import { aroundD1Calls } from "./d1-calls";
import { sleep, type CallLatency } from "./r2-latency";

export function withD1Latency(
  db: D1Database,
  latency: CallLatency,
  wait: (ms: number) => Promise<void> = sleep,
): D1Database {
  return aroundD1Calls(db, async (_call, make) => {
    const result = await make();
    await wait(latency.fixedMs);
    return result;
  });
}
