/**
 * Joins and removals during the run: a newcomer with the group's typical pledge, a removed
 * member's shards and own backup dropped, and the placement plans rebuilt (the planner then yields
 * the migrations).
 */
import { chooseCode } from '../engine/index.ts';
import { startMember } from './churn.ts';
import type { Member } from './model.ts';
import { deleteStripe, dropPending, fill, lose, stored } from './uploads.ts';
import { addMember, allowancesById, mark, present, touch, type World } from './world.ts';

/** A new member joins with the geometric mean of the founding pledges. */
export function join(w: World): void {
  if (w.members.length >= 500) return;
  const initial = w.config.pledgesBytes;
  const pledge = Math.round(Math.exp(initial.reduce((a, p) => a + Math.log(p), 0) / initial.length));
  const m = addMember(w, pledge, w.nowMs);
  w.score.joins++;
  mark(w, 'join', m);
  w.series.exposedBytes[m.idx] = w.series.hours.map(() => 0);
  membershipChanged(w);
  m.dataBytes = newcomerDataBytes(w, m);
  m.dataLeftBytes = m.dataBytes;
  if (m.dataBytes === 0) m.firstFullBackupMs = w.nowMs;
  startMember(w, m);
  fill(w, m);
}

/** Its allowance, or the median of the configured data sizes. */
function newcomerDataBytes(w: World, m: Member): number {
  const sizes = w.config.data;
  if (sizes === 'allowance') return allowancesById(w, present(w)).get(m.id)!;
  return [...sizes].sort((a, b) => a - b)[Math.floor(sizes.length / 2)]!;
}

/** Remove the given member, or one at random; skipped when owners would run out of holders. */
export function remove(w: World, chosen: Member | undefined): void {
  const candidates = present(w);
  // Every owner must keep s other members to place on.
  if (candidates.length - 2 < maxShardsInUse(w)) {
    w.score.removalsSkipped++;
    return;
  }
  const m = chosen ?? candidates[Math.floor(w.rng() * candidates.length)]!;
  w.score.removals++;
  mark(w, 'removal', m);
  m.removed = true;
  m.online = false;
  m.lastSeenMs = w.nowMs;
  m.epoch++;
  m.cycleEpoch++;
  w.stalled.delete(m);
  dropHeld(w, m);
  // Its own backup goes at once. pb deletes none of it on its own: the shards stay on their
  // holders, neither repaired nor moved, until the owner deletes them (docs/sim.md).
  dropPending(w, m);
  for (const st of m.own) if (st.state === 'stored') deleteStripe(w, st);
  m.dataLeftBytes = 0;
  dropQueuedFor(w, m);
  m.incomingBytes = 0;
  membershipChanged(w);
}

/** The removed member's shards are gone: their stripes are lost or need repair. */
function dropHeld(w: World, m: Member): void {
  for (const st of m.held) {
    const i = st.holders.indexOf(m.id);
    if (i >= 0 && st.exists[i]) {
      st.exists[i] = false;
      st.existCount--;
    }
    if (st.state === 'stored') {
      if (st.existCount < st.dataShards) lose(w, st);
      else touch(w, st);
    }
  }
}

/** Shards queued for it from other owners: those stripes complete with a gap the planner fills. */
function dropQueuedFor(w: World, m: Member): void {
  for (const o of w.members) {
    const q = o.queues.get(m.idx);
    if (q === undefined) continue;
    o.queues.delete(m.idx);
    for (const up of q) {
      o.queuedShards--;
      up.stripe.pendingShards--;
      if (up.stripe.pendingShards === 0) stored(w, up.stripe);
    }
  }
}

function maxShardsInUse(w: World): number {
  let s = w.code.feasible ? w.code.dataShards + w.code.parityShards : 0;
  for (const key of w.plans.keys()) s = Math.max(s, Number(key.split(':')[0]));
  s = Math.max(s, w.initialCode.k + w.initialCode.m);
  return s;
}

/** New plans and code; every stored stripe gets a look from the planner. */
function membershipChanged(w: World): void {
  w.plans = new Map();
  w.code = chooseCode(w.config.agreement, present(w).length - 1);
  for (const o of w.members) {
    if (o.removed) continue;
    for (let i = o.ownHead; i < o.own.length; i++) {
      const st = o.own[i]!;
      if (st.state === 'stored') w.repairDirty.add(st);
    }
  }
}
