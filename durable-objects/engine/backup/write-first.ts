/**
 * Whether a backup step stores small content by asking the store first or by writing first.
 *
 * Deduplication needs to know whether the store already holds the content. Asking first (a HEAD
 * of the blob's name, then an only-if-absent PUT when it is missing) takes one round trip for
 * content the store holds and two for new content. Writing first (the only-if-absent PUT straight
 * away, then a HEAD, to check the blob found there, only when R2 refuses the put) takes one for
 * new content and two for content already stored, one of them carrying the body. In production
 * each call is a round trip of its own (a HEAD about 20 ms, a PUT about 80 ms, plus 8 ms a MiB
 * moved), so with `p` the share of new content, asking first costs 20 + 80p ms an object and
 * writing first 100 − 20p: writing first pays when more than 4 objects in 5 are new, as in a first
 * full backup or an incremental's modified objects, and then saves the HEAD's 20 ms of the 130 ms
 * a new small object's GET, HEAD and PUT took. (In request charges a refused PUT is a write where
 * a HEAD is a read; at these shares the two ways cost within a few percent of each other.)
 *
 * Only content already read into memory (up to SINGLE_READ_LIMIT, 1 MiB: a refused put moves at
 * most that much again) is written first: a refused put of a streamed object would have read its
 * source a second time for nothing. A store under bucket lock rules is always asked first: a put
 * over a locked blob might be refused by the lock rather than by its precondition.
 *
 * The share is a running average over roughly the last 64 objects, kept in the backup's
 * checkpoint, and the choice is fixed for a whole step, so that a replayed step makes the same
 * choice whatever order its objects finish in.
 */

/** Writing first pays above this share of new content (see above). */
export const WRITE_FIRST_ABOVE = 0.8;
/** What a backup assumes before it has captured anything: ask first. */
export const UNKNOWN_SHARE = 0.5;
/**
 * The weight of each object's outcome in the running share: a step of 100 new objects is enough
 * to start writing first, and a few stored ones in a row are not enough to stop.
 */
const WEIGHT = 1 / 64;

/** Whether a step writes small content before asking, given the backup's share so far. */
export function writesFirst(newContentShare: number | undefined): boolean {
  return (newContentShare ?? UNKNOWN_SHARE) > WRITE_FIRST_ABOVE;
}

/**
 * The share after a step's captures, in key order: true where the content is this backup's own
 * (stored by it, now or earlier), false where the store already held it from another.
 */
export function shareAfter(newContentShare: number | undefined, outcomes: readonly boolean[]): number {
  let share = newContentShare ?? UNKNOWN_SHARE;
  for (const isNew of outcomes) share += ((isNew ? 1 : 0) - share) * WEIGHT;
  return share;
}
