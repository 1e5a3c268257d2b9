/**
 * The queue consumer for R2 event notifications of the source bucket (Cloudflare's documented
 * message: `{account, action, bucket, object: {key, size?, eTag?}, eventTime, copySource?}`).
 * Only the key matters: the backup reads the key's state when it runs (targeted-listing.ts says
 * why duplicates, reordering and losses are safe).
 *
 * A message this consumer can never process (not an event notification, or naming a key R2 can
 * never hold: over 1,024 bytes of UTF-8) goes to the dead-letter queue with the reason, and is
 * acknowledged, so it can never block the queue or a backup; one for a bucket this system does
 * not back up is logged and acknowledged. If the coordinator cannot record the batch (or the
 * dead-letter queue cannot take its messages), the whole batch is retried by the queue, and after
 * `max_retries` the queue itself moves it to the dead-letter queue (wrangler.toml).
 */
import { z } from "zod";
import { getConfig } from "../durable-objects/engine/settings/config";
import { keyProblem } from "../durable-objects/engine/object-keys";

const objectEvent = z.looseObject({
  action: z.string().min(1),
  bucket: z.string().min(1),
  object: z.looseObject({ key: z.string().min(1) }),
  eventTime: z.string().optional(),
});

/** What the dead-letter queue receives: why, and the message as it came. */
export interface DeadLetter {
  reason: string;
  messageId: string;
  receivedAt: string;
  body: unknown;
}

export async function consumeObjectEvents(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const bucketName = getConfig(env).BACKUP_SOURCE_BUCKET;
  const keys: string[] = [];
  const deadLetters: DeadLetter[] = [];
  const refuse = (message: Message<unknown>, reason: string) =>
    deadLetters.push({
      reason,
      messageId: message.id,
      receivedAt: message.timestamp.toISOString(),
      body: message.body,
    });
  for (const message of batch.messages) {
    const parsed = objectEvent.safeParse(message.body);
    if (!parsed.success) {
      refuse(message, `not an R2 event notification (${z.prettifyError(parsed.error).replaceAll("\n", "; ")})`);
      continue;
    }
    if (parsed.data.bucket !== bucketName) {
      console.warn(
        `object event ${message.id} dropped: bucket ${parsed.data.bucket} is not the one backed up (${bucketName})`,
      );
      continue;
    }
    const problem = keyProblem(parsed.data.object.key);
    if (problem) refuse(message, `R2 can never hold its key: ${problem}`);
    else keys.push(parsed.data.object.key);
  }
  if (deadLetters.length) await sendToDeadLetters(env, deadLetters);
  if (keys.length) await env.BUCKET_COORDINATOR.getByName(bucketName).recordChanges(keys);
  batch.ackAll();
}

async function sendToDeadLetters(env: Env, deadLetters: DeadLetter[]): Promise<void> {
  for (const letter of deadLetters)
    console.error(`object event ${letter.messageId} dropped to the dead-letter queue: ${letter.reason}`);
  const queue = env.OBJECT_EVENTS_DEAD_LETTERS;
  if (!queue) {
    console.error("OBJECT_EVENTS_DEAD_LETTERS is not bound: the messages above are only in this log");
    return;
  }
  for (let i = 0; i < deadLetters.length; i += 100)
    await queue.sendBatch(deadLetters.slice(i, i + 100).map((body) => ({ body })));
}
