/**
 * Repair planning (docs/design.md §9): which stripes to repair, in what order, onto whom, by whom;
 * then the migrations that a join or a pledge change calls for. Pure: time is an argument.
 *
 * Rules, in one place:
 * - A shard is held when its holder is not removed and was seen within the grace period
 *   (see availability.ts). A stripe with a shard that is not held needs repair.
 * - Most endangered first: fewest held shards, then stripe id (a total order, so every member
 *   computes the same plan).
 * - New holders come from placement: the stripe's placement set minus the members already
 *   listed as holders, in placement order. A placement member that cannot take the shard now
 *   (offline, full) is replaced by the next members in rendezvous order of
 *   `pairUniform(stripe, member)`; the later migration moves the shard back into placement.
 * - The repairer is the online holder with the smallest `pairUniform(stripe, member)`; it reads
 *   k shards (its own and the next k-1 online holders in that order). No owner is needed.
 * - Migrations: a held shard whose holder is no longer in the placement set moves to a placement
 *   member that holds nothing of the stripe. The old copy is deleted only after the new holder
 *   acknowledged it, so the caller keeps listing the old holder until then (both count as live).
 *   Migrations come after every repair, under the same task bound.
 */
import {
  type Availability,
  availabilityMap,
  holds,
  type MemberSighting,
  resolveTimes,
} from './availability.ts';
import { EngineError, invariant } from './errors.ts';
import { memberKey, pairUniform, stripeKey, type U64 } from './hash64.ts';
import { type PlacementPlan, placeStripe } from './placement.ts';
import { planKey, type StripeHolding, validateStripe, validateStripeList } from './stripes.ts';

export const DEFAULT_MAX_TASKS = 1000;
export const MAX_TASKS_LIMIT = 100_000;

export interface RepairMember extends MemberSighting {
  readonly pledgeBytes: number;
  /** Bytes of other members' shards stored now (0 when not given); targets never exceed the pledge. */
  readonly usedBytes?: number | undefined;
}

export interface RepairInput {
  readonly members: readonly RepairMember[];
  readonly stripes: readonly StripeHolding[];
  /** Placement plan per owner and stripe shape, keyed by `planKey(owner, k + m)`, built WITHOUT the owner. */
  readonly plans: ReadonlyMap<string, PlacementPlan> | Readonly<Record<string, PlacementPlan>>;
  readonly nowMs: number;
  readonly graceMs?: number | undefined;
  readonly onlineWindowMs?: number | undefined;
  readonly maxTasks?: number | undefined;
  /** Stripes with a transfer under way: left alone by this call. */
  readonly busyStripeIds?: ReadonlySet<string> | undefined;
}

export interface ShardMove {
  readonly shardIndex: number;
  readonly to: string;
}

export interface RepairTask {
  readonly stripeId: string;
  readonly owner: string;
  /** Held shards before the repair: the priority key. */
  readonly heldShards: number;
  /** The one member that rebuilds the stripe: an online holder. */
  readonly repairer: string;
  /** The k online holders read to decode, repairer first. */
  readonly sources: readonly string[];
  readonly moves: readonly ShardMove[];
  readonly shardBytes: number;
  /** Bytes the repair moves: k-1 shards to the repairer plus one per new shard. */
  readonly transferBytes: number;
}

export interface MigrationTask {
  readonly stripeId: string;
  readonly owner: string;
  readonly shardIndex: number;
  readonly from: string;
  readonly to: string;
  readonly shardBytes: number;
}

/** Where a stripe that needs repair stands in the planner's order. */
export interface RepairRank {
  readonly stripeId: string;
  /** Held shards now: fewer comes first. */
  readonly heldShards: number;
}

/**
 * The planner's order among stripes that need repair: most endangered (fewest held shards) first,
 * then stripe id. A total order, so every member computes the same plan; a caller that keeps a
 * backlog across rounds orders it with this same function.
 */
export function compareRepairOrder(a: RepairRank, b: RepairRank): number {
  return a.heldShards - b.heldShards || (a.stripeId < b.stripeId ? -1 : a.stripeId > b.stripeId ? 1 : 0);
}

export interface RepairPlan {
  readonly repairs: readonly RepairTask[];
  readonly migrations: readonly MigrationTask[];
  /** Need work but cannot start now (too few online holders, or no target online with room). */
  readonly waitingStripeIds: readonly string[];
  /** Fewer than k held shards: cannot be rebuilt from what the group holds. */
  readonly unrecoverableStripeIds: readonly string[];
  /** Need work but left for a later call by `maxTasks`. */
  readonly deferredStripeIds: readonly string[];
  /** The deferred stripes that need repair (not migration), in the planner's order, with their rank. */
  readonly deferredRepairs: readonly RepairRank[];
  readonly counts: {
    readonly stripes: number;
    readonly healthy: number;
    readonly needRepair: number;
    readonly needMigration: number;
    readonly busy: number;
  };
}

