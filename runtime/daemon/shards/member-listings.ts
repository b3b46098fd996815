/**
 * Members' shard listings for the repair round, asked whole only when they changed.
 *
 * Why: every member lists every other member's catalog each round (5 minutes by default), and a
 * listing grows with what the member holds: a family whose members each hold 200,000 shards would
 * send 200 pages of up to 1024 rows to each of the others every round, whether anything changed
 * or not, and decode as many. A holder now answers a list version first (docs/protocols.md §4:
 * its catalog's epoch and count of changes), and the listing this member keeps from an earlier
 * round is used again while the version is the same: one small request instead of the listing.
 *
 * A reused listing is the rows as they were listed with their ages moved on by the time since:
 * only the ages below `ageMattersBelowMs` are rewritten, since the engine reads a row's age only
 * to let a fresh stripe settle (`settleMs`), and a row at or past it stays past it.
 * A member that keeps no list version (an older one) is listed whole every round, as before.
 * Listings are kept in columns (compact-listing.ts), their stripe ids and owners shared.
 */
import type { GroupState, ListedShard } from '../../../engine/index.ts';
import type { ListOptions } from '../../net/remote-shard-store.ts';
import type { CatalogVersion } from '../../net/shard-protocol.ts';
import { StringPool } from '../../string-pool.ts';
import { type CompactListing, ListingBuilder } from './compact-listing.ts';
import type { ShardCatalog } from './shard-catalog.ts';

/** Bound on one member's whole listing (every page). */
const LIST_TIMEOUT_MS = 60_000;
/** Listings asked at once. */
const LIST_CONCURRENCY = 8;
/** Bound on the stripe ids and owners shared among kept rows (a catalog's bound of shards). */
const MAX_SHARED_STRINGS = 4_000_000;

/** What a member's listing is asked from (a RemoteShardStore). */
export interface ListingSource {
  listVersion(options: { timeoutMs?: number }): Promise<CatalogVersion | null>;
  listEach(owner: null, visit: (row: ListedShard) => void, options: ListOptions): Promise<void>;
}

export interface KeptListing {
  /** The rows as the engine reads them now (ages as of `askedAtMs`), made from `listed` as read. */
  readonly rows: Iterable<ListedShard>;
  /** Answered this round (false: an earlier round's listing). */
  readonly fresh: boolean;
  /** When this member last answered: the listing holds at least what it held then. */
  readonly askedAtMs: number;
  /** The rows as listed whole, at `listedAtMs`, and the version they were listed at (null: none kept). */
  readonly listed: CompactListing;
  readonly listedAtMs: number;
  readonly version: CatalogVersion | null;
  /** True when this round's answer was the version alone (the listing was not asked again). */
  readonly reused: boolean;
}

export interface RefreshOptions {
  readonly nowMs: number;
  readonly timeoutMs: number;
  readonly ageMattersBelowMs: number;
  /** One shared string per stripe id and owner across the listings kept (`MemberListings`). */
  readonly intern?: (text: string) => string;
}

/** The member's listing now: the kept one when its version did not change, else asked whole. */
export async function refreshListing(
  source: ListingSource,
  kept: KeptListing | undefined,
  { nowMs, timeoutMs, ageMattersBelowMs, intern }: RefreshOptions,
): Promise<KeptListing> {
  const version = await source.listVersion({ timeoutMs });
  if (version !== null && kept?.version != null && sameVersion(version, kept.version)) {
    return {
      ...kept,
      // A wall clock set back reads as no time passed (the rows' ages stay as listed).
      rows: kept.listed.aged(Math.max(0, nowMs - kept.listedAtMs), ageMattersBelowMs),
      fresh: true,
      askedAtMs: nowMs,
      reused: true,
    };
  }
  // The version is read before the rows: a change while they are listed shows next round as a
  // version other than this one, so nothing listed half-changed is kept past it.
  const rows = new ListingBuilder();
  await source.listEach(
    null,
    (row) => rows.add(row),
    intern === undefined ? { timeoutMs } : { timeoutMs, intern },
  );
  const listed = rows.finish();
  return { rows: listed, fresh: true, askedAtMs: nowMs, listed, listedAtMs: nowMs, version, reused: false };
}

/** An earlier round's listing kept for a member that did not answer this one. */
export function staleListing(kept: KeptListing): KeptListing {
  return { ...kept, fresh: false, reused: false };
}

