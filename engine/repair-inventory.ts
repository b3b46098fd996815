/**
 * The planner's input from the members' shard listings (docs/design.md §9): which member holds
 * which shard of which stripe, who answered just now, and a placement plan per owner and stripe
 * shape. The engine's `planRepairs` and `exposure` take what this builds; the rules about "live"
 * stay in the engine (availability.ts): here only the facts are gathered, checked and cleaned.
 *
 * - A member that answered this round was seen now (online). One that did not answer keeps its
 *   last sighting (so it is `away` within the grace period and its shards count as held, or
 *   `lost` after it); its shards are those of its last listing, or, never listed, presumed from
 *   placement: it holds one of the shards nobody else listed of each stripe it is placed in.
 * - A removed member holds nothing live (the engine repairs around it at once).
 * - Rows are a member's word about its own disk: a stripe's rows must agree on its shape (the
 *   most common shape wins), a member counts once per stripe, an owner never holds its own.
 * - Stripes with a shard stored less than `settleMs` ago are marked settling (a backup may still
 *   be writing them): the planner leaves them alone, exposure counts them.
 */
import { ownerStripePlan } from './delete-authority.ts';
import { EngineError, invariant } from './errors.ts';
import type { GroupState } from './group/fold.ts';
import { memberIdFromPublicKey } from './group/member-id.ts';
import { fromHex } from './group/ops.ts';
import { type PlacementPlan, placeStripe } from './placement.ts';
import type { RepairMember } from './repair.ts';
import { planKey, type StripeHolding } from './stripes.ts';

/** A holder's word about one shard on its disk (the `/pb/shard/1` listing row, docs/protocols.md). */
export interface ShardInfo {
  readonly stripeId: string;
  /** The owner as the trailer names it (the pipeline writes the owner's public key in hex). */
  readonly owner: string;
  readonly k: number;
  readonly m: number;
  readonly index: number;
  readonly bodyBytes: number;
  /** The whole shard file: body and trailer. */
  readonly fileBytes: number;
  /** How long ago the holder stored it (its own clock). */
  readonly ageMs: number;
}

/** The member id of an owner named by its hex public key in shard trailers; null if malformed. */
export function ownerMemberId(ownerText: string): string | null {
  if (!/^[0-9a-f]{64}$/.test(ownerText)) return null;
  try {
    return memberIdFromPublicKey(fromHex(ownerText, 32, 'owner'));
  } catch {
    return null;
  }
}

export interface ListedShard {
  readonly id: string;
  readonly info: ShardInfo | null;
}

export interface MemberListing {
  /** Read once per inventory, in one pass (a runtime may keep them in its own form). */
  readonly rows: Iterable<ListedShard>;
  /** Answered this round (false: an earlier round's listing). */
  readonly fresh: boolean;
}

export interface ShardCopy {
  /** The shard's index in its stripe. */
  readonly index: number;
  readonly member: string;
  readonly shardId: string;
}

/** The copies of shard `index` (a stripe's `copies` are ordered by index). */
export function copiesAt(copies: readonly ShardCopy[], index: number): ShardCopy[] {
  return copies.filter((c) => c.index === index);
}

export interface InventoryStripe {
  readonly stripeId: string;
  /** The owner as the trailers name it (hex public key). */
  readonly ownerText: string;
  /** The owner's member id. */
  readonly owner: string;
  readonly k: number;
  readonly m: number;
  readonly bodyBytes: number;
  readonly fileBytes: number;
  /**
   * Every listed copy, ordered by shard index (a shard may sit on two members mid-migration).
   * One array per stripe: with a map of lists per index, a full plan over 100,000 stripes held
   * 178 MiB, with this 140 MiB (docs/design.md §9).
   */
  readonly copies: readonly ShardCopy[];
}

export interface Inventory {
  readonly members: RepairMember[];
  /** Every stripe found (settling ones too: they count for exposure). */
  readonly stripes: StripeHolding[];
  /** Stripes with a shard stored less than `settleMs` ago: the planner leaves them alone. */
  readonly settlingIds: ReadonlySet<string>;
  readonly byId: ReadonlyMap<string, InventoryStripe>;
  /**
   * Leftovers of a migration that did not finish (the new copy stored, the old not deleted): the
   * same shard also on a member outside the stripe's placement while its holder is in it.
   */
  readonly leftovers: readonly Leftover[];
  readonly plans: ReadonlyMap<string, PlacementPlan>;
  readonly skipped: {
    settling: number;
    ownerGone: number;
    noPlacement: number;
    inconsistentRows: number;
    presumedShards: number;
  };
}

export interface Leftover {
  readonly stripeId: string;
  readonly shardId: string;
  /** The member chosen as the shard's holder (in the placement). */
  readonly keeper: string;
  /** The member with the extra copy (outside the placement). */
  readonly extra: string;
}

