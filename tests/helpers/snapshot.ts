import { env } from "cloudflare:test";
import { listAll } from "./buckets";
import { snapshotEntries } from "./manifest";

/** Everything a backup produced that must not depend on whether it was interrupted. */
export async function backupOutcome(backupId: string) {
  const row = await env.DB.prepare(
    `SELECT status, file_count, total_size, snapshot_file_count, snapshot_size, deleted_count, failed_count,
            bytes_uploaded, checksum, files_processed, bytes_processed, error FROM r2_backups WHERE id = ?`,
  )
    .bind(backupId)
    .first();
  const files = await env.DB.prepare(
    "SELECT file_path, backup_path, file_size, checksum, status FROM backup_files WHERE backup_id = ? ORDER BY file_path",
  )
    .bind(backupId)
    .all();
  const manifest = await snapshotEntries(env.R2_BACKUP_BUCKET, backupId);
  const blobs = (await listAll(env.R2_BACKUP_BUCKET, "blobs/")).map((b) => `${b.key}:${b.size}`);
  return { row, files: files.results, manifest, blobs };
}

/** Removes what a backup wrote (not the source), so the same backup can be taken again. */
export async function forgetBackups(): Promise<void> {
  await env.DB.batch([
    env.DB.prepare("DELETE FROM r2_backups"),
    env.DB.prepare("DELETE FROM backup_files"),
    env.DB.prepare("DELETE FROM backup_logs"),
  ]);
  let cursor: string | undefined;
  do {
    const page = await env.R2_BACKUP_BUCKET.list({ cursor, limit: 1000 });
    if (page.objects.length) await env.R2_BACKUP_BUCKET.delete(page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
}
