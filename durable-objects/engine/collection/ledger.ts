/**
 * The backup store's collection ledger, in D1 (schema/collection.ts): how a cleanup's sweep and
 * the backups of every source bucket share one store without waiting for each other. The unit
 * of exclusion is the store, not the source bucket (docs/invariants.md, 16, with the argument).
 *
 * Writers (backup steps): every blob and chunk a step names that no snapshot names yet (what it
 * stored or found present by deduplication) is recorded as the step's references, in the same D1
 * batch as the step's other rows, together with a check whether a sweep page condemned one of
 * them since the step's fence (read before the step's first presence check). If so the
 * step does not count: it runs again once that page is done, and then finds the object absent
 * and stores it again.
 *
 * The collector (a cleanup): one at a time per store. It registers before it reads the history
 * it marks; a sweep page condemns its candidates (tombstones) in one batch that leaves out every
 * object referenced by a job still running or ended since the registration, then deletes them,
 * then marks the page done. A writer's fence is the sequence before the oldest page still
 * deleting, so a page deleting while the writer looked is always after its fence.
 */
import type { Database, Statement } from "../records";

/** Replica objects are condemned under this prefix, apart from the primary's of the same name. */
export const REPLICA_TOMBSTONE_PREFIX = "replica:";

/** Rows pruned in one step (old references, old tombstones). */
export const PRUNE_ROWS_PER_STEP = 10_000;
/** Keys in one statement's JSON array: far below D1's statement and value limits. */
const KEYS_PER_STATEMENT = 250;

/**
 * Raised by a step whose references a sweep condemned after the step's fence: the step's work
 * does not count and it runs again once the sweep's page is done (never counted as a failure).
 */
export class CollectionConflict extends Error {
  constructor(readonly keys: readonly string[]) {
    super(
      keys.length > 0
        ? `${keys.length} object(s) this step found in the store (${keys[0]}${keys.length > 1 ? ", ..." : ""}) are being deleted by a cleanup's sweep; the step runs again once that sweep page is done`
        : "a cleanup pruned the collection ledger while this step ran; the step runs again",
    );
    this.name = "CollectionConflict";
  }
}

/** Recognised by name too: the class does not survive every boundary. */
export function isCollectionConflict(error: unknown): boolean {
  return error instanceof CollectionConflict || (error instanceof Error && error.name === "CollectionConflict");
}

/**
 * The ledger's statements go straight to D1 (Drizzle 0.45 cannot batch raw SQL with parameters),
 * and a step's own Drizzle statements join them in one batch through their SQL.
 */
const clientOf = (db: Database): D1Database => db.$client;

function asD1(d1: D1Database, statement: Statement): D1PreparedStatement {
  const built = statement as unknown as {
    toSQL?: () => { sql: string; params: unknown[] };
    getQuery?: () => { sql: string; params: unknown[] };
  };
  const query = built.toSQL ? built.toSQL() : built.getQuery!();
  return d1.prepare(query.sql).bind(...query.params);
}

const ensureState = (d1: D1Database) =>
  d1.prepare("INSERT OR IGNORE INTO gc_state (id, seq, pruned_through) VALUES (1, 0, 0)");
const bumpSeq = (d1: D1Database) => d1.prepare("UPDATE gc_state SET seq = seq + 1 WHERE id = 1");

function chunked<T>(items: readonly T[], size = KEYS_PER_STATEMENT): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const rowsOf = <T>(result: D1Result | undefined): T[] => (result?.results ?? []) as T[];

/**
 * The fence a writer reads at the start of a step, before any presence check: the sequence just
 * before the oldest sweep page still deleting (or the current sequence when none is).
 */
export async function readFence(db: Database): Promise<number> {
  const row = await clientOf(db)
    .prepare(
      "SELECT COALESCE((SELECT MIN(seq) - 1 FROM gc_pages WHERE state = 'deleting'), (SELECT seq FROM gc_state WHERE id = 1), 0) AS fence",
    )
    .first<{ fence: number }>();
  return row?.fence ?? 0;
}

/** What a writer's step names, for the ledger: its job, the store keys, and its fence. */
export interface StepReferences {
  holder: string;
  keys: readonly string[];
  fence: number;
  /** False when the keys need only the check, not recording (a replication's presence checks). */
  record?: boolean;
}

/**
 * Runs the step's own statements together with its references and the conflict check, in one
 * batch (one transaction); throws CollectionConflict when a sweep condemned one of the keys after
 * the fence, or pruned tombstones the fence still needs. Keys may be prefixed with "replica:" for
 * objects of the replica (a replication's presence checks).
 */
