/**
 * The queue consumer for R2 event notifications of the source bucket (Cloudflare's documented
 * message: `{account, action, bucket, object: {key, size?, eTag?}, eventTime, copySource?}`).
 * Only the key matters: the backup reads the key's state when it runs (targeted-listing.ts says
 * why duplicates, reordering and losses are safe). A malformed message, or one for a bucket this
 * system does not back up, is logged and dropped (acknowledged), so it can never block the queue;
 * if the coordinator cannot record the batch, the whole batch is retried by the queue.
 */
import { z } from "zod";
import { getConfig } from "../durable-objects/config";

const objectEvent = z.looseObject({
  action: z.string().min(1),
  bucket: z.string().min(1),
  object: z.looseObject({ key: z.string().min(1).max(1024) }),
  eventTime: z.string().optional(),
});

export async function consumeObjectEvents(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const bucketName = getConfig(env).BACKUP_SOURCE_BUCKET;
  const keys: string[] = [];
  for (const message of batch.messages) {
    const parsed = objectEvent.safeParse(message.body);
    if (!parsed.success) {
      console.error(`object event ${message.id} dropped: not an R2 event notification (${z.prettifyError(parsed.error).replaceAll("\n", "; ")})`);
    } else if (parsed.data.bucket !== bucketName) {
      console.warn(`object event ${message.id} dropped: bucket ${parsed.data.bucket} is not the one backed up (${bucketName})`);
    } else keys.push(parsed.data.object.key);
  }
  if (keys.length) await env.BUCKET_COORDINATOR.getByName(bucketName).recordChanges(keys);
  batch.ackAll();
}
