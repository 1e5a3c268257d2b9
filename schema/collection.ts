/**
 * The backup store's collection ledger (durable-objects/engine/collection/ledger.ts): what lets a
 * cleanup's sweep delete unneeded blobs and chunks while backups of any bucket keep writing into
 * the same store, without either waiting for the other (docs/invariants.md, 16).
 *
 *   gc_state       one row: a sequence that orders ledger events, the collector (the one cleanup
 *                  whose mark and sweep run now) and the sequence when it registered, and how far
 *                  old tombstones have been pruned;
 *   gc_holders     jobs that name store objects no snapshot names yet (backups), and when they ended;
 *   gc_refs        the blobs and chunks each holder named, recorded by the step that named them;
 *   gc_pages       the sweep's pages: deleting, then done;
 *   gc_tombstones  the objects a page deletes, so a step that found one present can tell.
 */
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const GC_PAGE_STATES = ["deleting", "done"] as const;

export const gcState = sqliteTable("gc_state", {
  /** Always 1: the ledger has one state row. */
  id: integer("id").primaryKey(),
  seq: integer("seq").notNull().default(0),
  collector: text("collector"),
  collectorSince: integer("collector_since"),
  /** Tombstones of pages up to this sequence are gone: a step that began before it checks again. */
  prunedThrough: integer("pruned_through").notNull().default(0),
});

export const gcHolders = sqliteTable(
  "gc_holders",
  {
    holder: text("holder").primaryKey(),
    /** The ledger sequence when it ended (null: still running). */
    endedSeq: integer("ended_seq"),
  },
  (t) => [index("gc_holders_ended_seq_idx").on(t.endedSeq)],
);

export const gcRefs = sqliteTable(
  "gc_refs",
  {
    key: text("key").notNull(),
    holder: text("holder").notNull(),
  },
  (t) => [primaryKey({ columns: [t.key, t.holder] }), index("gc_refs_holder_idx").on(t.holder)],
);

export const gcPages = sqliteTable(
  "gc_pages",
  {
    /** Derived from the collector and the page's place, so a replayed sweep step finds its page. */
    pageId: text("page_id").primaryKey(),
    seq: integer("seq").notNull(),
    collector: text("collector").notNull(),
    state: text("state", { enum: GC_PAGE_STATES }).notNull(),
  },
  (t) => [index("gc_pages_state_seq_idx").on(t.state, t.seq), index("gc_pages_collector_idx").on(t.collector)],
);

export const gcTombstones = sqliteTable(
  "gc_tombstones",
  {
    key: text("key").notNull(),
    seq: integer("seq").notNull(),
  },
  (t) => [primaryKey({ columns: [t.key, t.seq] }), index("gc_tombstones_seq_idx").on(t.seq)],
);
