import { describe, expect, it } from 'vitest';
import { ownerStripePlan } from '../../engine/delete-authority.ts';
import { allowances, holderLayout, layoutHolders, ownerLayout, ownerPlacements } from '../../engine/index.ts';

const GiB = 2 ** 30;
const agreement = { ratio: 2, tolerance: 1 };
// Six members; "f" pledged nothing (a laptop that only backs up).
const members = ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) => ({
  id,
  pledgeBytes: id === 'f' ? 0 : (i + 1) * GiB,
}));

describe('an owner layout is decided once', () => {
  it('holders are the other members with a pledge, by id; the code counts only them', () => {
    expect(layoutHolders(members, 'c').map((m) => m.id)).toEqual(['a', 'b', 'd', 'e']);
    const layout = ownerLayout(members, agreement, 'c');
    expect(layout.feasible).toBe(true);
    if (!layout.feasible) return;
    // Four holders: k + m must fit four members, whatever the zero-pledge member counts for.
    expect(layout.dataShards + layout.parityShards).toBeLessThanOrEqual(4);
    expect(layout.plan.members.map((m) => m.id)).toEqual(['a', 'b', 'd', 'e']);
  });

  it('the state placement, the delete check and the writer agree on every owner', () => {
    for (const p of ownerPlacements(members, agreement)) {
      const direct = ownerLayout(members, agreement, p.owner);
      expect(p).toEqual(direct);
      if (!p.feasible) continue;
      const writer = holderLayout(p.owner, layoutHolders(members, p.owner), agreement);
      expect(writer).toEqual(p);
      expect(ownerStripePlan(members, p.owner, p.dataShards + p.parityShards)).toEqual(p.plan);
    }
  });

  it('the allowance code is the code of every pledging owner', () => {
    const report = allowances(members, agreement);
    for (const m of members.filter((x) => x.pledgeBytes > 0)) {
      const layout = ownerLayout(members, agreement, m.id);
      expect(layout.feasible && [layout.dataShards, layout.parityShards]).toEqual(
        report.code.feasible && [report.code.dataShards, report.code.parityShards],
      );
    }
  });

  it('refuses holder lists that are not the layout holders', () => {
    expect(() => holderLayout('a', [members[2]!, members[1]!], agreement)).toThrow(/sorted/);
    expect(() => holderLayout('a', [members[0]!, members[1]!], agreement)).toThrow(/other members/);
    expect(() => holderLayout('a', [members[1]!, members[5]!], agreement)).toThrow(/with a pledge/);
  });
});
