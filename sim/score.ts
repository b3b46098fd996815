/** Keeping score during the run: each owner's exposed bytes over time and the sampled series. */
import { type Availability, availabilityOf, stripeProtection } from '../engine/index.ts';
import { HOUR_MS } from './model.ts';
import type { World } from './world.ts';

export function availability(w: World): Map<string, Availability> {
  const times = { nowMs: w.nowMs, graceMs: w.config.graceMs, onlineWindowMs: 0 };
  const out = new Map<string, Availability>();
  for (const m of w.members) {
    const sighting = { id: m.id, lastSeenMs: m.online ? w.nowMs : m.lastSeenMs, removed: m.removed };
    out.set(m.id, availabilityOf(sighting, times));
  }
  return out;
}

/** Recompute the exposure of the stripes touched by the last event; integrate per owner. */
export function refreshExposure(w: World): void {
  const avail = availability(w);
  const f = w.config.agreement.tolerance;
  for (const st of w.exposureDirty) {
    const next =
      st.state === 'stored' && stripeProtection(st, avail, f).exposed ? st.dataShards * st.shardBytes : 0;
    const delta = next - st.exposedBytes;
    if (delta === 0) continue;
    st.exposedBytes = next;
    const owner = w.members[st.ownerIdx]!;
    owner.exposedByteMs += owner.exposedBytes * (w.nowMs - owner.exposedSinceMs);
    owner.exposedSinceMs = w.nowMs;
    owner.exposedBytes += delta;
  }
  w.exposureDirty.clear();
}

/** One point of the time series. */
export function sample(w: World): void {
  const s = w.series;
  s.hours.push(round(w.nowMs / HOUR_MS, 3));
  w.members.forEach((m, i) => {
    if (s.exposedBytes[i] === undefined) s.exposedBytes[i] = [];
    s.exposedBytes[i]!.push(m.exposedBytes);
  });
  s.repairBytes.push(w.score.bucketRepairBytes);
  s.migrationBytes.push(w.score.bucketMigrationBytes);
  s.storedBytes.push(w.members.reduce((a, m) => a + m.backedUpBytes, 0));
  w.score.bucketRepairBytes = 0;
  w.score.bucketMigrationBytes = 0;
}

export function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