export async function commitWithReferences(
  db: Database,
  statements: readonly Statement[],
  references: StepReferences,
): Promise<void> {
  const d1 = clientOf(db);
  const keys = [...new Set(references.keys)];
  const record = references.record !== false && keys.length > 0;
  const recording = record
    ? [
        d1.prepare("INSERT OR IGNORE INTO gc_holders (holder) VALUES (?)").bind(references.holder),
        ...chunked(keys).map((part) =>
          d1
            .prepare("INSERT OR IGNORE INTO gc_refs (key, holder) SELECT value, ? FROM json_each(?)")
            .bind(references.holder, JSON.stringify(part)),
        ),
      ]
    : [];
  const checks = chunked(keys).map((part) =>
    d1
      .prepare("SELECT key FROM gc_tombstones WHERE seq > ? AND key IN (SELECT value FROM json_each(?))")
      .bind(references.fence, JSON.stringify(part)),
  );
  const pruned = d1.prepare("SELECT pruned_through AS prunedThrough FROM gc_state WHERE id = 1");
  const results = await d1.batch([
    ensureState(d1),
    ...statements.map((s) => asD1(d1, s)),
    ...recording,
    pruned,
    ...checks,
  ]);
  const tail = results.slice(1 + statements.length + recording.length);
  const prunedThrough = rowsOf<{ prunedThrough: number }>(tail[0])[0]?.prunedThrough ?? 0;
  const condemned = tail.slice(1).flatMap((result) => rowsOf<{ key: string }>(result).map((r) => r.key));
  if (condemned.length > 0 || prunedThrough > references.fence) throw new CollectionConflict(condemned);
}

/**
 * Statements that end a writer's holding: its references protect it until the next collector
 * registers (by then a completed backup's snapshot is in the history that collector marks).
 */
export function endHolder(db: Database, holder: string): D1PreparedStatement[] {
  const d1 = clientOf(db);
  return [
    ensureState(d1),
    bumpSeq(d1),
    d1
      .prepare(
        "UPDATE gc_holders SET ended_seq = (SELECT seq FROM gc_state WHERE id = 1) WHERE holder = ? AND ended_seq IS NULL",
      )
      .bind(holder),
  ];
}

export type Registration = { registered: true; since: number } | { registered: false; collector: string };

/** Registers `collector` as the store's one collector, unless another is; idempotent for the same one. */
export async function registerCollector(db: Database, collector: string): Promise<Registration> {
  const d1 = clientOf(db);
  const results = await d1.batch([
    ensureState(d1),
    d1
      .prepare(
        "UPDATE gc_state SET seq = seq + 1, collector = ?, collector_since = seq + 1 WHERE id = 1 AND collector IS NULL",
      )
      .bind(collector),
    d1.prepare("SELECT collector, collector_since AS since FROM gc_state WHERE id = 1"),
  ]);
  const row = rowsOf<{ collector: string | null; since: number | null }>(results[2])[0];
  if (row?.collector === collector && row.since !== null) return { registered: true, since: row.since };
  return { registered: false, collector: row?.collector ?? "(unknown)" };
}

/**
 * Statements that end a collection: its pages count as done (a page whose deletes may or may not
 * have happened is treated as deleted: writers look again), and the store is free for the next.
 */
export function releaseCollector(db: Database, collector: string): D1PreparedStatement[] {
  const d1 = clientOf(db);
  return [
    ensureState(d1),
    d1.prepare("UPDATE gc_pages SET state = 'done' WHERE collector = ? AND state = 'deleting'").bind(collector),
    d1
      .prepare(
        "UPDATE gc_state SET seq = seq + 1, collector = NULL, collector_since = NULL WHERE id = 1 AND collector = ?",
      )
      .bind(collector),
  ];
}

/** Runs ledger statements (endHolder, releaseCollector) on their own, or with others of the caller's. */
export async function runLedger(
  db: Database,
  ledger: readonly D1PreparedStatement[],
  statements: readonly Statement[] = [],
): Promise<void> {
  const d1 = clientOf(db);
  await d1.batch([...statements.map((s) => asD1(d1, s)), ...ledger]);
}

/**
 * Prunes, a bounded number of rows per call, what no collection needs any more: references of
 * writers that ended before `since`, and tombstones of pages done (the pruned sequence is raised
 * first, so a writer whose fence is older looks again rather than missing a tombstone). Returns
 * how many rows it deleted; fewer than `limit` means nothing is left.
 */
