/**
 * Members coming and going: online/offline sessions, scripted outages, the grace period, disk
 * failures and the empty rejoin after a replacement.
 */
import { DAY_MS, type Member, YEAR_MS } from './model.ts';
import { openWindow } from './repair-window.ts';
import { dropPending, fill, lose, pump, pumpStalled } from './uploads.ts';
import { exp, mark, type World } from './world.ts';

/** A member's first session, its first failure draw and its daily change begin. */
export function startMember(w: World, m: Member): void {
  scheduleCycle(w, m, true);
  scheduleFailure(w, m);
  w.queue.push(w.nowMs + w.rng() * DAY_MS, { kind: 'daily', member: m.idx });
}

function scheduleCycle(w: World, m: Member, online: boolean): void {
  const f = w.config.onlineFraction;
  if (f >= 1) return;
  const mean = online ? w.config.sessionMs * f : w.config.sessionMs * (1 - f);
  w.queue.push(w.nowMs + exp(w, mean), {
    kind: online ? 'offline' : 'online',
    member: m.idx,
    cycleEpoch: m.cycleEpoch,
  });
}

function scheduleFailure(w: World, m: Member): void {
  if (w.config.afr <= 0) return;
  w.queue.push(w.nowMs + exp(w, YEAR_MS / w.config.afr), {
    kind: 'fail',
    member: m.idx,
    cycleEpoch: m.cycleEpoch,
  });
}

/** Offline for `forMs`, or for a random off-period of its cycle when null. */
export function goOffline(w: World, m: Member, forMs: number | null): void {
  m.online = false;
  m.lastSeenMs = w.nowMs;
  m.epoch++;
  w.stalled.delete(m);
  const f = w.config.onlineFraction;
  const offMs = forMs ?? exp(w, w.config.sessionMs * (1 - f));
  if (offMs >= w.config.graceMs)
    w.queue.push(w.nowMs + w.config.graceMs, { kind: 'grace', member: m.idx, epoch: m.epoch });
  w.queue.push(w.nowMs + offMs, { kind: 'online', member: m.idx, cycleEpoch: m.cycleEpoch });
}

export function goOnline(w: World, m: Member): void {
  const wasLost = w.nowMs - m.lastSeenMs >= w.config.graceMs;
  m.online = true;
  m.lastSeenMs = w.nowMs;
  m.epoch++;
  if (wasLost) markHeld(w, m);
  w.onlineSincePlan = true;
  scheduleCycle(w, m, true);
  pump(w, m);
  pumpStalled(w);
}

/** A scripted outage ends the current cycle and takes the member offline for `forMs`. */
export function outage(w: World, m: Member, forMs: number): void {
  m.cycleEpoch++;
  goOffline(w, m, forMs);
}

/** The member's availability class changed: its stripes need a new look. */
export function markHeld(w: World, m: Member): void {
  for (const st of m.held) {
    if (st.state !== 'stored') continue;
    w.repairDirty.add(st);
    w.exposureDirty.add(st);
  }
}

/** The disk fails: its shards are gone now; the group learns it at grace or at the rejoin. */
export function fail(w: World, m: Member): void {
  w.score.failures++;
  mark(w, 'failure', m);
  if (m.online) {
    m.online = false;
    m.lastSeenMs = w.nowMs;
  }
  m.failed = true;
  m.epoch++;
  m.cycleEpoch++;
  w.stalled.delete(m);
  for (const st of [...m.held]) {
    const i = st.holders.indexOf(m.id);
    if (i >= 0 && st.exists[i]) {
      st.exists[i] = false;
      st.existCount--;
      if (st.state === 'stored' && st.existCount < st.dataShards) lose(w, st);
      else if (st.state === 'stored') openWindow(w.windows, st, i, w.nowMs);
    }
  }
  // The owner's not-yet-uploaded data is gone with its disk; it writes it again after rejoining.
  dropPending(w, m);
  w.queue.push(w.nowMs + w.config.graceMs, { kind: 'grace', member: m.idx, epoch: m.epoch });
  w.queue.push(w.nowMs + w.config.replacementMs, { kind: 'rejoin', member: m.idx });
}

/** The replaced member is back, empty: every stripe it was listed on has a gap to fill. */
export function rejoin(w: World, m: Member): void {
  m.failed = false;
  m.online = true;
  m.lastSeenMs = w.nowMs;
  m.epoch++;
  for (const st of m.held) {
    const i = st.holders.indexOf(m.id);
    if (i >= 0) st.holders[i] = null;
    if (st.state === 'stored') {
      w.repairDirty.add(st);
      w.exposureDirty.add(st);
    }
  }
  m.held.clear();
  w.usedById[m.id] = m.incomingBytes;
  w.onlineSincePlan = true;
  scheduleCycle(w, m, true);
  scheduleFailure(w, m);
  fill(w, m);
  pumpStalled(w);
}
