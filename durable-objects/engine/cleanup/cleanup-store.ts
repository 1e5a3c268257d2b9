/**
 * A cleanup's own SQLite storage (CleanupStore): its plan, the snapshots it marks, its mark set
 * and the sweep page being handled. As large as the history and the blob store, so tables, never
 * one value.
 */
import type { CleanupStore, SweepPage } from "./cleanup-state";

export function createCleanupTables(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS cleanup_backups (id TEXT PRIMARY KEY, role TEXT NOT NULL)");
  sql.exec("CREATE TABLE IF NOT EXISTS marked (blob TEXT PRIMARY KEY)");
  sql.exec("CREATE TABLE IF NOT EXISTS marked_chunks (key TEXT PRIMARY KEY, by TEXT NOT NULL)");
  sql.exec("CREATE INDEX IF NOT EXISTS marked_chunks_by ON marked_chunks (by)");
  sql.exec("CREATE TABLE IF NOT EXISTS sweep_page (id INTEGER PRIMARY KEY CHECK (id = 1), page TEXT NOT NULL)");
}

/**
 * Roles in `cleanup_backups`: expired by the policy, an earlier expiry to finish, kept (to mark),
 * kept and marked.
 */
type Role = "expire" | "finish" | "keep" | "marked";

export function cleanupStore(db: SqlStorage): CleanupStore {
  const next = (roles: Role[], after: string | null) =>
    db
      .exec<{ id: string; role: Role }>(
        `SELECT id, role FROM cleanup_backups WHERE role IN (${roles.map(() => "?").join(", ")}) AND id > ? ORDER BY id LIMIT 1`,
        ...roles,
        after ?? "",
      )
      .toArray()[0] ?? null;
  const replaceRoles = (roles: Role[], rows: [string, Role][]) => {
    db.exec(`DELETE FROM cleanup_backups WHERE role IN (${roles.map(() => "?").join(", ")})`, ...roles);
    for (const [id, role] of rows) db.exec("INSERT OR REPLACE INTO cleanup_backups (id, role) VALUES (?, ?)", id, role);
  };
  return {
    savePlan: (expire) =>
      replaceRoles(
        ["expire", "finish"],
        expire.map((p) => [p.id, p.finishing ? "finish" : "expire"]),
      ),
    nextExpired: (after) => {
      const row = next(["expire", "finish"], after);
      return row ? { id: row.id, finishing: row.role === "finish" } : null;
    },
    saveKept: (keep) =>
      replaceRoles(
        ["keep", "marked"],
        keep.map((id) => [id, "keep"]),
      ),
    addKept: (keep) => {
      for (const id of keep) db.exec("INSERT OR IGNORE INTO cleanup_backups (id, role) VALUES (?, 'keep')", id);
    },
    nextKept: () => next(["keep"], null)?.id ?? null,
    keptMarked: (id) => void db.exec("UPDATE cleanup_backups SET role = 'marked' WHERE id = ? AND role = 'keep'", id),
    keptMarkedBefore: (id) =>
      void db.exec("UPDATE cleanup_backups SET role = 'marked' WHERE id < ? AND role = 'keep'", id),
    mark: (blobs) => {
      for (const blob of blobs) db.exec("INSERT OR IGNORE INTO marked (blob) VALUES (?)", blob);
    },
    markChunk: (key, by) => void db.exec("INSERT OR IGNORE INTO marked_chunks (key, by) VALUES (?, ?)", key, by),
    forgetChunksOf: (by) => void db.exec("DELETE FROM marked_chunks WHERE by = ?", by),
    chunkMarkedBy: (key) =>
      db.exec<{ by: string }>("SELECT by FROM marked_chunks WHERE key = ?", key).toArray()[0]?.by ?? null,
    isMarked: (key) =>
      db
        .exec("SELECT 1 FROM marked WHERE blob = ? UNION ALL SELECT 1 FROM marked_chunks WHERE key = ?", key, key)
        .toArray().length > 0,
    // One page at a time (at most 1,000 keys): small enough for one row.
    pendingSweep: () => {
      const row = db.exec<{ page: string }>("SELECT page FROM sweep_page WHERE id = 1").toArray()[0];
      return row ? (JSON.parse(row.page) as SweepPage) : null;
    },
    savePendingSweep: (page) =>
      void db.exec("INSERT OR REPLACE INTO sweep_page (id, page) VALUES (1, ?)", JSON.stringify(page)),
  };
}
