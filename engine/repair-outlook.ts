/**
 * Why a stripe that needs repair cannot get a task now (docs/design.md §9), judged from the
 * members alone, before a round hands out any task. `planRepairs` lists such a stripe as waiting
 * whatever else the round holds, so a caller that keeps stripes across rounds (the simulator) can
 * leave it out of the planner's input and plan it again only when what it waits for may have
 * changed. The same two conditions as the planner's (`planOneRepair` in repair.ts):
 *
 * - `sources`: fewer than k of its listed holders are online, so nobody can read k shards.
 * - `target`: no member can take a shard: every online member with room for one more shard of
 *   this size is its owner or already listed on the stripe. Room only shrinks within a round (the
 *   planner reserves it for the tasks it hands out), so what has no target at the start of a
 *   round has none later in it.
 *
 * Pure: the members' sightings and used bytes are arguments; nothing is cached across calls.
 */
import { availabilityMap, holds, type ResolvedTimes, resolveTimes } from './availability.ts';
import { EngineError } from './errors.ts';
import type { RepairMember, RepairTask } from './repair.ts';
import { type StripeHolding, validateStripe } from './stripes.ts';

export type RepairWait = 'sources' | 'target';

/** The members as a round sees them at its start: who is online and how much room each has. */
export interface RepairView {
  readonly online: ReadonlySet<string>;
  readonly held: ReadonlySet<string>;
  /** Online members with their free bytes (pledge minus used), most room first. */
  readonly room: readonly { readonly id: string; readonly freeBytes: number }[];
}

/**
 * What the stripe needs: `repair` (a shard not held, at least k held), `whole` (every shard
 * held: healthy, or a migration when a holder is outside its placement, see `needsMigration`),
 * or `unrecoverable` (fewer than k held).
 */
export type StripeNeed = 'repair' | 'whole' | 'unrecoverable';

export interface RepairOutlook {
  readonly need: StripeNeed;
  /** Held shards now: a repair's rank in the planner's order (with its id). */
  readonly heldShards: number;
  /** Why the planner would list a repair as waiting; null when it may get a task this round. */
  readonly wait: RepairWait | null;
}

export function repairView(
  members: readonly RepairMember[],
  times: { readonly nowMs: number; readonly graceMs?: number; readonly onlineWindowMs?: number },
): RepairView {
  const resolved: ResolvedTimes = resolveTimes(times);
  const avail = availabilityMap(members, resolved);
  const online = new Set<string>();
  const held = new Set<string>();
  const room: { id: string; freeBytes: number }[] = [];
  for (const m of members) {
    const used = m.usedBytes ?? 0;
    if (!Number.isSafeInteger(m.pledgeBytes) || m.pledgeBytes < 0 || !Number.isSafeInteger(used) || used < 0)
      throw new EngineError(
        'invalid-capacity',
        `pledgeBytes and usedBytes of member ${JSON.stringify(m.id)} must be whole numbers >= 0`,
      );
    const a = avail.get(m.id);
    if (holds(a)) held.add(m.id);
    if (a !== 'online') continue;
    online.add(m.id);
    room.push({ id: m.id, freeBytes: m.pledgeBytes - used });
  }
  room.sort((x, y) => y.freeBytes - x.freeBytes);
  return { online, held, room };
}

/** What the stripe needs and, for a repair, its rank and why it must wait (if it must). */
export function repairOutlook(view: RepairView, st: StripeHolding): RepairOutlook {
  const s = validateStripe(st, 0);
  let heldShards = 0;
  let onlineHolders = 0;
  for (let j = 0; j < s; j++) {
    const h = st.holders[j]!;
    if (h === null || !view.held.has(h)) continue;
    heldShards++;
    if (view.online.has(h)) onlineHolders++;
  }
  if (heldShards < st.dataShards) return { need: 'unrecoverable', heldShards, wait: null };
  if (heldShards === s) return { need: 'whole', heldShards, wait: null };
  if (onlineHolders < st.dataShards) return { need: 'repair', heldShards, wait: 'sources' };
  for (const r of view.room) {
    if (r.freeBytes < st.shardBytes) break;
    if (r.id !== st.owner && !st.holders.includes(r.id)) return { need: 'repair', heldShards, wait: null };
  }
  return { need: 'repair', heldShards, wait: 'target' };
}