/**
 * Placement sets memoised per plan object (plans are immutable values; the cache dies with the
 * plan). Pure: the same plan and stripe id always give the same set. Bounded per plan.
 */
const PLACEMENT_CACHE_LIMIT = 1_000_000;
const placementCache = new WeakMap<PlacementPlan, Map<string, readonly string[]>>();

function placementOf(plan: PlacementPlan, stripeId: string): readonly string[] {
  let cache = placementCache.get(plan);
  if (cache === undefined) {
    cache = new Map();
    placementCache.set(plan, cache);
  }
  let set = cache.get(stripeId);
  if (set === undefined) {
    set = placeStripe(plan, stripeId);
    if (cache.size >= PLACEMENT_CACHE_LIMIT) cache.clear();
    cache.set(stripeId, set);
  }
  return set;
}

function planFor(plans: RepairInput['plans'], st: StripeHolding, s: number): PlacementPlan {
  const key = planKey(st.owner, s);
  const plan = plans instanceof Map ? plans.get(key) : (plans as Record<string, PlacementPlan>)[key];
  if (plan === undefined) {
    throw new EngineError(
      'invalid-plan',
      `no placement plan ${JSON.stringify(key)} for stripe ${JSON.stringify(st.stripeId)}`,
    );
  }
  if (plan.shardsPerStripe !== s) {
    throw new EngineError(
      'invalid-plan',
      `plan ${JSON.stringify(key)} places ${plan.shardsPerStripe} shards, not ${s}`,
    );
  }
  return plan;
}

interface Context {
  readonly avail: Map<string, Availability>;
  readonly byId: Map<string, RepairMember>;
  /** Bytes used now plus bytes promised by tasks of this call. */
  readonly usedBytes: Map<string, number>;
  readonly keys: Map<string, U64>;
  /** Online, not removed members, sorted by id: fallback candidates. */
  readonly onlineIds: readonly string[];
}

function keyOf(ctx: Context, id: string): U64 {
  let k = ctx.keys.get(id);
  if (k === undefined) {
    k = memberKey(id);
    ctx.keys.set(id, k);
  }
  return k;
}

function fits(ctx: Context, id: string, shardBytes: number): boolean {
  const m = ctx.byId.get(id);
  if (m === undefined) return false;
  return (ctx.usedBytes.get(id) ?? 0) + shardBytes <= m.pledgeBytes;
}

function reserve(ctx: Context, id: string, shardBytes: number): void {
  ctx.usedBytes.set(id, (ctx.usedBytes.get(id) ?? 0) + shardBytes);
}

