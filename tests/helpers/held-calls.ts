/**
 * Calls held until the test releases them: how many a caller has in flight before any returns
 * (for unit tests of code that should overlap its round trips).
 */
export class HeldCalls {
  /** The calls waiting now, each released by calling it. */
  readonly waiting: (() => void)[] = [];

  /** Waits until the test releases this call. */
  hold(): Promise<void> {
    return new Promise<void>((release) => this.waiting.push(release));
  }

  /** Releases every waiting call, again after each timer tick, until `done` has settled. */
  async releaseUntil(done: Promise<unknown>): Promise<void> {
    let settled = false;
    done.then(
      () => (settled = true),
      () => (settled = true),
    );
    while (!settled) {
      for (const release of this.waiting.splice(0)) release();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }
}