export async function pruneLedger(db: Database, since: number, limit = PRUNE_ROWS_PER_STEP): Promise<number> {
  const d1 = clientOf(db);
  const results = await d1.batch([
    ensureState(d1),
    d1
      .prepare(
        "DELETE FROM gc_refs WHERE rowid IN (SELECT r.rowid FROM gc_refs r JOIN gc_holders h ON h.holder = r.holder WHERE h.ended_seq IS NOT NULL AND h.ended_seq < ? LIMIT ?)",
      )
      .bind(since, limit),
    d1
      .prepare(
        "DELETE FROM gc_holders WHERE ended_seq IS NOT NULL AND ended_seq < ? AND NOT EXISTS (SELECT 1 FROM gc_refs r WHERE r.holder = gc_holders.holder)",
      )
      .bind(since),
    d1.prepare(
      "UPDATE gc_state SET pruned_through = MAX(pruned_through, COALESCE((SELECT MAX(seq) FROM gc_pages WHERE state = 'done'), 0)) WHERE id = 1",
    ),
    d1
      .prepare(
        "DELETE FROM gc_tombstones WHERE rowid IN (SELECT t.rowid FROM gc_tombstones t JOIN gc_pages p ON p.seq = t.seq WHERE p.state = 'done' LIMIT ?)",
      )
      .bind(limit),
    d1.prepare(
      "DELETE FROM gc_pages WHERE state = 'done' AND NOT EXISTS (SELECT 1 FROM gc_tombstones t WHERE t.seq = gc_pages.seq)",
    ),
  ]);
  return Math.max(results[1]?.meta.changes ?? 0, results[4]?.meta.changes ?? 0);
}

export interface SweepPageRequest {
  pageId: string;
  collector: string;
  /** The collector's registration: references of writers ended after it still protect. */
  since: number;
  candidates: readonly string[];
  /** "replica:" for the replica's objects (their tombstones must not stop backups of the primary). */
  tombstonePrefix: string;
}

/**
 * Condemns a sweep page's candidates, leaving out every object a protecting writer references;
 * returns the keys the page deletes. Idempotent: a replay finds the page (its sequence fixed by
 * the first attempt) and returns everything it condemned; once the page is done, nothing.
 */
export async function condemnPage(db: Database, page: SweepPageRequest): Promise<string[]> {
  const d1 = clientOf(db);
  const condemn = (part: readonly string[]) =>
    d1
      .prepare(
        `INSERT OR IGNORE INTO gc_tombstones (key, seq)
         SELECT ? || c.value, p.seq FROM json_each(?) c JOIN gc_pages p ON p.page_id = ?
         WHERE p.state = 'deleting' AND NOT EXISTS (
           SELECT 1 FROM gc_refs r LEFT JOIN gc_holders h ON h.holder = r.holder
           WHERE r.key = c.value AND (h.ended_seq IS NULL OR h.ended_seq >= ?))`,
      )
      .bind(page.tombstonePrefix, JSON.stringify(part), page.pageId, page.since);
  const results = await d1.batch([
    ensureState(d1),
    bumpSeq(d1),
    d1
      .prepare(
        "INSERT OR IGNORE INTO gc_pages (page_id, seq, collector, state) SELECT ?, seq, ?, 'deleting' FROM gc_state WHERE id = 1",
      )
      .bind(page.pageId, page.collector),
    ...chunked(page.candidates).map(condemn),
    d1
      .prepare(
        "SELECT substr(t.key, ?) AS key FROM gc_tombstones t JOIN gc_pages p ON p.seq = t.seq WHERE p.page_id = ? AND p.state = 'deleting'",
      )
      .bind(page.tombstonePrefix.length + 1, page.pageId),
  ]);
  return rowsOf<{ key: string }>(results.at(-1)).map((r) => r.key);
}

/** Whether a page's deletes may still run (a replayed step must never delete after the page is done). */
export async function pageDeleting(db: Database, pageId: string): Promise<boolean> {
  const row = await clientOf(db)
    .prepare("SELECT state FROM gc_pages WHERE page_id = ?")
    .bind(pageId)
    .first<{ state: string }>();
  return row?.state === "deleting";
}

export async function finishPage(db: Database, pageId: string): Promise<void> {
  await clientOf(db).prepare("UPDATE gc_pages SET state = 'done' WHERE page_id = ?").bind(pageId).run();
}
