import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EngineError,
  type PlacementPlan,
  placementPlan,
  placeStripe,
  planKey,
  planRepairs,
  type RepairMember,
  type StripeHolding,
} from '../../engine/index.ts';

const HOUR = 3600e3;
const GRACE = 24 * HOUR;
const NOW = 1_000 * HOUR;
const SHARD = 1 << 20;

/** A group: owner "o" plus `others` members, every stripe placed on the others (k + m shards). */
function group(others: number, k: number, m: number, stripes: number, pledge = 1e12) {
  const ids = Array.from({ length: others }, (_, i) => `p${i}`);
  const plan = placementPlan(
    ids.map((id) => ({ id, capacityBytes: pledge })),
    k + m,
  );
  const plans = new Map<string, PlacementPlan>([[planKey('o', k + m), plan]]);
  const list: StripeHolding[] = Array.from({ length: stripes }, (_, i) => {
    const stripeId = `o:${i}/0`;
    return {
      stripeId,
      owner: 'o',
      dataShards: k,
      parityShards: m,
      shardBytes: SHARD,
      holders: placeStripe(plan, stripeId),
    };
  });
  const members: RepairMember[] = [
    { id: 'o', pledgeBytes: pledge, lastSeenMs: NOW, removed: false },
    ...ids.map((id) => ({ id, pledgeBytes: pledge, lastSeenMs: NOW, removed: false })),
  ];
  return { ids, plan, plans, stripes: list, members };
}

const withMember = (members: RepairMember[], id: string, patch: Partial<RepairMember>) =>
  members.map((m) => (m.id === id ? { ...m, ...patch } : m));

