/**
 * A planning round's input and plan: the stripes that changed go through the engine's
 * `planRepairs`, on the plain path as they are, on the batched path (the default) with the
 * backlog, the set-aside and the deferred migrations that keep a failure's thousands of stripes
 * from being planned again every round (docs/sim.md, Speed). Both give the same plan.
 */
import {
  compareRepairOrder,
  needsMigration,
  type PlacementPlan,
  planKey,
  planRepairs,
  type RepairMember,
  type RepairPlan,
  type RepairTask,
} from '../engine/index.ts';
import { provenMark, SetAside, type WaitMark } from './aside.ts';
import type { Need, Stripe } from './model.ts';
import { planFor, type World } from './world.ts';

export type Planned = RepairPlan & { readonly byStripeId: Map<string, Stripe> };

/**
 * The stripes this round looks at: those that changed, and the waiting ones once someone came
 * online (the batched path lists those itself: `listWaiting`).
 */
export function roundBatch(w: World): Stripe[] {
  const batch: Stripe[] = [];
  for (const st of w.repairDirty) {
    if (st.state === 'stored' && !st.busy) batch.push(st);
    else w.backlog.delete(st);
  }
  if (w.onlineSincePlan && !w.config.batchRepairs) {
    // A waiting stripe that changed since is in the batch already: once only, or the planner
    // would give it two repairs (two jobs for one shard, its target's room counted twice).
    for (const st of w.waiting.keys())
      if (st.state === 'stored' && !st.busy && !w.repairDirty.has(st)) batch.push(st);
    w.waiting.clear();
    w.onlineSincePlan = false;
  }
  w.repairDirty.clear();
  return batch;
}

/**
 * A member's shards stop counting as held when it has been away for the grace period; the
 * simulator marks its stripes when it learns that (the grace event), but a disk that fails while
 * its member is away starts a new grace period, and the member is lost before the event. The
 * plain path sees the new rank at once in the stripes it plans every round: the deferred repairs
 * and migrations. Those of the member's stripes are listed as changed here, and a waiting one's
 * mark is dropped (its wake was judged with the old holders).
 */
function heldChanged(w: World, dirty: Stripe[], held: ReadonlySet<string>, round: number): void {
  const last = w.heldAtLastRound;
  const moved = w.members.filter((m) => held.has(m.id) !== last.has(m.id));
  last.clear();
  for (const id of held) last.add(id);
  if (moved.length === 0) return;
  // Listed: in the round's batch already (`batchRound`).
  for (const m of moved) {
    for (const st of m.held) {
      if (st.state !== 'stored' || st.batchRound === round) continue;
      if (w.waiting.get(st)) w.waiting.set(st, null);
      if (w.backlog.rankOf(st) === undefined && !w.deferredMigrations.has(st)) continue;
      st.batchRound = round;
      dirty.push(st);
    }
  }
}

/**
 * Once someone came online, the waiting stripes that did not change are listed too, after the
 * changed ones, in the order the plain path lists them; one whose mark says it still waits stays
 * where it is in `World.waiting` (waiting.ts: one check per mark), one the last plan proved to
 * wait is returned with its rank (proved again against this round's plan), the others leave it.
 * The stripes listed and returned join the round's batch (its number stamped on them).
 */
function listWaiting(w: World, dirty: Stripe[], aside: SetAside): Ranked[] {
  if (!w.onlineSincePlan) return [];
  w.onlineSincePlan = false;
  const deferred = w.deferredMigrations;
  const round = {
    stillWaits: (mark: WaitMark) => aside.stillWaits(mark),
    proveAgain: (st: Stripe) => !deferred.has(st),
  };
  const { listed, again } = w.waiting.list(dirty, round, w.backlog);
  for (const st of listed) {
    st.batchRound = w.roundNo;
    dirty.push(st);
  }
  for (const x of again) x.stripe.batchRound = w.roundNo;
  return again;
}

/** A stripe that needs repair, with its rank (held shards). */
interface Ranked {
  readonly stripe: Stripe;
  readonly heldShards: number;
}

