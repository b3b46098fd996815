/**
 * Owners writing their data: cutting it into stripes placed with `chooseStripe`, uploading the
 * shards one at a time, the daily change (new stripes in, the oldest out), and what happens to a
 * stripe when it is stored, deleted or lost.
 */
import { chooseStripe } from '../engine/index.ts';
import { DAY_MS, type Member, type Stripe, type Transfer, UPLOAD_LOOKAHEAD_STRIPES } from './model.ts';
import { closeWindow } from './repair-window.ts';
import { detectionMs, integrateStripes, member, planFor, release, unstore, type World } from './world.ts';

/** Gone stripes kept at the head of an owner's list before it is trimmed (trimOwn). */
const OWN_TRIM_MIN = 1024;

export function daily(w: World, m: Member): void {
  const change = Math.round(m.dataBytes * w.config.dailyChange);
  if (!m.failed && m.firstFullBackupMs !== null) {
    m.dataLeftBytes += change;
    m.deleteDebtBytes += change;
  }
  m.full = false;
  fill(w, m);
  w.queue.push(w.nowMs + DAY_MS, { kind: 'daily', member: m.idx });
}

/** Cut the owner's waiting data into stripes, a few ahead of its uploads. */
export function fill(w: World, m: Member): void {
  if (m.failed || m.removed || m.full || !w.code.feasible) return;
  const k = w.code.dataShards;
  const s = k + w.code.parityShards;
  for (let guard = 0; guard < UPLOAD_LOOKAHEAD_STRIPES * 2; guard++) {
    if (m.dataLeftBytes <= 0 || m.queuedShards >= UPLOAD_LOOKAHEAD_STRIPES * s) break;
    if (!cutStripe(w, m, k, s)) {
      m.full = true;
      break;
    }
  }
  pump(w, m);
}

/**
 * An array of `n` copies of `x`, built by pushing: `new Array(n).fill(x)` gives a holey array,
 * whose every read (the planner reads holders all the time) checks for holes.
 */
function packed<T>(n: number, x: T): T[] {
  const a: T[] = [];
  for (let i = 0; i < n; i++) a.push(x);
  return a;
}

/** One new stripe of the owner's data, its shards queued for their holders; false if they are full. */
function cutStripe(w: World, m: Member, k: number, s: number): boolean {
  const shard = w.shardBytes;
  const choice = chooseStripe(planFor(w, m.id, s), `${m.id}:${m.nextSeq}`, w.usedById, shard);
  if (choice.members.some((id) => w.usedById[id]! + shard > member(w, id).pledgeBytes)) return false;
  m.nextSeq++;
  const st: Stripe = {
    stripeId: choice.stripeId,
    owner: m.id,
    ownerIdx: m.idx,
    dataShards: k,
    parityShards: s - k,
    shardBytes: shard,
    holders: packed<string | null>(s, null),
    exists: packed(s, false),
    existCount: 0,
    state: 'pending',
    pendingShards: s,
    busy: false,
    exposedBytes: 0,
    waitSeq: -1,
    waitMark: null,
    waitFiled: 0,
    backlogRank: -1,
    backlogQueued: 0,
    parked: null,
    batchRound: -1,
    needRound: -1,
    need: 'none',
  };
  choice.members.forEach((id, index) => {
    const t = member(w, id);
    t.incomingBytes += shard;
    w.usedById[id]! += shard;
    let q = m.queues.get(t.idx);
    if (q === undefined) {
      q = [];
      m.queues.set(t.idx, q);
    }
    q.push({ stripe: st, index, target: t.idx });
  });
  m.queuedShards += s;
  m.pendingStripes++;
  m.dataLeftBytes = Math.max(0, m.dataLeftBytes - k * shard);
  m.own.push(st);
  return true;
}

/** Start the owner's next shard upload to an online member. */
export function pump(w: World, m: Member): void {
  if (m.uploading || m.queuedShards === 0) return;
  if (!m.online || m.failed || m.removed) return;
  for (const [t, q] of m.queues) {
    const target = w.members[t]!;
    if (q.length === 0 || !target.online) continue;
    const up = q.shift()!;
    // Round robin: this target goes to the back.
    m.queues.delete(t);
    if (q.length > 0) m.queues.set(t, q);
    m.uploading = true;
    w.stalled.delete(m);
    const end = w.links.reserve(m, target, up.stripe.shardBytes, w.nowMs);
    const transfer: Transfer = { upload: up, ownerEpoch: m.epoch, targetEpoch: target.epoch };
    w.queue.push(end, { kind: 'upload-done', member: m.idx, transfer });
    return;
  }
  w.stalled.add(m);
}

/** Pump every owner that was waiting for a target to come online. */
export function pumpStalled(w: World): void {
  for (const o of [...w.stalled]) pump(w, o);
}

