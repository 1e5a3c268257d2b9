/**
 * A saved copy of the backup store and the D1 tables that describe it, put back before each run
 * of a scenario that consumes its history (a cleanup): restoring it costs a few puts and inserts,
 * building the history again costs three backups.
 */
import { env } from "cloudflare:test";
import { emptyBucket, listAll } from "./buckets";
import { LEDGER_TABLES } from "./d1-tables";

const TABLES = ["r2_backups", "backup_files", "backup_logs", "backup_jobs", "job_findings", ...LEDGER_TABLES];

interface SavedObject {
  key: string;
  body: ArrayBuffer;
  httpMetadata: R2HTTPMetadata | undefined;
  customMetadata: Record<string, string> | undefined;
}

export class StoreSnapshot {
  private constructor(
    private readonly objects: SavedObject[],
    private readonly rows: Map<string, Record<string, unknown>[]>,
  ) {}

  static async take(bucket: R2Bucket = env.R2_BACKUP_BUCKET): Promise<StoreSnapshot> {
    const objects: SavedObject[] = [];
    for (const object of await listAll(bucket)) {
      const body = await (await bucket.get(object.key))!.arrayBuffer();
      objects.push({ key: object.key, body, httpMetadata: object.httpMetadata, customMetadata: object.customMetadata });
    }
    const rows = new Map<string, Record<string, unknown>[]>();
    for (const table of TABLES)
      rows.set(table, (await env.DB.prepare(`SELECT * FROM ${table}`).all<Record<string, unknown>>()).results);
    return new StoreSnapshot(objects, rows);
  }

  async restore(bucket: R2Bucket = env.R2_BACKUP_BUCKET): Promise<void> {
    await emptyBucket(bucket);
    await Promise.all(
      this.objects.map((o) =>
        bucket.put(o.key, o.body, { httpMetadata: o.httpMetadata, customMetadata: o.customMetadata }),
      ),
    );
    const statements = TABLES.map((table) => env.DB.prepare(`DELETE FROM ${table}`));
    for (const [table, rows] of this.rows) {
      for (const row of rows) {
        const columns = Object.keys(row);
        statements.push(
          env.DB.prepare(
            `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
          ).bind(...columns.map((c) => row[c] ?? null)),
        );
      }
    }
    await env.DB.batch(statements);
  }
}
