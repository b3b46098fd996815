/**
 * The allowance is what the owners' own placement plans hold together: checked against the plans
 * the writer uses (layout.ts), not against the formula the allowance computes them with.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allowances,
  equalShareLevel,
  type MemberPledge,
  ownerLayout,
  planShareLevel,
} from '../../engine/index.ts';

const GB = 1e9;
const pledged = (gbs: readonly number[]): MemberPledge[] =>
  gbs.map((gb, i) => ({ id: `m${i}`, pledgeBytes: Math.round(gb * GB) }));

/** Bytes each member receives when every owner backs up its allowance where its writer's plan puts it. */
function loadsByPlans(
  members: readonly MemberPledge[],
  ratio: number,
  tolerance: number,
): Map<string, number> {
  const report = allowances(members, { ratio, tolerance });
  const load = new Map(members.map((m) => [m.id, 0]));
  for (const a of report.members) {
    if (a.allowanceBytes === 0) continue;
    const layout = ownerLayout(members, { ratio, tolerance }, a.id);
    if (!layout.feasible) throw new Error(layout.reason);
    for (const pm of layout.plan.members) {
      load.set(pm.id, load.get(pm.id)! + (pm.targetProbability * a.allowanceBytes) / layout.dataShards);
    }
  }
  return load;
}

describe('allowances under the owners’ plans', () => {
  it('a NAS and four laptops: the laptops bind, and every pledge holds what the plans send it', () => {
    const family = pledged([4000, 500, 500, 250, 250]);
    const r = allowances(family, { ratio: 3, tolerance: 1 });
    expect(r.code).toMatchObject({ dataShards: 1, parityShards: 2 });
    // Over any placement the three larger members could have 500 / 3 = 166.7 GB each; each plan
    // puts half of a large owner's stripes on each laptop, and a laptop would need 283 GB.
    const optimum = equalShareLevel(
      family.map((m) => m.pledgeBytes),
      family.map((m) => Math.floor(m.pledgeBytes / 3)),
      1,
      3,
    );
    expect(optimum / GB).toBeCloseTo(500 / 3, 3);
    // A laptop: 3 x L / 2 from the large owners + 0.4 x 83.3 GB from the other laptop <= 250 GB.
    const level = (250 - (0.4 * 250) / 3) / 1.5;
    for (const m of r.members.slice(0, 3)) {
      expect(m.limitedBy).toBe('group');
      expect(m.allowanceBytes / GB).toBeCloseTo(level, 3);
      expect(m.reason).toMatch(/the smaller pledges fill first/);
    }
    for (const m of r.members.slice(3)) expect(m.limitedBy).toBe('pledge');
    const loads = loadsByPlans(family, 3, 1);
    for (const m of family) expect(loads.get(m.id)!).toBeLessThanOrEqual(m.pledgeBytes * (1 + 1e-9) + 1);
    expect(loads.get('m3')! / family[3]!.pledgeBytes).toBeCloseTo(1, 6);
  });

  it('equal pledges: the plans hold the optimum, and the allowance is the pledge over the ratio', () => {
    const equal = pledged([100, 100, 100, 100, 100]);
    const caps = equal.map((m) => m.pledgeBytes);
    const unbounded = caps.map(() => 1e15);
    expect(planShareLevel(caps, unbounded, 2, 3)).toBeCloseTo(equalShareLevel(caps, unbounded, 2, 3), -2);
    const r = allowances(equal, { ratio: 2, tolerance: 1 });
    for (const m of r.members) expect(m.allowanceBytes).toBe(50 * GB);
  });

  it('never above the optimum; what it gives fits every pledge under the writers’ plans (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 4, maxLength: 10 }),
        fc.constantFrom(1.5, 2, 3),
        fc.constantFrom(0, 1, 2),
        (gbs, ratio, tolerance) => {
          const members = pledged(gbs);
          const r = allowances(members, { ratio, tolerance });
          fc.pre(r.code.feasible);
          if (!r.code.feasible) return;
          const caps = members.map((m) => m.pledgeBytes);
          const demands = caps.map((c) => Math.floor(c / ratio));
          const optimum = equalShareLevel(
            caps,
            demands,
            r.code.dataShards,
            r.code.dataShards + r.code.parityShards,
          );
          for (const m of r.members) expect(m.feasibleBytes).toBeLessThanOrEqual(optimum);
          const loads = loadsByPlans(members, ratio, tolerance);
          for (const m of members)
            expect(loads.get(m.id)!).toBeLessThanOrEqual(m.pledgeBytes * (1 + 1e-6) + 2);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses what it cannot judge', () => {
    expect(() => planShareLevel([1, 2], [1], 1, 2)).toThrow(/one demand per pledge/);
    expect(() => planShareLevel([-1, 2, 3], [1, 1, 1], 1, 2)).toThrow();
  });
});
