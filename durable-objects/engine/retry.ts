/**
 * Retries an operation with capped exponential backoff and jitter. Only errors that may succeed
 * on a retry are retried (errors.ts `isRetryable`); the last error propagates.
 */
import { isRetryable } from "./errors";

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  /** Upper bound of one delay, whatever the attempt. */
  maxDelayMs?: number;
  /** Overrides which errors are retried. */
  shouldRetry?: (error: unknown) => boolean;
}

/** No single wait inside a step grows beyond this: a step must stay well inside an alarm's limits. */
export const DEFAULT_MAX_RETRY_DELAY_MS = 30_000;

export async function withRetry<T>(policy: RetryPolicy, operation: (attempt: number) => Promise<T>): Promise<T> {
  const shouldRetry = policy.shouldRetry ?? isRetryable;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= policy.attempts || !shouldRetry(error)) throw error;
      await sleep(cappedBackoff(policy.baseDelayMs, attempt, policy.maxDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS));
    }
  }
}

/** Attempt n waits between half and all of min(base * 2^(n-1), max): jitter spreads retries apart. */
export function cappedBackoff(baseDelayMs: number, attempt: number, maxDelayMs: number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