/**
 * What ends a repair's wait: at least `atLeast` of `members` online, each with `roomBytes` free
 * when that is set. Until then, and while the stripe's holders and which of them hold stay as
 * they are, `repairOutlook` gives the stripe the same wait.
 * - `sources`: k of its held holders online.
 * - `target`: one member that is neither its owner nor listed online with room for a shard.
 */
export interface RepairWake {
  readonly members: readonly string[];
  readonly atLeast: number;
  readonly roomBytes: number | null;
}

export function repairWake(
  view: RepairView,
  allMemberIds: readonly string[],
  st: StripeHolding,
  wait: RepairWait,
): RepairWake {
  if (wait === 'sources') {
    const members = st.holders.filter((h): h is string => h !== null && view.held.has(h));
    return { members, atLeast: st.dataShards, roomBytes: null };
  }
  const members = allMemberIds.filter((id) => id !== st.owner && !st.holders.includes(id));
  return { members, atLeast: 1, roomBytes: st.shardBytes };
}

/** A stripe that needs repair with its rank (held shards now, as `repairOutlook` gives it). */
export interface RankedRepair {
  readonly stripe: StripeHolding;
  readonly heldShards: number;
}

/**
 * How many of `later` (stripes that need repair and were not in the planner's input, in the
 * planner's order) would get no task if they were added to the input whose plan handed out
 * `repairs` (in the planner's order, under the bound `maxTasks`): the length of the run of
 * `later`, from index `from`, that provably waits or is deferred. Those stripes can be left out of the planner: the
 * plan of the others is the same with them, and the planner would list each as waiting (or as
 * deferred when it ranks after the repair that reached the bound).
 *
 * Why: the planner takes repairs in its order; a stripe that gets no task reserves no room and
 * counts toward no bound, so up to a stripe's place the plan with it is the plan without it. At
 * that place the room left on each online member is its room at the start of the round minus
 * what the repairs ranked before it reserved. The stripe gets no task when fewer than k of its
 * holders are online, when the bound was reached before it, or when every online member that
 * could take a shard (neither its owner nor listed on it) has less room left than a shard. The
 * first stripe not proven this way might get a task and change the room of every later one, so
 * the proof stops there.
 */
export function waitingPrefix(
  view: RepairView,
  repairs: readonly RepairTask[],
  maxTasks: number,
  later: readonly RankedRepair[],
  from = 0,
): number {
  const freeBytes = new Map<string, number>();
  for (const r of view.room) freeBytes.set(r.id, r.freeBytes);
  const last = repairs.length >= maxTasks ? repairs[maxTasks - 1] : undefined;
  let t = 0;
  for (let i = from; i < later.length; i++) {
    const { stripe: st, heldShards } = later[i]!;
    const prev = later[i - 1];
    if (i > from && !ranksBefore(prev!.heldShards, prev!.stripe.stripeId, heldShards, st.stripeId))
      throw new EngineError('invalid-argument', 'later must be in the planner order, each stripe once');
    if (last !== undefined && ranksBefore(last.heldShards, last.stripeId, heldShards, st.stripeId)) continue;
    for (; t < repairs.length; t++) {
      const task = repairs[t]!;
      if (!ranksBefore(task.heldShards, task.stripeId, heldShards, st.stripeId)) break;
      for (const mv of task.moves) freeBytes.set(mv.to, (freeBytes.get(mv.to) ?? 0) - task.shardBytes);
    }
    if (!hasTarget(view, freeBytes, st)) continue;
    return i - from;
  }
  return later.length - from;
}

/** `compareRepairOrder` < 0, written out: the proof runs it for every stripe it is given. */
function ranksBefore(heldA: number, idA: string, heldB: number, idB: string): boolean {
  return heldA < heldB || (heldA === heldB && idA < idB);
}

/** Whether k holders are online and a member that is neither owner nor listed has room for a shard. */
function hasTarget(view: RepairView, freeBytes: ReadonlyMap<string, number>, st: StripeHolding): boolean {
  let onlineHolders = 0;
  for (const h of st.holders) if (h !== null && view.online.has(h)) onlineHolders++;
  if (onlineHolders < st.dataShards) return false;
  for (const [id, free] of freeBytes)
    if (free >= st.shardBytes && id !== st.owner && !st.holders.includes(id)) return true;
  return false;
}
