import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type PlacementPlan,
  placementPlan,
  planKey,
  planRepairs,
  type RepairMember,
  repairOutlook,
  repairView,
  repairWake,
  type StripeHolding,
  waitingPrefix,
} from '../../engine/index.ts';

const HOUR = 3600e3;
const GRACE = 24 * HOUR;
const NOW = 1_000 * HOUR;
const SHARD = 1 << 20;
const K = 3;
const M = 2;
const IDS = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6'];

/** A member's state: online, away (within grace), lost; with room for 0, 1 or many shards. */
const memberArb = fc.record({
  seen: fc.constantFrom(NOW, NOW - HOUR, NOW - 2 * GRACE),
  freeShards: fc.constantFrom(0, 1, 100),
});

const caseArb = fc.record({
  members: fc.array(memberArb, { minLength: IDS.length, maxLength: IDS.length }),
  holders: fc.shuffledSubarray(IDS, { minLength: K + M, maxLength: K + M }),
  gone: fc.array(fc.boolean(), { minLength: K + M, maxLength: K + M }),
});

const plans = new Map<string, PlacementPlan>([
  [
    planKey('o', K + M),
    placementPlan(
      IDS.map((id) => ({ id, capacityBytes: 1e12 })),
      K + M,
    ),
  ],
]);

describe('repairOutlook', () => {
  it('says a stripe waits exactly when planRepairs lists it as waiting', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const members: RepairMember[] = [
          { id: 'o', pledgeBytes: 1e9, lastSeenMs: NOW, removed: false },
          ...IDS.map((id, i) => ({
            id,
            pledgeBytes: 200 * SHARD,
            usedBytes: (200 - c.members[i]!.freeShards) * SHARD,
            lastSeenMs: c.members[i]!.seen,
            removed: false,
          })),
        ];
        const st: StripeHolding = {
          stripeId: 'o:1/0',
          owner: 'o',
          dataShards: K,
          parityShards: M,
          shardBytes: SHARD,
          holders: c.holders.map((h, i) => (c.gone[i] ? null : h)),
        };
        const times = { nowMs: NOW, graceMs: GRACE, onlineWindowMs: 0 };
        const view = repairView(members, times);
        const o = repairOutlook(view, st);
        const plan = planRepairs({ members, stripes: [st], plans, ...times, maxTasks: 10 });
        if (o.need === 'unrecoverable') expect(plan.unrecoverableStripeIds).toEqual([st.stripeId]);
        if (o.need === 'whole') expect(plan.counts.needRepair).toBe(0);
        if (o.need !== 'repair') return;
        expect(plan.counts.needRepair).toBe(1);
        expect(plan.waitingStripeIds.length === 1).toBe(o.wait !== null);
        if (o.wait === null) expect(plan.repairs[0]!.heldShards).toBe(o.heldShards);
      }),
      { numRuns: 500 },
    );
  });

  it('names what ends a wait: k held holders online, or an unlisted member with room', () => {
    const members: RepairMember[] = [
      { id: 'o', pledgeBytes: 1e9, lastSeenMs: NOW, removed: false },
      ...IDS.map((id, i) => ({
        id,
        pledgeBytes: 10 * SHARD,
        usedBytes: i < 5 ? 0 : 10 * SHARD,
        lastSeenMs: i < 2 ? NOW : NOW - HOUR,
        removed: false,
      })),
    ];
    const view = repairView(members, { nowMs: NOW, graceMs: GRACE, onlineWindowMs: 0 });
    const st: StripeHolding = {
      stripeId: 'o:2/0',
      owner: 'o',
      dataShards: K,
      parityShards: M,
      shardBytes: SHARD,
      holders: ['p0', 'p1', 'p2', 'p3', null],
    };
    // Two of its four held holders are online: it needs a third.
    expect(repairOutlook(view, st)).toEqual({ need: 'repair', heldShards: 4, wait: 'sources' });
    expect(repairWake(view, ['o', ...IDS], st, 'sources')).toEqual({
      members: ['p0', 'p1', 'p2', 'p3'],
      atLeast: K,
      roomBytes: null,
    });
    // With p2 online too, p4 (unlisted, offline) or the full p5 and p6 cannot take the shard.
    const view2 = repairView(
      members.map((m) => (m.id === 'p2' ? { ...m, lastSeenMs: NOW } : m)),
      { nowMs: NOW, graceMs: GRACE, onlineWindowMs: 0 },
    );
    expect(repairOutlook(view2, st)).toEqual({ need: 'repair', heldShards: 4, wait: 'target' });
    expect(repairWake(view2, ['o', ...IDS], st, 'target')).toEqual({
      members: ['p4', 'p5', 'p6'],
      atLeast: 1,
      roomBytes: SHARD,
    });
  });
});

