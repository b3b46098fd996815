/**
 * Where the owner's shards are now (docs/group-backup.md, "Repair").
 *
 * The owner's index records each shard's holder at backup time. Repairs (a holder lost or
 * removed: the repairer rebuilds the shard, identical, same id, onto another member) and
 * migrations (placement moved the shard) change that without the owner. Before a restore or a
 * prune the owner asks every current holder for its listing of this owner's shards (one
 * owner-filtered `/pb/shard/1` list per member, from the holder's catalog) and moves each index
 * row whose shard now sits elsewhere to a member that lists it. Reads and deletes then go
 * straight to the shard: no failed attempt at a removed or offline old holder, no Reed-Solomon
 * rebuild for a shard that exists, no delete sent to nobody.
 *
 * A member that does not answer keeps its rows (it may just be offline) and is reported; a row
 * whose shard nobody lists stays as it is (the read falls back to the stripe's other shards).
 * The decision is the engine's `relocateShards`; status applies the same function to the repair
 * worker's latest listings (status-source.ts), so exposure follows repairs without a write here.
 */
import { relocateShards } from '../../../engine/index.ts';
import type { IndexDb } from '../../pipeline/index-db.ts';
import { type ShardDirectory, type ShardStore, ShardStoreError } from '../../store/shard-store.ts';

/** Listings asked at once. */
const LOCATE_CONCURRENCY = 8;
/** Bound on one member's whole listing. */
export const LOCATE_TIMEOUT_MS = 60_000;

export interface LocateReport {
  /** Members whose listing arrived. */
  listed: string[];
  /** Members that did not answer ("id: reason"). */
  unreachable: string[];
  /** Index rows moved to the member that holds the shard now. */
  moved: number;
  /** Rows whose shard no answering member listed (not even the recorded holder). */
  missing: number;
}

/** Where shards are, from members' latest listings (status applies it to the owner's index). */
export interface ShardLocations {
  /** Shard id -> the members that list it. */
  readonly where: ReadonlyMap<string, readonly string[]>;
  /** Members whose listing (the latest round's or an earlier one) is known. */
  readonly listed: ReadonlySet<string>;
  /** When each of those listings was asked (a listing says nothing of stripes committed later). */
  readonly listedAtMs: ReadonlyMap<string, number>;
  /** Which listing pass these are from (changes when the listings do). */
  readonly version: number;
}

/**
 * The repair worker's listings (member -> its rows) as shard locations: only the shards whose
 * trailer names an owner `isMine` accepts (and those without a trailer), since status looks up
 * this owner's shards alone; every listed shard of the group would be a map entry per row.
 */
export function locationsFrom(
  listings: ReadonlyMap<
    string,
    {
      readonly listed: { idsWhere(keep: (ownerText: string) => boolean): Iterable<string> };
      readonly askedAtMs: number;
    }
  >,
  version: number,
  isMine: (ownerText: string) => boolean,
): ShardLocations {
  const where = new Map<string, string[]>();
  const listedAtMs = new Map<string, number>();
  for (const [member, listing] of listings) {
    listedAtMs.set(member, listing.askedAtMs);
    for (const id of listing.listed.idsWhere(isMine)) {
      const at = where.get(id);
      if (at === undefined) where.set(id, [member]);
      else if (!at.includes(member)) at.push(member);
    }
  }
  return { where, listed: new Set(listings.keys()), listedAtMs, version };
}

/** Lists `member`'s shards of this owner (ids only are used). */
export type ListOwnerShards = (member: string) => Promise<readonly { id: string }[]>;

export async function locateShards(
  index: IndexDb,
  members: readonly string[],
  listOf: ListOwnerShards,
): Promise<LocateReport> {
  const where = new Map<string, string[]>();
  const listed = new Set<string>();
  const unreachable: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < members.length) {
      const member = members[next++]!;
      let timer: NodeJS.Timeout | undefined;
      try {
        const rows = await Promise.race([
          listOf(member),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('no listing in time')), LOCATE_TIMEOUT_MS);
          }),
        ]);
        for (const r of rows) {
          const at = where.get(r.id);
          if (at === undefined) where.set(r.id, [member]);
          else at.push(member);
        }
        listed.add(member);
      } catch (error) {
        unreachable.push(`${member}: ${(error as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(LOCATE_CONCURRENCY, members.length) }, worker));
  const { moves, missing } = relocateShards(index.shardLocations(), where, listed);
  for (const m of moves) index.moveShard(m.seq, m.idx, m.shardId, m.to);
  const moved = moves.length;
  return { listed: [...listed].sort(), unreachable, moved, missing };
}

/**
 * The group's directory for deletes: a shard row naming a member that is no longer a holder
 * (removed from the group) has nobody to ask; its delete is a no-op (the member's copy left the
 * group with it) and a read of it fails at once with `not-found`.
 */
export class FormerMembersTolerant implements ShardDirectory {
  /** Deletes skipped because the row named a former member. */
  skippedDeletes = 0;
  constructor(private readonly inner: ShardDirectory) {}
  members(): string[] {
    return this.inner.members();
  }
  storeFor(id: string): ShardStore {
    if (this.inner.members().includes(id)) return this.inner.storeFor(id);
    const gone = async (): Promise<never> => {
      throw new ShardStoreError('not-found', `member ${id} is no longer in the group`);
    };
    return {
      put: gone,
      get: gone,
      has: async () => false,
      list: async () => [],
      delete: async () => {
        this.skippedDeletes++;
      },
      usage: gone,
    };
  }
}
