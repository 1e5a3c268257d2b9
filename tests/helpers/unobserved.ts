/**
 * Promise rejections nobody observed, as the runtime reports them: for tests that a failure in
 * the middle of streams leaves nothing rejected unhandled (which fails a CI run even when every
 * test passes). Workers tests only: it listens for the runtime's "unhandledrejection" events.
 */

/** Runs `body`, waits `settleMs` for stragglers, and returns the reasons reported meanwhile. */
export async function unobservedRejections(body: () => Promise<void>, settleMs = 60): Promise<string[]> {
  const seen: string[] = [];
  const listener = (event: PromiseRejectionEvent) => seen.push(String(event.reason));
  addEventListener("unhandledrejection", listener);
  try {
    await body();
    await new Promise((resolve) => setTimeout(resolve, settleMs));
  } finally {
    removeEventListener("unhandledrejection", listener);
  }
  return seen;
}