export interface InventoryInput {
  readonly self: string;
  readonly state: GroupState;
  readonly nowMs: number;
  /** Per member (self included): its listing, if it ever gave one. */
  readonly listings: ReadonlyMap<string, MemberListing>;
  /** When a member that did not answer now was last seen (ms). */
  readonly lastSeenMs: (member: string) => number;
  readonly settleMs: number;
}

interface Acc {
  rows: { member: string; id: string; info: ShardInfo }[];
  youngestAgeMs: number;
}

type Skipped = Inventory['skipped'];
type Row = Acc['rows'][number];

export function buildInventory(input: InventoryInput): Inventory {
  const { state, self } = input;
  if (!(input.settleMs >= 0)) throw new EngineError('invalid-argument', 'settleMs must be >= 0');
  const current = new Set(state.members.map((m) => m.id));
  const fresh = new Set<string>([self]);
  for (const [member, l] of input.listings) if (l.fresh) fresh.add(member);
  const skipped: Skipped = {
    settling: 0,
    ownerGone: 0,
    noPlacement: 0,
    inconsistentRows: 0,
    presumedShards: 0,
  };
  const { byStripe, usedBytes } = gatherRows(input.listings, current);
  const members = inventoryMembers(input, fresh, usedBytes);
  const silentUnlisted = state.members
    .map((m) => m.id)
    .filter((id) => !fresh.has(id) && !input.listings.has(id));
  const plans = new PlanCache(state);
  const stripes: StripeHolding[] = [];
  const leftovers: Leftover[] = [];
  const settlingIds = new Set<string>();
  const byId = new Map<string, InventoryStripe>();
  // An owner's id is a hash of its key: once per owner, not once per stripe.
  const ownerIds = new Map<string, string | null>();
  const ownerOf = (text: string): string | null => {
    const known = ownerIds.get(text);
    if (known !== undefined) return known;
    const id = ownerMemberId(text);
    ownerIds.set(text, id);
    return id;
  };
  for (const [stripeId, acc] of [...byStripe].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (acc.youngestAgeMs < input.settleMs) {
      skipped.settling++;
      settlingIds.add(stripeId);
    }
    const rows = majorityRows(acc.rows, skipped);
    const first = rows[0]!.info;
    const owner = ownerOf(first.owner);
    if (owner === null || !current.has(owner)) {
      skipped.ownerGone++;
      continue;
    }
    const plan = plans.of(owner, first.k + first.m);
    if (plan === null) {
      skipped.noPlacement++;
      continue;
    }
    const placement = placeStripe(plan, stripeId);
    const copies = copiesByIndex(rows, owner, skipped);
    const holders = chooseHolders(copies, first.k + first.m, fresh, placement);
    leftovers.push(...leftoversOf(stripeId, copies, holders, placement));
    skipped.presumedShards += presumeSilent(holders, silentUnlisted, owner, placement);
    stripes.push({
      stripeId,
      owner,
      dataShards: first.k,
      parityShards: first.m,
      shardBytes: first.fileBytes,
      holders,
    });
    byId.set(stripeId, {
      stripeId,
      ownerText: first.owner,
      owner,
      k: first.k,
      m: first.m,
      bodyBytes: first.bodyBytes,
      fileBytes: first.fileBytes,
      copies,
    });
  }
  invariant(stripes.length === byId.size, 'one inventory entry per stripe kept');
  return { members, stripes, settlingIds, byId, leftovers, plans: plans.plans, skipped };
}

/** Every current member's rows grouped by stripe, and what each member's rows occupy. */
function gatherRows(
  listings: ReadonlyMap<string, MemberListing>,
  current: ReadonlySet<string>,
): { byStripe: Map<string, Acc>; usedBytes: Map<string, number> } {
  const usedBytes = new Map<string, number>();
  const byStripe = new Map<string, Acc>();
  for (const [member, listing] of listings) {
    if (!current.has(member)) continue; // a removed member's old listing holds nothing live
    let used = 0;
    for (const row of listing.rows) {
      if (row.info === null) continue;
      used += row.info.fileBytes;
      let acc = byStripe.get(row.info.stripeId);
      if (acc === undefined) {
        acc = { rows: [], youngestAgeMs: Number.POSITIVE_INFINITY };
        byStripe.set(row.info.stripeId, acc);
      }
      acc.rows.push({ member, id: row.id, info: row.info });
      acc.youngestAgeMs = Math.min(acc.youngestAgeMs, row.info.ageMs);
    }
    usedBytes.set(member, used);
  }
  return { byStripe, usedBytes };
}

/** Current members (seen now if they answered, else at their last sighting) and removed ones. */
function inventoryMembers(
  input: InventoryInput,
  fresh: ReadonlySet<string>,
  usedBytes: ReadonlyMap<string, number>,
): RepairMember[] {
  const { state, nowMs } = input;
  const current = new Set(state.members.map((m) => m.id));
  const members: RepairMember[] = state.members.map((m) => ({
    id: m.id,
    pledgeBytes: m.pledgeBytes,
    usedBytes: usedBytes.get(m.id) ?? 0,
    removed: false,
    lastSeenMs: fresh.has(m.id) ? nowMs : Math.min(input.lastSeenMs(m.id), nowMs - 1),
  }));
  for (const r of state.removed) {
    if (!current.has(r.id)) members.push({ id: r.id, pledgeBytes: 0, removed: true, lastSeenMs: r.atMs });
  }
  return members;
}

