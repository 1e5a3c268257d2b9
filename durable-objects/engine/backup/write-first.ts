/**
 * Whether a backup step stores small content by asking the store first or by writing first.
 *
 * Deduplication needs to know whether the store already holds the content. Asking first (a HEAD
 * of the blob's name, then an only-if-absent PUT when it is missing) takes one round trip for
 * content the store holds and two for new content. Writing first (the only-if-absent PUT straight
 * away, then a HEAD, to check the blob found there, only when R2 refuses the put) takes one for
 * new content and two for content already stored, one of them carrying the body. In production
 * each call is a round trip of its own (a HEAD about 20 ms, a PUT about 80 ms), so with `p` the
 * share of new content, asking first costs 20 + 80p ms an object and writing first 100 − 20p ms:
 * writing first pays when more than 4 objects in 5 are new, as in a first full backup or an
 * incremental's modified objects, and saves a sixth of a new small object's round trips.
 *
 * Only content already read into memory (up to SINGLE_READ_LIMIT) is written first: a refused put
 * of a streamed object would have read its source a second time for nothing.
 *
 * The share is estimated from what the backup found so far (an average over the last few dozen
 * objects, kept in its checkpoint) and fixed for a whole step, so that a step makes the same calls
 * whenever it is replayed, whatever order its objects finish in.
 */

/** Writing first pays above this share of new content (see above). */
export const WRITE_FIRST_ABOVE = 0.8;
/** What a backup assumes before it has captured anything: ask first. */
export const UNKNOWN_SHARE = 0.5;
/** The weight of each object's outcome in the running share: about the last 16 count. */
const WEIGHT = 1 / 16;

/** Whether a step writes small content before asking, given the backup's share so far. */
export function writesFirst(newContentShare: number | undefined): boolean {
  return (newContentShare ?? UNKNOWN_SHARE) > WRITE_FIRST_ABOVE;
}

/** The share after a step's captures, in key order: true for content the store lacked. */
export function shareAfter(newContentShare: number | undefined, outcomes: readonly boolean[]): number {
  let share = newContentShare ?? UNKNOWN_SHARE;
  for (const isNew of outcomes) share += ((isNew ? 1 : 0) - share) * WEIGHT;
  return share;
}