/** The members as the planner sees them now. */
function repairMembers(w: World): RepairMember[] {
  return w.members.map((m) => ({
    id: m.id,
    pledgeBytes: m.pledgeBytes,
    lastSeenMs: m.online ? w.nowMs : m.lastSeenMs,
    removed: m.removed,
    usedBytes: Math.max(0, w.usedById[m.id]!),
  }));
}

/** The engine's plan for these stripes (null when there are none). */
export function plan(
  w: World,
  batch: readonly Stripe[],
  maxTasks: number,
  deferToDirty = true,
  members = repairMembers(w),
): Planned | null {
  if (batch.length === 0) return null;
  const plans = new Map<string, PlacementPlan>();
  // One plan per owner and shape; the numeric key spares a string per stripe.
  const seen = new Set<number>();
  for (const st of batch) {
    const s = st.dataShards + st.parityShards;
    const shape = st.ownerIdx * 64 + s;
    if (seen.has(shape)) continue;
    seen.add(shape);
    plans.set(planKey(st.owner, s), planFor(w, st.owner, s));
  }
  const result = planRepairs({
    members,
    stripes: batch,
    plans,
    nowMs: w.nowMs,
    graceMs: w.config.graceMs,
    onlineWindowMs: 0,
    maxTasks,
  });
  const byStripeId = new Map<string, Stripe>();
  for (const st of batch) byStripeId.set(st.stripeId, st);
  if (deferToDirty) for (const id of result.deferredStripeIds) w.repairDirty.add(byStripeId.get(id)!);
  return { ...result, byStripeId };
}

/**
 * The batched round. The repairs first: the changed stripes that need one, then the head of the
 * backlog (backlog.ts), more of it until the planner's repairs reach its bound before the
 * backlog's head or the backlog is empty; a repair the engine says must wait is set aside
 * (aside.ts). When the repairs reach the bound, every migration is deferred, as the planner
 * would defer it: the changed whole stripes are only sorted out, and the deferred migrations
 * that did not change stay where they are in `World.deferredMigrations`. Otherwise every stripe
 * goes to the planner once more, in the plain path's order, for the migrations. The planner
 * reaches the same stripes either way.
 */