/** Placement plans per owner and stripe size, built once per round; null where none fits. */
class PlanCache {
  readonly plans = new Map<string, PlacementPlan>();
  private readonly bad = new Set<string>();
  constructor(private readonly state: GroupState) {}

  of(owner: string, shardsPerStripe: number): PlacementPlan | null {
    const key = planKey(owner, shardsPerStripe);
    if (this.bad.has(key)) return null;
    let plan = this.plans.get(key);
    if (plan === undefined) {
      try {
        plan = ownerStripePlan(this.state.members, owner, shardsPerStripe);
      } catch {
        this.bad.add(key);
        return null;
      }
      this.plans.set(key, plan);
    }
    return plan;
  }
}

/** The rows of the stripe's most common shape (ties: the smallest key); the others are counted. */
function majorityRows(rows: readonly Row[], skipped: Skipped): readonly Row[] {
  // Nearly always every row agrees: then they all are the majority, with no key built per row.
  const one = rows[0]!.info;
  if (rows.every(({ info }) => sameShape(info, one))) return rows;
  const shapes = new Map<string, number>();
  const shapeOf = (i: ShardInfo): string => `${i.owner}|${i.k}|${i.m}|${i.bodyBytes}|${i.fileBytes}`;
  for (const r of rows) shapes.set(shapeOf(r.info), (shapes.get(shapeOf(r.info)) ?? 0) + 1);
  const shape = [...shapes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
  const kept = rows.filter((r) => shapeOf(r.info) === shape);
  skipped.inconsistentRows += rows.length - kept.length;
  return kept;
}

function sameShape(a: ShardInfo, b: ShardInfo): boolean {
  return (
    a.owner === b.owner &&
    a.k === b.k &&
    a.m === b.m &&
    a.bodyBytes === b.bodyBytes &&
    a.fileBytes === b.fileBytes
  );
}

/** Every listed copy ordered by index, a member once per index; an owner never holds its own. */
function copiesByIndex(rows: readonly Row[], owner: string, skipped: Skipped): ShardCopy[] {
  const copies: ShardCopy[] = [];
  for (const r of rows) {
    if (r.member === owner) {
      skipped.inconsistentRows++;
      continue;
    }
    const index = r.info.index;
    if (!copies.some((c) => c.index === index && c.member === r.member))
      copies.push({ index, member: r.member, shardId: r.id });
  }
  // Stable: the copies of one index stay in the order they were listed.
  return copies.sort((a, b) => a.index - b.index);
}

/** One holder per index: answered now first, then in placement, then by id; a member once. */
function chooseHolders(
  copies: readonly ShardCopy[],
  shardsPerStripe: number,
  fresh: ReadonlySet<string>,
  placement: readonly string[],
): (string | null)[] {
  const rank = (c: ShardCopy): string =>
    `${fresh.has(c.member) ? 0 : 1}${placement.includes(c.member) ? 0 : 1}${c.member}`;
  const holders: (string | null)[] = new Array(shardsPerStripe).fill(null);
  const used = new Set<string>();
  for (let i = 0; i < shardsPerStripe; i++) {
    const best = copiesAt(copies, i)
      .filter((c) => !used.has(c.member))
      .sort((a, b) => (rank(a) < rank(b) ? -1 : 1))[0];
    if (best !== undefined) {
      holders[i] = best.member;
      used.add(best.member);
    }
  }
  return holders;
}

/** The same shard kept in placement and also on a member outside it: a migration to finish. */
function leftoversOf(
  stripeId: string,
  copies: readonly ShardCopy[],
  holders: readonly (string | null)[],
  placement: readonly string[],
): Leftover[] {
  const out: Leftover[] = [];
  for (const [i, keeper] of holders.entries()) {
    if (keeper === null || !placement.includes(keeper)) continue;
    const at = copiesAt(copies, i);
    const kept = at.find((c) => c.member === keeper)!;
    for (const c of at) {
      if (c.member !== keeper && c.shardId === kept.shardId && !placement.includes(c.member))
        out.push({ stripeId, shardId: c.shardId, keeper, extra: c.member });
    }
  }
  return out;
}

/**
 * A silent member never listed is presumed to hold one of the unlisted shards of each stripe it
 * is placed in. Fills `holders` in place; returns how many shards were presumed.
 */
function presumeSilent(
  holders: (string | null)[],
  silentUnlisted: readonly string[],
  owner: string,
  placement: readonly string[],
): number {
  let presumed = 0;
  for (const member of silentUnlisted) {
    if (member === owner || holders.includes(member) || !placement.includes(member)) continue;
    const gap = holders.indexOf(null);
    if (gap < 0) break;
    holders[gap] = member;
    presumed++;
  }
  return presumed;
}
