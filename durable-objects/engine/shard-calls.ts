/**
 * A fanned-out job's calls to its shards, made SHARD_CALLS_IN_FLIGHT at a time rather than one
 * after another: a parent's poll asks every shard for its report, and in production each call
 * is a round trip to another Durable Object (tens of milliseconds), so 64 shards asked in turn
 * would make every poll last seconds. At most 6 at once, the connections a Durable Object holds.
 * Results keep the shards' order.
 */
import { mapWithConcurrency } from "./concurrency";

export const SHARD_CALLS_IN_FLIGHT = 6;

/** Starts every shard. */
export async function startShards<S>(shards: readonly S[], start: (shard: S) => Promise<void>): Promise<void> {
  await mapWithConcurrency(shards, SHARD_CALLS_IN_FLIGHT, start);
}

/** Every shard's report; a shard whose start never arrived (its object has no state) is started again first. */
export function shardReports<S, R extends { stage: string }>(
  shards: readonly S[],
  report: (shard: S) => Promise<R>,
  start: (shard: S) => Promise<void>,
): Promise<R[]> {
  return mapWithConcurrency(shards, SHARD_CALLS_IN_FLIGHT, async (shard) => {
    const first = await report(shard);
    if (first.stage !== "unknown") return first;
    await start(shard);
    return report(shard);
  });
}