export function planWithBacklog(w: World, dirty: Stripe[], maxTasks: number): Planned | null {
  const members = repairMembers(w);
  const aside = new SetAside(w, members);
  // The round's batch (the changed stripes, those listed again and those to prove again) is
  // stamped with the round's number.
  const round = ++w.roundNo;
  for (const st of dirty) st.batchRound = round;
  heldChanged(w, dirty, aside.heldIds(), round);
  const changed = dirty.length;
  const again = listWaiting(w, dirty, aside);
  const deferred = w.deferredMigrations;
  // The plain path lists the backlog's changed stripes first (in its order), then the last
  // round's deferred migrations, then the rest of the changed stripes.
  const ranked: { stripe: Stripe; rank: number }[] = [];
  const rest: Stripe[] = [];
  // Waiting stripes listed again that need a repair: left out of the planner while the plan of
  // the others proves they would get no task (`waitingPrefix`).
  const withheld: Ranked[] = [];
  const need = new RoundNeeds(round);
  const repairs: Stripe[] = [];
  let migrations = 0;
  for (let i = 0; i < dirty.length; i++) {
    const st = dirty[i]!;
    const rank = w.backlog.rankOf(st);
    if (rank !== undefined) w.backlog.delete(st);
    const o = aside.offer(st);
    if (o.need === 'repair' && o.wait !== null) continue;
    // A waiting stripe that changed and may now get a task: listed again next time (its mark is gone).
    if (i < changed && w.waiting.has(st)) w.waiting.set(st, null);
    const n =
      o.need === 'whole' ? (migrates(w, st) ? 'migration' : 'none') : o.need === 'repair' ? 'repair' : 'none';
    need.set(st, n);
    if (n === 'migration') migrations++;
    // Healthy and lost stripes get nothing from the planner (it only counts them).
    if (n === 'none') continue;
    if (n === 'repair') {
      if (i >= changed) {
        withheld.push({ stripe: st, heldShards: o.heldShards });
        continue;
      }
      repairs.push(st);
    }
    if (deferred.has(st)) continue;
    if (rank === undefined) rest.push(st);
    else ranked.push({ stripe: st, rank });
  }
  ranked.sort(rankedOrder);
  const first = ranked.map((r) => r.stripe);
  for (const x of again) withheld.push(x);
  withheld.sort(inOrder);
  const released: Stripe[] = [];
  const keep = (st: Stripe) => st.state === 'stored' && !st.busy && st.batchRound !== round;
  const taken: Stripe[] = [];
  // Parked stripes whose wait ended this round are taken (and asked about) as the others.
  w.backlog.wake(aside);
  let want = maxTasks;
  for (;;) {
    while (taken.length < want && w.backlog.size > 0) {
      for (const e of w.backlog.take(want - taken.length, keep)) {
        const o = aside.offer(e.stripe);
        if (o.need !== 'repair' || o.heldShards !== e.heldShards)
          throw new Error(
            `sim invariant violated: stripe ${e.stripe.stripeId} changed in the backlog unmarked`,
          );
        if (o.wait === null) taken.push(e.stripe);
      }
    }
    let result = plan(w, [...repairs, ...released, ...taken], maxTasks, false, members);
    // The withheld stripes not proven to wait go to the planner a chunk at a time (the first of
    // them may get a task); the proof goes on from the next one against the new plan.
    let proven = 0;
    for (let chunk = maxTasks; ; chunk *= 2) {
      proven += aside.waitingPrefix(result?.repairs ?? [], maxTasks, withheld, proven);
      if (proven === withheld.length) break;
      for (const x of withheld.splice(proven, chunk)) released.push(x.stripe);
      result = plan(w, [...repairs, ...released, ...taken], maxTasks, false, members);
    }
    const lastRepair = result?.repairs.length === maxTasks ? result.repairs.at(-1)! : null;
    const head = w.backlog.peek();
    if (
      result !== null &&
      head !== undefined &&
      (lastRepair === null || compareRepairOrder(head, lastRepair) < 0)
    ) {
      want *= 2;
      continue;
    }
    for (const x of withheld) aside.keep(x.stripe, x.heldShards, provenMark(x.heldShards));
    aside.settle(lastRepair);
    if (lastRepair !== null) {
      deferMigrations(w, dirty, need, first);
      return settle(w, result!);
    }
    if (deferred.size === 0 && migrations === 0) return result === null ? null : settle(w, result);
    const listed: Stripe[] = [];
    for (const st of deferred)
      if (
        st.state === 'stored' &&
        !st.busy &&
        (need.has(st) ? need.get(st) !== 'none' : st.batchRound !== round)
      )
        listed.push(st);
    deferred.clear();
    // The migrations come after every repair: planned alone, with the room the repairs reserved
    // taken off and the tasks they took off the bound, they are the ones a plan of all would give.
    const whole = [...first, ...listed, ...rest].filter((st) => need.get(st) !== 'repair');
    const repairTasks = result?.repairs ?? [];
    const moved = plan(w, whole, maxTasks - repairTasks.length, false, afterRepairs(members, repairTasks));
    if (moved === null) return result === null ? null : settle(w, result);
    if (moved.repairs.length > 0)
      throw new Error('sim invariant violated: a stripe listed for migration needed a repair');
    return settle(w, result === null ? moved : joinPlans(result, moved));
  }
}

/** The members with the room the repairs reserved taken: as the planner sees them after its repairs. */
function afterRepairs(members: readonly RepairMember[], repairs: readonly RepairTask[]): RepairMember[] {
  if (repairs.length === 0) return [...members];
  const reserved = new Map<string, number>();
  for (const r of repairs)
    for (const mv of r.moves) reserved.set(mv.to, (reserved.get(mv.to) ?? 0) + r.shardBytes);
  return members.map((m) => {
    const add = reserved.get(m.id);
    return add === undefined ? m : { ...m, usedBytes: (m.usedBytes ?? 0) + add };
  });
}