/** This member's own listing, from its catalog (loaded), as another member's is asked. */
function catalogSource(catalog: ShardCatalog, now: () => number): ListingSource {
  return {
    listVersion: async () => catalog.version(),
    listEach: async (_owner, visit, { intern = (text) => text }) => {
      const nowMs = now();
      for (const { id, entry } of catalog.all()) {
        if (entry === null) {
          visit({ id, info: null });
          continue;
        }
        const { stripeId, owner, storedAtMs } = entry;
        const ageMs = Math.max(0, nowMs - storedAtMs);
        visit({ id, info: { ...entry, stripeId: intern(stripeId), owner: intern(owner), ageMs } });
      }
    },
  };
}

function sameVersion(a: CatalogVersion, b: CatalogVersion): boolean {
  return a.epoch === b.epoch && a.changes === b.changes;
}

export interface MemberListingsDeps {
  readonly self: string;
  readonly catalog: ShardCatalog;
  readonly remote: (member: string) => ListingSource;
  /** When the daemon last reached each member: answered listings are added. */
  readonly lastSeen: Map<string, number>;
  readonly now: () => number;
  readonly settleMs: number;
}

/** Every member's latest listing (this member's own from its catalog), gathered each round. */
export class MemberListings {
  readonly kept = new Map<string, KeptListing>();
  /** When each member last answered a listing or its version. */
  readonly answeredAtMs = new Map<string, number>();
  /** Which gathering the listings are from (changes each round). */
  version = 0;
  /**
   * Each listed row names its stripe and owner; decoded as they arrive, every row would hold
   * strings of its own (about 170 bytes a row). Shared, a stripe's id is held once for all its
   * holders' rows and an owner's once for all of them.
   */
  private readonly strings = new StringPool(MAX_SHARED_STRINGS);
  private readonly own: ListingSource;

  constructor(private readonly deps: MemberListingsDeps) {
    this.own = catalogSource(deps.catalog, deps.now);
  }

  /** Asks every current member (at most LIST_CONCURRENCY at once); returns those that answered. */
  async gather(state: GroupState): Promise<Set<string>> {
    const { self } = this.deps;
    await this.deps.catalog.load();
    this.kept.set(self, await refreshListing(this.own, this.kept.get(self), this.refreshOptions()));
    const answered = new Set<string>([self]);
    const others = state.members.map((m) => m.id).filter((id) => id !== self);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < others.length) {
        const member = others[next++]!;
        if (await this.ask(member)) answered.add(member);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, others.length) }, worker));
    // Listings of members no longer in the group are dropped (the engine repairs around them).
    const current = new Set(state.members.map((m) => m.id));
    for (const member of [...this.kept.keys()]) if (!current.has(member)) this.kept.delete(member);
    this.boundStrings();
    this.version++;
    return answered;
  }

  /**
   * The shared strings of stripes and owners no listing names any more are dropped once they
   * outnumber the rows kept (rows keep theirs; later listings share anew).
   */
  private boundStrings(): void {
    let rows = 0;
    for (const listing of this.kept.values()) rows += listing.listed.length;
    if (this.strings.size > rows + 1024) this.strings.clear();
  }

  /** Whether every current member answered this round with the listing it had before. */
  allUnchanged(state: GroupState, answered: ReadonlySet<string>): boolean {
    return state.members.every((m) => answered.has(m.id) && this.kept.get(m.id)?.reused === true);
  }

  private refreshOptions(): RefreshOptions {
    return {
      nowMs: this.deps.now(),
      timeoutMs: LIST_TIMEOUT_MS,
      ageMattersBelowMs: this.deps.settleMs,
      intern: this.strings.intern,
    };
  }

  private async ask(member: string): Promise<boolean> {
    const kept = this.kept.get(member);
    let timer: NodeJS.Timeout | undefined;
    try {
      const listing = await Promise.race([
        refreshListing(this.deps.remote(member), kept, this.refreshOptions()),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no listing in time')), LIST_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
      this.kept.set(member, listing);
      const atMs = this.deps.now();
      this.answeredAtMs.set(member, atMs);
      this.deps.lastSeen.set(member, Math.max(atMs, this.deps.lastSeen.get(member) ?? 0));
      return true;
    } catch {
      if (kept !== undefined) this.kept.set(member, staleListing(kept));
      return false;
    }
  }
}
