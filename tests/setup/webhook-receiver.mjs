// Global setup of the `monitoring` test project (runs in Node, once): starts the webhook receiver
// of scripts/webhook-receiver.mjs on a free loopback port and hands the port to the project's
// configuration, whose BACKUP_WEBHOOK_URL points at it. Tests drive it through its /control routes.
import { createReceiver } from "../../scripts/webhook-receiver.mjs";

/** The webhook secret of the test project (never used outside tests). */
export const WEBHOOK_TEST_SECRET = "test-webhook-secret-0123456789abcdef";

export default async function setup(project) {
  const receiver = createReceiver({ secret: WEBHOOK_TEST_SECRET });
  project.provide("webhookPort", await receiver.listen(0));
  return () => receiver.close();
}
