/**
 * Status reads double as a watchdog: they ask the job to re-arm a lost alarm. The answer is not
 * needed for the response, and a job busy in a long step may answer late, so the read waits at
 * most WATCHDOG_WAIT_MS and lets the call finish in the background.
 */
const WATCHDOG_WAIT_MS = 1_000;

export async function pokeJob(ctx: ExecutionContext, job: { heartbeat(): Promise<unknown> }, what: string): Promise<void> {
  const call = Promise.resolve(job.heartbeat()).catch((error: unknown) => console.error(`watchdog call to ${what} failed`, error));
  ctx.waitUntil(call);
  await Promise.race([call, new Promise((resolve) => setTimeout(resolve, WATCHDOG_WAIT_MS))]);
}
