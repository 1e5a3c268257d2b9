/**
 * A restore's view of a backup's manifest: the backup bucket's copy, or, for a chunk that is
 * missing or damaged there, the replica's. Both hold the same bytes under the same names, and a
 * reader checks every chunk against its name whichever copy served it, so a damaged primary
 * chunk is never trusted and a good replica chunk is as good as the original.
 */
import type { LeafLookup, ManifestReader, PathStep, Unreadable } from "../format/manifest-reader";
import type { ChunkRef } from "../format/manifest-tree";

export class ManifestWithFallback implements ManifestReader {
  readonly version: 1 | 2;
  readonly backupId: string;
  readonly chunkCount: number;

  constructor(
    private readonly primary: ManifestReader,
    private readonly replica: ManifestReader,
  ) {
    this.version = primary.version;
    this.backupId = primary.backupId;
    this.chunkCount = primary.chunkCount;
  }

  async leaf(seq: number): Promise<LeafLookup> {
    const first = await this.primary.leaf(seq);
    if (first.kind === "leaf") return first;
    const second = await this.replica.leaf(seq);
    if (second.kind === "leaf") return { ...second, fromReplica: true };
    return bothUnreadable(first, second);
  }

  async path(seq: number): Promise<PathStep[] | Unreadable> {
    const first = await this.primary.path(seq);
    if (Array.isArray(first)) return first;
    const second = await this.replica.path(seq);
    return Array.isArray(second) ? second : bothUnreadable(first, second);
  }

  async pageChildren(page: ChunkRef): Promise<ChunkRef[] | null> {
    return (await this.primary.pageChildren(page)) ?? this.replica.pageChildren(page);
  }
}

/** Both copies failed: the primary's problem, with the replica's named too. */
function bothUnreadable(primary: Unreadable, replica: Unreadable): Unreadable {
  const detail = `${primary.detail ?? primary.problem}; the replica's copy is ${replica.problem}${replica.detail ? ` (${replica.detail})` : ""}`;
  return { ...primary, detail, nextSeq: Math.min(primary.nextSeq, replica.nextSeq) };
}

/** The manifest as a restore reads it: with the replica behind the primary when one is bound. */
export function withReplicaFallback(primary: ManifestReader, replica: ManifestReader | null): ManifestReader {
  return replica ? new ManifestWithFallback(primary, replica) : primary;
}