describe('planRepairs', () => {
  it('does nothing for a healthy group', () => {
    const g = group(6, 3, 2, 200);
    const plan = planRepairs({
      members: g.members,
      stripes: g.stripes,
      plans: g.plans,
      nowMs: NOW,
      graceMs: GRACE,
    });
    expect(plan.repairs).toEqual([]);
    expect(plan.migrations).toEqual([]);
    expect(plan.counts.healthy).toBe(200);
  });

  it('never repairs around a member offline for less than the grace period (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 9 }),
        fc.array(fc.integer({ min: 0, max: GRACE - 1 }), { minLength: 9, maxLength: 9 }),
        (others, offlineMs) => {
          const g = group(others, 2, 1, 60);
          const members = g.members.map((m, i) => ({ ...m, lastSeenMs: NOW - offlineMs[i % 9]! }));
          const plan = planRepairs({
            members,
            stripes: g.stripes,
            plans: g.plans,
            nowMs: NOW,
            graceMs: GRACE,
          });
          expect(plan.repairs).toEqual([]);
          expect(plan.counts.needRepair).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('repairs around a member lost past the grace period, onto placement or rendezvous fallback', () => {
    const g = group(6, 3, 2, 300);
    const members = withMember(g.members, 'p2', { lastSeenMs: NOW - GRACE });
    const plan = planRepairs({ members, stripes: g.stripes, plans: g.plans, nowMs: NOW, graceMs: GRACE });
    const affected = g.stripes.filter((s) => s.holders.includes('p2'));
    expect(affected.length).toBeGreaterThan(0);
    expect(plan.repairs.map((r) => r.stripeId).sort()).toEqual(affected.map((s) => s.stripeId).sort());
    for (const task of plan.repairs) {
      const st = g.stripes.find((s) => s.stripeId === task.stripeId)!;
      expect(task.moves).toEqual([{ shardIndex: st.holders.indexOf('p2'), to: expect.any(String) }]);
      const to = task.moves[0]!.to;
      expect(st.holders).not.toContain(to);
      expect(to).not.toBe('o');
      expect(to).not.toBe('p2');
      expect(task.sources).toHaveLength(3);
      expect(new Set(task.sources).size).toBe(3);
      expect(task.sources[0]).toBe(task.repairer);
      for (const s of task.sources) expect(st.holders).toContain(s);
      expect(task.sources).not.toContain('p2');
      expect(task.transferBytes).toBe((3 - 1 + 1) * SHARD);
    }
  });

  it('repairs around a removed member at once, onto its placement successor', () => {
    const g = group(6, 2, 1, 300);
    const members = withMember(g.members, 'p0', { removed: true });
    const after = placementPlan(
      g.ids.filter((id) => id !== 'p0').map((id) => ({ id, capacityBytes: 1e12 })),
      3,
    );
    const plans = new Map([[planKey('o', 3), after]]);
    const plan = planRepairs({ members, stripes: g.stripes, plans, nowMs: NOW, graceMs: GRACE });
    const affected = g.stripes.filter((s) => s.holders.includes('p0'));
    expect(plan.repairs).toHaveLength(affected.length);
    for (const task of plan.repairs) {
      const st = g.stripes.find((s) => s.stripeId === task.stripeId)!;
      const placed = placeStripe(after, st.stripeId);
      const expected = placed.filter((id) => !st.holders.includes(id));
      expect(task.moves.map((mv) => mv.to)).toEqual(expected.slice(0, 1));
      // After the repair every holder is in the new placement set: nothing left to migrate.
      const holders = st.holders.map((h, i) => (i === task.moves[0]!.shardIndex ? task.moves[0]!.to : h));
      expect([...holders].sort()).toEqual([...placed].sort());
    }
  });

  it('puts the most endangered stripes first and bounds its output', () => {
    const g = group(7, 2, 2, 400);
    const members = withMember(withMember(g.members, 'p1', { removed: true }), 'p3', { removed: true });
    const plan = planRepairs({
      members,
      stripes: g.stripes,
      plans: g.plans,
      nowMs: NOW,
      graceMs: GRACE,
      maxTasks: 50,
    });
    expect(plan.repairs.length + plan.migrations.length).toBeLessThanOrEqual(50);
    const needing = g.stripes.filter((s) => s.holders.includes('p1') || s.holders.includes('p3'));
    expect(plan.repairs.length + plan.deferredStripeIds.length + plan.waitingStripeIds.length).toBe(
      needing.length,
    );
    const held = plan.repairs.map((r) => r.heldShards);
    expect(held).toEqual([...held].sort((a, b) => a - b));
    const both = needing.filter((s) => s.holders.includes('p1') && s.holders.includes('p3'));
    expect(both.length).toBeGreaterThan(0);
    expect(held[0]).toBe(2);
    for (const id of plan.deferredStripeIds) {
      const st = g.stripes.find((s) => s.stripeId === id)!;
      const heldHere = st.holders.filter((h) => h !== 'p1' && h !== 'p3').length;
      expect(heldHere).toBeGreaterThanOrEqual(held[held.length - 1]!);
    }
  });

  it('chooses one repairer deterministically, whatever the input order', () => {
    const g = group(8, 3, 2, 150);
    const members = withMember(g.members, 'p4', { lastSeenMs: NOW - 2 * GRACE });
    const a = planRepairs({ members, stripes: g.stripes, plans: g.plans, nowMs: NOW, graceMs: GRACE });
    const b = planRepairs({
      members: [...members].reverse(),
      stripes: [...g.stripes].reverse(),
      plans: g.plans,
      nowMs: NOW,
      graceMs: GRACE,
    });
    expect(b.repairs).toEqual(a.repairs);
  });

  it('waits when fewer than k holders are online, and lists unrecoverable stripes', () => {
    const g = group(4, 2, 1, 80);
    // p0 removed, p1 away (inside the grace period): a stripe on p0 and p1 has too few online
    // holders to decode; one on p0 alone has no online member to take the shard (only p1 is free).
    let members = withMember(g.members, 'p0', { removed: true });
    members = withMember(members, 'p1', { lastSeenMs: NOW - HOUR });
    const plan = planRepairs({ members, stripes: g.stripes, plans: g.plans, nowMs: NOW, graceMs: GRACE });
    const onP0 = g.stripes.filter((s) => s.holders.includes('p0')).map((s) => s.stripeId);
    expect(plan.repairs).toEqual([]);
    expect([...plan.waitingStripeIds].sort()).toEqual([...onP0].sort());
    // Once p1 is back, every one of them is repaired.
    const back = planRepairs({
      members: withMember(g.members, 'p0', { removed: true }),
      stripes: g.stripes,
      plans: g.plans,
      nowMs: NOW,
      graceMs: GRACE,
    });
    expect(back.repairs.map((r) => r.stripeId).sort()).toEqual([...onP0].sort());
    const gone = withMember(withMember(g.members, 'p0', { removed: true }), 'p1', { removed: true });
    const lost = planRepairs({
      members: gone,
      stripes: g.stripes,
      plans: g.plans,
      nowMs: NOW,
      graceMs: GRACE,
    });
    const both = g.stripes.filter((s) => s.holders.includes('p0') && s.holders.includes('p1'));
    expect([...lost.unrecoverableStripeIds].sort()).toEqual(both.map((s) => s.stripeId).sort());
  });

  it('yields migrations after a join, after every repair, and never onto a full member', () => {
    const g = group(5, 2, 1, 300);
    const ids = [...g.ids, 'new'];
    const after = placementPlan(
      ids.map((id) => ({ id, capacityBytes: 1e12 })),
      3,
    );
    const plans = new Map([[planKey('o', 3), after]]);
    const members = [
      ...withMember(g.members, 'p0', { removed: true }),
      { id: 'new', pledgeBytes: 1e12, lastSeenMs: NOW, removed: false },
    ];
    const plan = planRepairs({ members, stripes: g.stripes, plans, nowMs: NOW, graceMs: GRACE });
    expect(plan.migrations.length).toBeGreaterThan(0);
    expect(plan.repairs.length).toBeGreaterThan(0);
    for (const mv of plan.migrations) {
      const st = g.stripes.find((s) => s.stripeId === mv.stripeId)!;
      expect(st.holders[mv.shardIndex]).toBe(mv.from);
      expect(placeStripe(after, st.stripeId)).toContain(mv.to);
      expect(placeStripe(after, st.stripeId)).not.toContain(mv.from);
      expect(st.holders).not.toContain('p0');
    }
    // Bounded: repairs take the budget first.
    const tight = planRepairs({
      members,
      stripes: g.stripes,
      plans,
      nowMs: NOW,
      graceMs: GRACE,
      maxTasks: 10,
    });
    expect(tight.repairs).toHaveLength(10);
    expect(tight.migrations).toHaveLength(0);
    // A member with no room receives nothing.
    const full = members.map((m) => (m.id === 'new' ? { ...m, usedBytes: 1e12 } : m));
    const none = planRepairs({ members: full, stripes: g.stripes, plans, nowMs: NOW, graceMs: GRACE });
    expect(none.migrations).toHaveLength(0);
    for (const r of none.repairs) for (const mv of r.moves) expect(mv.to).not.toBe('new');
  });

  it('rejects bad input with typed errors', () => {
    const g = group(4, 2, 1, 3);
    const base = { members: g.members, stripes: g.stripes, plans: g.plans, nowMs: NOW };
    const bad = (patch: object) => () => planRepairs({ ...base, ...patch } as never);
    expect(bad({ maxTasks: 0 })).toThrow(EngineError);
    expect(bad({ nowMs: Number.NaN })).toThrow(/nowMs/);
    expect(bad({ plans: new Map() })).toThrow(/no placement plan/);
    expect(bad({ members: [...g.members, g.members[0]] })).toThrow(/twice/);
    const st = g.stripes[0]!;
    expect(bad({ stripes: [{ ...st, holders: [st.holders[0], st.holders[0], st.holders[1]] }] })).toThrow(
      /two shards/,
    );
    expect(bad({ stripes: [{ ...st, holders: [st.holders[0]] }] })).toThrow(/k \+ m/);
    expect(bad({ stripes: [{ ...st, holders: ['o', st.holders[1], st.holders[2]] }] })).toThrow(/owner/);
    expect(bad({ graceMs: 1, onlineWindowMs: 2 })).toThrow(EngineError);
  });
});

describe('placementPlan for the repair planner', () => {
  it('solves weights when a target inclusion is close to 1 (slow convergence, found by the simulator)', () => {
    const caps = [1000e9, 398107170553, 158489319246, 63095734448, 100e9];
    const plan = placementPlan(
      caps.map((capacityBytes, i) => ({ id: `m${i}`, capacityBytes })),
      4,
    );
    expect(plan.members.filter((m) => m.capped)).toHaveLength(2);
    expect(placeStripe(plan, 'x/0')).toHaveLength(4);
  });
});

describe('planRepairs with stripes under way', () => {
  it('leaves busy stripes alone', () => {
    const g = group(5, 2, 1, 40);
    const members = withMember(g.members, 'p1', { removed: true });
    const onP1 = g.stripes.filter((s) => s.holders.includes('p1')).map((s) => s.stripeId);
    const busy = new Set(onP1.slice(0, 3));
    const plan = planRepairs({
      members,
      stripes: g.stripes,
      plans: g.plans,
      nowMs: NOW,
      busyStripeIds: busy,
    });
    expect(plan.counts.busy).toBe(3);
    expect(plan.repairs.map((r) => r.stripeId).sort()).toEqual(onP1.slice(3).sort());
    expect(() =>
      planRepairs({ members, stripes: g.stripes, plans: g.plans, nowMs: NOW, busyStripeIds: onP1 as never }),
    ).toThrow(EngineError);
  });
});