describe('waitingPrefix', () => {
  /** Eight stripes of one owner over the seven members, some shards gone, members with little room. */
  const roundArb = fc.record({
    free: fc.array(fc.constantFrom(0, 1, 2, 3), { minLength: IDS.length, maxLength: IDS.length }),
    online: fc.array(fc.boolean(), { minLength: IDS.length, maxLength: IDS.length }),
    stripes: fc.array(
      fc.record({
        holders: fc.shuffledSubarray(IDS, { minLength: K + M, maxLength: K + M }),
        gone: fc.array(fc.boolean(), { minLength: K + M, maxLength: K + M }),
      }),
      { minLength: 2, maxLength: 8 },
    ),
    split: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
    maxTasks: fc.integer({ min: 1, max: 6 }),
  });

  it('the proven stripes get no task when planned with the others, and change nothing', () => {
    fc.assert(
      fc.property(roundArb, (c) => {
        const members: RepairMember[] = [
          { id: 'o', pledgeBytes: 1e9, lastSeenMs: NOW, removed: false },
          ...IDS.map((id, i) => ({
            id,
            pledgeBytes: 10 * SHARD,
            usedBytes: (10 - c.free[i]!) * SHARD,
            lastSeenMs: c.online[i] ? NOW : NOW - HOUR,
            removed: false,
          })),
        ];
        const stripes: StripeHolding[] = c.stripes.map((s, j) => ({
          stripeId: `o:${j}/0`,
          owner: 'o',
          dataShards: K,
          parityShards: M,
          shardBytes: SHARD,
          holders: s.holders.map((h, i) => (s.gone[i] ? null : h)),
        }));
        const times = { nowMs: NOW, graceMs: GRACE, onlineWindowMs: 0 };
        const view = repairView(members, times);
        const planned = stripes.filter((_, j) => c.split[j]);
        const later = stripes
          .filter((_, j) => !c.split[j])
          .map((stripe) => ({ stripe, o: repairOutlook(view, stripe) }))
          .filter((x) => x.o.need === 'repair')
          .map((x) => ({ stripe: x.stripe, heldShards: x.o.heldShards }))
          .sort((a, b) => a.heldShards - b.heldShards || (a.stripe.stripeId < b.stripe.stripeId ? -1 : 1));
        const input = { members, plans, ...times, maxTasks: c.maxTasks };
        const part = planRepairs({ ...input, stripes: planned });
        const n = waitingPrefix(view, part.repairs, c.maxTasks, later);
        const proven = later.slice(0, n).map((x) => x.stripe);
        const whole = planRepairs({ ...input, stripes: [...planned, ...proven] });
        expect(whole.repairs).toEqual(part.repairs);
        const ids = new Set(proven.map((st) => st.stripeId));
        const left = [...whole.waitingStripeIds, ...whole.deferredStripeIds].filter((id) => ids.has(id));
        expect(left.length).toBe(ids.size);
        // The first stripe not proven does get a task when planned with the others.
        const next = later[n];
        if (next !== undefined) {
          const withNext = planRepairs({ ...input, stripes: [...planned, ...proven, next.stripe] });
          expect(withNext.repairs.some((r) => r.stripeId === next.stripe.stripeId)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
