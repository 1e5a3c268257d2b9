/**
 * A restore's view of a backup's manifest objects: the backup bucket's, or, for an object missing
 * there, the replica's. Both hold the same bytes under the same names, and a reader checks every
 * chunk against its name either way, so which copy served it does not matter to the reader.
 */
type ObjectGetter = Pick<R2Bucket, "get">;

export function manifestSource(primary: ObjectGetter, replica: ObjectGetter | null): ObjectGetter {
  if (!replica) return primary;
  const get = async (key: string) => (await primary.get(key)) ?? replica.get(key);
  return { get } as ObjectGetter;
}