/** The round's repairs (the bound not reached: none deferred) and its migrations as one plan. */
function joinPlans(repairs: Planned, migrations: Planned): Planned {
  const byStripeId = new Map(repairs.byStripeId);
  for (const [id, st] of migrations.byStripeId) byStripeId.set(id, st);
  return {
    repairs: repairs.repairs,
    migrations: migrations.migrations,
    waitingStripeIds: [...repairs.waitingStripeIds, ...migrations.waitingStripeIds],
    unrecoverableStripeIds: [...repairs.unrecoverableStripeIds, ...migrations.unrecoverableStripeIds],
    deferredStripeIds: [...repairs.deferredStripeIds, ...migrations.deferredStripeIds],
    deferredRepairs: repairs.deferredRepairs,
    counts: {
      stripes: repairs.counts.stripes + migrations.counts.stripes,
      healthy: repairs.counts.healthy + migrations.counts.healthy,
      needRepair: repairs.counts.needRepair + migrations.counts.needRepair,
      needMigration: repairs.counts.needMigration + migrations.counts.needMigration,
      busy: repairs.counts.busy + migrations.counts.busy,
    },
    byStripeId,
  };
}

/** The round's deferred repairs wait in the backlog, its deferred migrations for the next round. */
function settle(w: World, result: Planned): Planned {
  for (const r of result.deferredRepairs) w.backlog.add(result.byStripeId.get(r.stripeId)!, r.heldShards);
  for (const id of result.deferredStripeIds.slice(result.deferredRepairs.length))
    w.deferredMigrations.add(result.byStripeId.get(id)!);
  return result;
}

/** What each stripe of the round needs, kept on the stripe with the round's number: no map per round. */
class RoundNeeds {
  constructor(private readonly round: number) {}

  set(st: Stripe, n: Need): void {
    st.needRound = this.round;
    st.need = n;
  }

  has(st: Stripe): boolean {
    return st.needRound === this.round;
  }

  get(st: Stripe): Need | undefined {
    return st.needRound === this.round ? st.need : undefined;
  }
}

/** A whole stripe with a holder outside its placement. */
function migrates(w: World, st: Stripe): boolean {
  return needsMigration(planFor(w, st.owner, st.dataShards + st.parityShards), st);
}

/**
 * The repairs reached the bound, so the planner defers every migration in its input order: the
 * last round's deferred migrations keep their places unless they changed into something else;
 * the changed stripes that now need one join them (the backlog's ones in front, as listed).
 */
function deferMigrations(
  w: World,
  dirty: readonly Stripe[],
  need: RoundNeeds,
  first: readonly Stripe[],
): void {
  const deferred = w.deferredMigrations;
  const isMigration = (st: Stripe) => need.get(st) === 'migration';
  for (const st of dirty) if (deferred.has(st) && !isMigration(st)) deferred.delete(st);
  const front = first.filter(isMigration);
  for (const st of dirty) if (!deferred.has(st) && !front.includes(st) && isMigration(st)) deferred.add(st);
  if (front.length === 0) return;
  const after = [...deferred];
  deferred.clear();
  for (const st of [...front, ...after]) deferred.add(st);
}

/** The planner's order (`compareRepairOrder`), written out: no rank objects made per comparison. */
function inOrder(a: Ranked, b: Ranked): number {
  if (a.heldShards !== b.heldShards) return a.heldShards - b.heldShards;
  return a.stripe.stripeId < b.stripe.stripeId ? -1 : a.stripe.stripeId > b.stripe.stripeId ? 1 : 0;
}

/** The planner's order for the backlog's changed stripes (by their backlog rank). */
function rankedOrder(a: { stripe: Stripe; rank: number }, b: { stripe: Stripe; rank: number }): number {
  if (a.rank !== b.rank) return a.rank - b.rank;
  return a.stripe.stripeId < b.stripe.stripeId ? -1 : a.stripe.stripeId > b.stripe.stripeId ? 1 : 0;
}