export function uploadDone(w: World, m: Member, tr: Transfer): void {
  m.uploading = false;
  const { stripe: st, index, target: t } = tr.upload;
  const target = w.members[t]!;
  if (st.state !== 'pending') {
    pump(w, m);
    return;
  }
  if (m.epoch !== tr.ownerEpoch || target.epoch !== tr.targetEpoch) {
    // Either end went away: try again later, first in line.
    const q = m.queues.get(t) ?? [];
    q.unshift(tr.upload);
    m.queues.set(t, q);
    pump(w, m);
    return;
  }
  target.incomingBytes -= st.shardBytes;
  st.holders[index] = target.id;
  st.exists[index] = true;
  st.existCount++;
  target.held.add(st);
  m.queuedShards--;
  st.pendingShards--;
  if (st.pendingShards === 0) stored(w, st);
  fill(w, m);
}

/** Every shard of the stripe is uploaded (or its missing holder left the group). */
export function stored(w: World, st: Stripe): void {
  const owner = w.members[st.ownerIdx]!;
  integrateStripes(w);
  st.state = 'stored';
  w.score.storedStripes++;
  owner.backedUpBytes += st.dataShards * st.shardBytes;
  owner.pendingStripes--;
  w.exposureDirty.add(st);
  w.repairDirty.add(st);
  if (st.existCount < st.dataShards) {
    lose(w, st);
    return;
  }
  payDeleteDebt(w, owner, st);
  if (owner.firstFullBackupMs === null && owner.dataLeftBytes === 0 && owner.pendingStripes === 0) {
    owner.firstFullBackupMs = w.nowMs;
  }
}

/** Daily change: the oldest stripes go once the new data is in. */
function payDeleteDebt(w: World, owner: Member, st: Stripe): void {
  const data = st.dataShards * st.shardBytes;
  while (owner.deleteDebtBytes >= data && owner.ownHead < owner.own.length) {
    const old = owner.own[owner.ownHead]!;
    if (old.state === 'lost' || old.state === 'deleted') {
      owner.ownHead++;
      continue;
    }
    if (old.state !== 'stored' || old.busy || old === st) break;
    owner.ownHead++;
    deleteStripe(w, old);
    owner.deleteDebtBytes -= data;
  }
  trimOwn(owner);
}

/**
 * The stripes before `ownHead` are lost or deleted and nothing reads them again: drop them once
 * they are most of the list, so memory follows the stripes stored, not every stripe ever written.
 */
function trimOwn(owner: Member): void {
  if (owner.ownHead < OWN_TRIM_MIN || owner.ownHead * 2 < owner.own.length) return;
  owner.own.splice(0, owner.ownHead);
  owner.ownHead = 0;
}

export function deleteStripe(w: World, st: Stripe): void {
  integrateStripes(w);
  if (st.state === 'stored') unstore(w, st);
  st.state = 'deleted';
  closeWindow(w.windows, st, 'all', w.nowMs, detectionMs(w));
  release(w, st);
  w.exposureDirty.add(st);
  w.repairDirty.delete(st);
  w.deferredMigrations.delete(st);
  w.waiting.delete(st);
}

/** Fewer than k shards of the stripe exist: it is lost. */
export function lose(w: World, st: Stripe): void {
  integrateStripes(w);
  if (st.state === 'stored') unstore(w, st);
  st.state = 'lost';
  closeWindow(w.windows, st, 'all', w.nowMs, detectionMs(w));
  w.score.stripesLost++;
  const data = st.dataShards * st.shardBytes;
  w.score.bytesLost += data;
  release(w, st);
  w.exposureDirty.add(st);
  w.repairDirty.delete(st);
  w.deferredMigrations.delete(st);
  w.waiting.delete(st);
  // The owner still has the data (unless its own disk failed too): it writes it again.
  const owner = w.members[st.ownerIdx]!;
  owner.stripesLost++;
  if (!owner.removed) {
    owner.dataLeftBytes += data;
    fill(w, owner);
  }
}

/** Drop an owner's stripes that were not fully uploaded (its disk failed or it left). */
export function dropPending(w: World, m: Member): void {
  for (const q of m.queues.values()) {
    for (const up of q) {
      const t = w.members[up.target]!;
      t.incomingBytes -= up.stripe.shardBytes;
      w.usedById[t.id]! -= up.stripe.shardBytes;
    }
  }
  m.queues.clear();
  m.queuedShards = 0;
  for (let i = m.ownHead; i < m.own.length; i++) {
    const st = m.own[i]!;
    if (st.state !== 'pending') continue;
    st.state = 'deleted';
    m.pendingStripes--;
    release(w, st);
    if (!m.removed) m.dataLeftBytes += st.dataShards * st.shardBytes;
  }
  // The in-flight shard's reservation: its upload-done event finds the stripe deleted.
  m.uploading = false;
}
