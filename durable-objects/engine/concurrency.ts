/**
 * Maps over items with at most `limit` operations in flight; results keep the input order. Each
 * item starts after a timer tick, so a step working through objects lets requests in between
 * them (cooperative.ts).
 *
 * A failure stops it cleanly: no item starts after it, and the call rejects with the first
 * failure only once every operation in flight has settled. (With a bare Promise.all the call
 * rejected at once while the other workers went on through the rest of the items: work of a step
 * that had already failed, still writing while its retry ran, and I/O made after the request
 * that started it had ended.)
 */
import { yieldToEventLoop } from "./cooperative";

export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  // The first failure comes first (an array: a closure's assignment escapes TypeScript's narrowing).
  const failures: unknown[] = [];
  async function worker(): Promise<void> {
    while (next < items.length && failures.length === 0) {
      const index = next++;
      await yieldToEventLoop();
      if (failures.length > 0) return;
      try {
        results[index] = await fn(items[index]!, index);
      } catch (error) {
        failures.push(error);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures[0];
  return results;
}
