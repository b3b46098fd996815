/**
 * The stripes whose owner lately deleted shards on this member (retention, gc). A repair or a
 * migration that read a stripe before its owner's prune reached every holder would otherwise put
 * a rebuilt shard back after the prune: a shard of nothing, kept until the owner's next prune.
 * So while a stripe is remembered here, a put of one of its shards from anyone but its owner is
 * refused `gone`, and a get of a shard the owner deleted answers `gone` instead of `not-found`
 * (docs/protocols.md §4). Bounded in count and in age; in memory (repairs last minutes; a
 * restart ends the ones in flight).
 */

/** How long an owner's delete is remembered. */
export const OWNER_DELETE_MEMORY_MS = 6 * 3600_000;
/** Bound on the stripes (and on the shards) remembered; the oldest go first. */
export const MAX_OWNER_DELETES = 200_000;

export class OwnerDeletes {
  /** stripe id -> when its owner last deleted one of its shards here (insertion = age order). */
  private readonly stripes = new Map<string, number>();
  /** shard id -> its stripe id, for the shards deleted. */
  private readonly shards = new Map<string, string>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxEntries = MAX_OWNER_DELETES,
  ) {
    if (!(maxEntries >= 1)) throw new Error('OwnerDeletes: maxEntries must be >= 1');
  }

  /** The owner deleted shard `shardId` of `stripeId` here. */
  record(stripeId: string, shardId: string): void {
    this.stripes.delete(stripeId);
    this.stripes.set(stripeId, this.now());
    this.shards.delete(shardId);
    this.shards.set(shardId, stripeId);
    trim(this.stripes, this.maxEntries);
    trim(this.shards, this.maxEntries);
  }

  /** How long ago the owner deleted a shard of `stripeId` here, or null (not lately). */
  stripeDeletedAgoMs(stripeId: string): number | null {
    const atMs = this.stripes.get(stripeId);
    if (atMs === undefined) return null;
    const agoMs = Math.max(0, this.now() - atMs);
    if (agoMs <= OWNER_DELETE_MEMORY_MS) return agoMs;
    this.stripes.delete(stripeId);
    return null;
  }

  /** The stripe of shard `shardId` when its owner deleted it here lately, or null. */
  deletedShardStripe(shardId: string): string | null {
    const stripeId = this.shards.get(shardId);
    if (stripeId === undefined) return null;
    if (this.stripeDeletedAgoMs(stripeId) !== null) return stripeId;
    this.shards.delete(shardId);
    return null;
  }

  /** The owner stores shards of `stripeId` again: its own puts are never refused. */
  forgetStripe(stripeId: string): void {
    this.stripes.delete(stripeId);
  }

  get size(): number {
    return this.stripes.size;
  }
}

function trim<V>(map: Map<string, V>, max: number): void {
  for (const key of map.keys()) {
    if (map.size <= max) return;
    map.delete(key);
  }
}
