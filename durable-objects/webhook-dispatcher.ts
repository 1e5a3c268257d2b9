/**
 * WebhookDispatcher: one Durable Object (`getByName("webhooks")`) that sends the webhook outbox.
 *
 * Owns: nothing but its alarm; the deliveries live in D1 (`webhook_deliveries`), written by the
 * decisions they report. `wake` (called after a job's end is recorded and by every cron firing)
 * arms the alarm; the alarm sends what is due (webhook-dispatch.ts) and re-arms for the next
 * pending attempt. Runs are serialized inside the object, so no delivery is sent twice at once.
 */
import { DurableObject } from "cloudflare:workers";
import { getConfig } from "./engine/settings/config";
import { deliverDue, type DispatchReport } from "./engine/monitor/webhook-dispatch";
import { openDatabase } from "./engine/records";
import { clock } from "./engine/clock";

export class WebhookDispatcher extends DurableObject<Env> {
  private run: Promise<DispatchReport> | null = null;

  /** Arms the alarm unless it is armed already for sooner. */
  async wake(): Promise<void> {
    const at = clock.now() + getConfig(this.env).BACKUP_STEP_DELAY_MS;
    const armed = await this.ctx.storage.getAlarm();
    if (armed === null || armed > at) await this.ctx.storage.setAlarm(at);
  }

  /**
   * Sends the deliveries due at `at` (now by default; tests pass a later time instead of
   * waiting for the backoff), then arms the alarm for the next pending one.
   */
  async deliverDue(at?: string): Promise<DispatchReport> {
    while (this.run) await this.run.catch(() => undefined);
    this.run = this.deliver(at ? new Date(at) : clock.date());
    try {
      return await this.run;
    } finally {
      this.run = null;
    }
  }

  override async alarm(): Promise<void> {
    await this.deliverDue();
  }

  private async deliver(now: Date): Promise<DispatchReport> {
    const config = getConfig(this.env);
    if (config.BACKUP_WEBHOOK_URL === undefined || config.BACKUP_WEBHOOK_SECRET === undefined) {
      return { delivered: 0, retrying: 0, failed: 0, nextAttemptAt: null };
    }
    const report = await deliverDue(
      {
        db: openDatabase(this.env.DB),
        url: config.BACKUP_WEBHOOK_URL,
        secret: config.BACKUP_WEBHOOK_SECRET,
        timeoutMs: config.BACKUP_WEBHOOK_TIMEOUT_MS,
        fetch: (input, init) => fetch(input, init),
        clock: () => clock.now(),
      },
      now,
    );
    if (report.nextAttemptAt !== null) {
      // BACKUP_STEP_DELAY_MS paces every alarm (tests set it far ahead and drive runs themselves).
      await this.ctx.storage.setAlarm(
        Math.max(Date.parse(report.nextAttemptAt), clock.now() + config.BACKUP_STEP_DELAY_MS),
      );
    }
    return report;
  }
}