/** Members sorted by rendezvous score for this stripe (ascending), ties by id. */
function byScore(ctx: Context, sk: U64, ids: readonly string[]): string[] {
  const scored = ids.map((id) => ({ id, u: pairUniform(sk, keyOf(ctx, id)) }));
  scored.sort((a, b) => a.u - b.u || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return scored.map((x) => x.id);
}

/** New holders for `needed` shards: placement order first, then rendezvous fallback. */
function chooseTargets(
  ctx: Context,
  st: StripeHolding,
  sk: U64,
  placement: readonly string[],
  needed: number,
): string[] {
  const listed = new Set<string>();
  for (const h of st.holders) if (h !== null) listed.add(h);
  const targets: string[] = [];
  for (const id of placement) {
    if (targets.length === needed) return targets;
    if (!listed.has(id) && ctx.avail.get(id) === 'online' && fits(ctx, id, st.shardBytes)) targets.push(id);
  }
  if (targets.length === needed) return targets;
  // Rendezvous fallback: the (needed - found) online members with room and the smallest scores.
  const want = needed - targets.length;
  const best: { id: string; u: number }[] = [];
  for (const id of ctx.onlineIds) {
    if (id === st.owner || listed.has(id) || targets.includes(id) || !fits(ctx, id, st.shardBytes)) continue;
    const u = pairUniform(sk, keyOf(ctx, id));
    if (best.length === want && u >= best[want - 1]!.u) continue;
    let pos = best.length < want ? best.length : want - 1;
    while (pos > 0 && best[pos - 1]!.u > u) {
      best[pos] = best[pos - 1]!;
      pos--;
    }
    best[pos] = { id, u };
  }
  for (const b of best) targets.push(b.id);
  return targets;
}

interface RepairCandidate extends RepairRank {
  readonly st: StripeHolding;
  readonly s: number;
  readonly missing: readonly number[];
}

export function planRepairs(input: RepairInput): RepairPlan {
  if (input === null || typeof input !== 'object')
    throw new EngineError('invalid-argument', 'input must be an object');
  const times = resolveTimes(input);
  const maxTasks = input.maxTasks ?? DEFAULT_MAX_TASKS;
  if (!Number.isInteger(maxTasks) || maxTasks < 1 || maxTasks > MAX_TASKS_LIMIT) {
    throw new EngineError(
      'invalid-argument',
      `maxTasks must be a whole number from 1 to ${MAX_TASKS_LIMIT}, got ${maxTasks}`,
    );
  }
  if (input.plans === null || typeof input.plans !== 'object') {
    throw new EngineError('invalid-argument', 'plans must be a Map or a record of placement plans');
  }
  const ctx = repairContext(input.members, availabilityMap(input.members, times));
  validateStripeList(input.stripes);
  const busy = input.busyStripeIds ?? new Set<string>();
  if (!(busy instanceof Set))
    throw new EngineError('invalid-argument', 'busyStripeIds must be a Set of stripe ids');
  const sorted = sortStripes(input, ctx.avail, busy);
  const work = assignTasks(ctx, input.plans, sorted, maxTasks);
  invariant(work.repairs.length + work.migrations.length <= maxTasks, 'task bound');
  return {
    ...work,
    unrecoverableStripeIds: sorted.unrecoverable,
    counts: {
      stripes: input.stripes.length,
      healthy: sorted.healthy,
      needRepair: sorted.repairs.length,
      needMigration: sorted.migrations.length,
      busy: sorted.busy,
    },
  };
}

/** Members by id with their used bytes checked, and who is online. */
function repairContext(members: readonly RepairMember[], avail: Context['avail']): Context {
  const byId = new Map<string, RepairMember>();
  const usedBytes = new Map<string, number>();
  for (const m of members) {
    if (!Number.isSafeInteger(m.pledgeBytes) || m.pledgeBytes < 0) {
      throw new EngineError(
        'invalid-capacity',
        `pledgeBytes of member ${JSON.stringify(m.id)} must be a whole number >= 0`,
      );
    }
    const used = m.usedBytes ?? 0;
    if (!Number.isSafeInteger(used) || used < 0) {
      throw new EngineError(
        'invalid-capacity',
        `usedBytes of member ${JSON.stringify(m.id)} must be a whole number >= 0`,
      );
    }
    byId.set(m.id, m);
    usedBytes.set(m.id, used);
  }
  const onlineIds = [...byId.keys()].filter((id) => avail.get(id) === 'online').sort();
  return { avail, byId, usedBytes, keys: new Map(), onlineIds };
}

interface SortedStripes {
  /** Need repair, fewest held shards first (then by id). */
  readonly repairs: RepairCandidate[];
  /** Whole but (partly) outside their placement. */
  readonly migrations: { st: StripeHolding; s: number; placement: readonly string[] }[];
  readonly unrecoverable: string[];
  readonly healthy: number;
  readonly busy: number;
}

function insidePlacement(st: StripeHolding, placement: readonly string[]): boolean {
  return st.holders.every((h) => h !== null && placement.includes(h));
}

/**
 * Whether a stripe that holds every shard needs a migration: some holder is outside its
 * placement set (the plan of its owner and shape, as `planRepairs` takes it).
 */
export function needsMigration(plan: PlacementPlan, st: StripeHolding): boolean {
  return !insidePlacement(st, placementOf(plan, st.stripeId));
}

/** Each stripe is busy, unrecoverable, in need of repair, of migration, or healthy. */
function sortStripes(input: RepairInput, avail: Context['avail'], busy: ReadonlySet<string>): SortedStripes {
  const out: SortedStripes = { repairs: [], migrations: [], unrecoverable: [], healthy: 0, busy: 0 };
  let healthy = 0;
  let busyCount = 0;
  for (const [i, st] of input.stripes.entries()) {
    const s = validateStripe(st, i);
    if (busy.has(st.stripeId)) {
      busyCount++;
      continue;
    }
    const missing: number[] = [];
    for (let j = 0; j < s; j++) {
      const h = st.holders[j]!;
      if (h === null || !holds(avail.get(h))) missing.push(j);
    }
    const held = s - missing.length;
    if (held < st.dataShards) out.unrecoverable.push(st.stripeId);
    else if (missing.length > 0)
      out.repairs.push({ st, s, stripeId: st.stripeId, heldShards: held, missing });
    else {
      const placement = placementOf(planFor(input.plans, st, s), st.stripeId);
      if (insidePlacement(st, placement)) healthy++;
      else out.migrations.push({ st, s, placement });
    }
  }
  out.repairs.sort(compareRepairOrder);
  return { ...out, healthy, busy: busyCount };
}

/** Repairs first, then migrations, up to `maxTasks`; the rest wait or are deferred. */
function assignTasks(
  ctx: Context,
  plans: RepairInput['plans'],
  sorted: SortedStripes,
  maxTasks: number,
): Pick<RepairPlan, 'repairs' | 'migrations' | 'waitingStripeIds' | 'deferredStripeIds' | 'deferredRepairs'> {
  const repairs: RepairTask[] = [];
  const migrations: MigrationTask[] = [];
  const waiting: string[] = [];
  const deferred: string[] = [];
  const deferredRepairs: RepairRank[] = [];
  let tasks = 0;
  for (const c of sorted.repairs) {
    if (tasks >= maxTasks) {
      deferred.push(c.stripeId);
      deferredRepairs.push({ stripeId: c.stripeId, heldShards: c.heldShards });
      continue;
    }
    const task = planOneRepair(ctx, plans, c);
    if (task === null) waiting.push(c.st.stripeId);
    else {
      repairs.push(task);
      tasks++;
    }
  }
  for (const c of sorted.migrations) {
    if (tasks >= maxTasks) {
      deferred.push(c.st.stripeId);
      continue;
    }
    const moves = planMigrations(ctx, c.st, c.placement, maxTasks - tasks);
    if (moves.length === 0) waiting.push(c.st.stripeId);
    for (const mv of moves) migrations.push(mv);
    tasks += moves.length;
  }
  return { repairs, migrations, waitingStripeIds: waiting, deferredStripeIds: deferred, deferredRepairs };
}

/**
 * Whether `chooseTargets` can find anyone: an online member with room that is not listed on the
 * stripe (nor its owner, unless the placement names it). The cheap answer first: once a round's
 * tasks have filled the few members a big repair can go to, every later stripe waits, and this
 * spares each of them the hashing and sorting of a full try.
 */
function anyTarget(ctx: Context, st: StripeHolding, placement: readonly string[]): boolean {
  for (const id of ctx.onlineIds) {
    if (!fits(ctx, id, st.shardBytes) || st.holders.includes(id)) continue;
    if (id !== st.owner || placement.includes(id)) return true;
  }
  return false;
}

function planOneRepair(ctx: Context, plans: RepairInput['plans'], c: RepairCandidate): RepairTask | null {
  const { st, s } = c;
  const onlineHolders: string[] = [];
  for (const h of st.holders) if (h !== null && ctx.avail.get(h) === 'online') onlineHolders.push(h);
  if (onlineHolders.length < st.dataShards) return null;
  const placement = placementOf(planFor(plans, st, s), st.stripeId);
  if (!anyTarget(ctx, st, placement)) return null;
  const sk = stripeKey(st.stripeId);
  const targets = chooseTargets(ctx, st, sk, placement, c.missing.length);
  if (targets.length === 0) return null;
  const sources = byScore(ctx, sk, onlineHolders).slice(0, st.dataShards);
  const moves: ShardMove[] = targets.map((to, j) => {
    reserve(ctx, to, st.shardBytes);
    return { shardIndex: c.missing[j]!, to };
  });
  invariant(sources.length === st.dataShards, 'k sources');
  return {
    stripeId: st.stripeId,
    owner: st.owner,
    heldShards: c.heldShards,
    repairer: sources[0]!,
    sources,
    moves,
    shardBytes: st.shardBytes,
    transferBytes: (st.dataShards - 1 + moves.length) * st.shardBytes,
  };
}

function planMigrations(
  ctx: Context,
  st: StripeHolding,
  placement: readonly string[],
  budget: number,
): MigrationTask[] {
  const listed = new Set<string>();
  for (const h of st.holders) if (h !== null) listed.add(h);
  const to = placement.filter(
    (id) => !listed.has(id) && ctx.avail.get(id) === 'online' && fits(ctx, id, st.shardBytes),
  );
  const out: MigrationTask[] = [];
  for (let j = 0; j < st.holders.length && out.length < Math.min(budget, to.length); j++) {
    const from = st.holders[j]!;
    invariant(from !== null, 'a migration candidate holds every shard');
    if (placement.includes(from) || ctx.avail.get(from) !== 'online') continue;
    const dest = to[out.length]!;
    reserve(ctx, dest, st.shardBytes);
    out.push({
      stripeId: st.stripeId,
      owner: st.owner,
      shardIndex: j,
      from,
      to: dest,
      shardBytes: st.shardBytes,
    });
  }
  return out;
}
