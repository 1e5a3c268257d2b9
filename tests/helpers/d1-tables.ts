/**
 * Emptying D1 tables between the runs of a test. `projectTables` reads them from the database,
 * so a table a migration adds is included without a list to keep up to date.
 */
import { env } from "cloudflare:test";

/** The collection ledger's tables (schema/collection.ts). */
export const LEDGER_TABLES = ["gc_state", "gc_holders", "gc_refs", "gc_pages", "gc_tombstones"];

/** Every table of the schema: not SQLite's, D1's or the migrations' bookkeeping. */
export async function projectTables(): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'",
  ).all<{ name: string }>();
  return results.map((r) => r.name);
}

export async function clearTables(tables: readonly string[]): Promise<void> {
  await env.DB.batch(tables.map((table) => env.DB.prepare(`DELETE FROM ${table}`)));
}
