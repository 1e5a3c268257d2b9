/**
 * Maps over items with at most `limit` operations in flight; results keep the input order. Each
 * item starts after a timer tick, so a step working through objects lets requests in between
 * them (cooperative.ts).
 */
import { yieldToEventLoop } from "./cooperative";

export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      await yieldToEventLoop();
      results[index] = await fn(items[index]!, index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
