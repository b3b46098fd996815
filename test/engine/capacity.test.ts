import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allowances,
  capacityReport,
  chooseCode,
  EngineError,
  equalShareLevel,
  ownerBound,
  shareBound,
} from '../../engine/index.ts';
import { FlowNetwork } from './_maxflow.ts';

const GB = 1e9;

/** Brute force: stripes of s unit shards, each on s distinct members, greedily on the fullest-free. */
function greedyStripes(capacity: number[], s: number): number {
  const free = [...capacity];
  let stripes = 0;
  for (;;) {
    const order = free.map((c, i) => [c, i] as const).sort((a, b) => b[0] - a[0]);
    if (order.length < s || order[s - 1]![0] < 1) return stripes;
    for (let j = 0; j < s; j++) free[order[j]![1]]! -= 1;
    stripes++;
  }
}

function expectEngineError(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(EngineError);
    expect((e as EngineError).code).toBe(code);
    expect((e as EngineError).message.length).toBeGreaterThan(10);
    return;
  }
  throw new Error(`expected an EngineError ${code}`);
}

describe('shareBound (water-filling)', () => {
  it('matches the design table', () => {
    expect(
      shareBound(
        [10000, 10, 10, 10, 10].map((x) => x * GB),
        3,
      ),
    ).toBe(20 * GB);
    expect(
      shareBound(
        [1000, 100, 100, 100, 100].map((x) => x * GB),
        3,
      ),
    ).toBe(200 * GB);
    expect(
      shareBound(
        [100, 100, 100, 100, 100].map((x) => x * GB),
        3,
      ),
    ).toBe(Math.floor((500 * GB) / 3));
    expect(
      shareBound(
        [100, 100, 100, 100, 100].map((x) => x * GB),
        5,
      ),
    ).toBe(100 * GB);
    // one owner, 3+2 over the four others: needs five others, so zero
    expect(
      ownerBound(
        [10, 10, 10, 10].map((x) => x * GB),
        3,
        2,
      ),
    ).toBe(0);
    expect(
      ownerBound(
        [10, 10, 10, 10].map((x) => x * GB),
        1,
        2,
      ),
    ).toBe(Math.floor((40 * GB) / 3));
    expect(
      ownerBound(
        [10000, 10, 10, 10].map((x) => x * GB),
        1,
        2,
      ),
    ).toBe(15 * GB);
  });

  it('equals the brute-force optimum on small integer cases', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 7 }),
        fc.integer({ min: 1, max: 7 }),
        (caps, s) => {
          fc.pre(caps.length >= s);
          expect(shareBound(caps, s)).toBe(greedyStripes(caps, s));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('satisfies sum min(c, x*) >= s x* and is the largest such share', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { minLength: 6, maxLength: 40 }),
        fc.integer({ min: 1, max: 6 }),
        (caps, s) => {
          const x = shareBound(caps, s);
          const filled = (share: number) => caps.reduce((a, c) => a + Math.min(c, share), 0);
          expect(filled(x)).toBeGreaterThanOrEqual(s * x);
          expect(filled(x + 1)).toBeLessThan(s * (x + 1));
        },
      ),
    );
  });

  it('reports capped members and unusable pledge', () => {
    const r = capacityReport(
      [10000, 10, 10, 10, 10].map((gb, i) => ({ id: `m${i}`, capacityBytes: gb * GB })),
      1,
      2,
    );
    expect(r.boundBytes).toBe(20 * GB);
    expect(r.members[0]).toMatchObject({ capped: true, usableBytes: 20 * GB, unusableBytes: 9980 * GB });
    expect(r.members.slice(1).every((m) => !m.capped && m.unusableBytes === 0)).toBe(true);
  });

  it('rejects bad input with typed errors', () => {
    expectEngineError(() => shareBound([1, -1, 2], 2), 'invalid-capacity');
    expectEngineError(() => shareBound([1, 1.5, 2], 2), 'invalid-capacity');
    expectEngineError(() => shareBound([1, Number.NaN, 2], 2), 'invalid-capacity');
    expectEngineError(() => shareBound([1, Number.POSITIVE_INFINITY, 2], 2), 'invalid-capacity');
    expectEngineError(() => shareBound([2 ** 53, 2 ** 53], 2), 'invalid-capacity');
    expectEngineError(() => shareBound([1, 2], 3), 'too-few-members');
    expectEngineError(() => shareBound([1, 2], 0), 'invalid-shape');
    expectEngineError(() => shareBound([1, 2], 1.5), 'invalid-shape');
    expectEngineError(
      () =>
        capacityReport(
          [
            { id: 'a', capacityBytes: 1 },
            { id: 'a', capacityBytes: 2 },
          ],
          1,
          1,
        ),
      'duplicate-member',
    );
    expectEngineError(() => chooseCode({ ratio: 0.5, tolerance: 1 }, 4), 'invalid-agreement');
    expectEngineError(() => chooseCode({ ratio: 2, tolerance: -1 }, 4), 'invalid-agreement');
    expectEngineError(() => chooseCode({ ratio: Number.NaN, tolerance: 1 }, 4), 'invalid-agreement');
    expectEngineError(() => chooseCode({ ratio: 2, tolerance: 1.5 }, 4), 'invalid-agreement');
  });
});

describe('chooseCode', () => {
  it('picks the design example: 5 members, f = 1, n = 2 -> 2+1', () => {
    expect(chooseCode({ ratio: 2, tolerance: 1 }, 4)).toEqual({
      feasible: true,
      dataShards: 2,
      parityShards: 1,
      repairSlack: true,
      spareParity: false,
    });
  });

  it('prefers a spare parity shard, then repair slack, and says why when infeasible', () => {
    expect(chooseCode({ ratio: 2, tolerance: 1 }, 9)).toMatchObject({
      dataShards: 6,
      parityShards: 2,
      spareParity: true,
    });
    expect(chooseCode({ ratio: 3, tolerance: 1 }, 3)).toMatchObject({
      dataShards: 1,
      parityShards: 1,
      repairSlack: true,
    });
    expect(chooseCode({ ratio: 3, tolerance: 1 }, 2)).toMatchObject({
      dataShards: 1,
      parityShards: 1,
      repairSlack: false,
    });
    const none = chooseCode({ ratio: 2, tolerance: 2 }, 2);
    expect(none.feasible).toBe(false);
    if (!none.feasible) expect(none.reason).toMatch(/needs at least 3 other members/);
  });

  it('always honours the ratio, the tolerance and the member count', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1, max: 6, noNaN: true }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 1, max: 24 }),
        (ratio, tolerance, others, kMax) => {
          const c = chooseCode({ ratio, tolerance }, others, kMax);
          if (!c.feasible) return;
          expect(c.parityShards).toBeGreaterThanOrEqual(tolerance);
          expect(c.dataShards).toBeGreaterThanOrEqual(1);
          expect(c.dataShards).toBeLessThanOrEqual(kMax);
          expect(c.dataShards + c.parityShards).toBeLessThanOrEqual(others - (c.repairSlack ? 1 : 0));
          expect((c.dataShards + c.parityShards) / c.dataShards).toBeLessThanOrEqual(ratio + 1e-9);
        },
      ),
    );
  });
});

/** Oracle for the equal share with unlimited demand: the closed-form min-cut over the t largest members. */
function equalShareOracle(caps: number[], k: number, s: number): number {
  const sorted = [...caps].sort((a, b) => b - a);
  const feasible = (y: number) => {
    for (let t = 1; t <= sorted.length; t++) {
      let cut = 0;
      for (let j = 0; j < sorted.length; j++) cut += Math.min(sorted[j]!, y * (j < t ? t - 1 : t));
      if (cut < t * s * y * (1 - 1e-12)) return false;
    }
    return true;
  };
  let lo = 0;
  let hi = Math.max(...caps) + 1;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (feasible(mid)) lo = mid;
    else hi = mid;
  }
  return lo * k;
}

describe('allowances', () => {
  it('matches the design table for the fair share of every owner', () => {
    const level = (caps: number[], k: number, s: number) =>
      equalShareLevel(
        caps.map((c) => c * GB),
        caps.map(() => 1e15),
        k,
        s,
      ) / GB;
    expect(level([10000, 10, 10, 10, 10], 1, 3)).toBeCloseTo(3.64, 2);
    expect(level([10000, 10, 10, 10, 10], 2, 3)).toBeCloseTo(7.27, 2);
    expect(level([1000, 100, 100, 100, 100], 1, 3)).toBeCloseTo(36.36, 2);
    expect(level([100, 100, 100, 100, 100], 2, 3)).toBeCloseTo(66.67, 2);
  });

  it('equals a closed-form min-cut oracle when demands do not bind', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1e6 }), { minLength: 4, maxLength: 9 }),
        fc.constantFrom([1, 2], [2, 1], [2, 2], [1, 1]),
        (caps, [k, m]) => {
          const s = k! + m!;
          fc.pre(caps.length - 1 >= s);
          const level = equalShareLevel(
            caps,
            caps.map(() => 1e12),
            k!,
            s,
          );
          const oracle = equalShareOracle(caps, k!, s);
          expect(Math.abs(level - oracle)).toBeLessThanOrEqual(Math.max(2, oracle * 1e-6));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('equals bisection over a Dinic max-flow, demands binding or not', () => {
    // The engine's feasibility check is a closed-form min cut; this is the network it stands for.
    const flowLevel = (caps: number[], demands: number[], k: number, s: number): number => {
      const n = caps.length;
      const feasible = (level: number) => {
        const net = new FlowNetwork(2 * n + 2);
        let need = 0;
        for (let o = 0; o < n; o++) {
          const x = Math.min(demands[o]!, level) / k;
          if (x <= 0) continue;
          need += x * s;
          net.addEdge(2 * n, o, x * s);
          for (let j = 0; j < n; j++) if (j !== o) net.addEdge(o, n + j, x);
        }
        if (need === 0) return true;
        for (let j = 0; j < n; j++) net.addEdge(n + j, 2 * n + 1, caps[j]!);
        return net.maxFlow(2 * n, 2 * n + 1, need * 1e-12) >= need * (1 - 1e-9);
      };
      const maxDemand = Math.max(0, ...demands);
      if (feasible(maxDemand)) return Number.POSITIVE_INFINITY;
      let lo = 0;
      let hi = maxDemand;
      while (hi - lo > 1) {
        const mid = lo + Math.floor((hi - lo) / 2);
        if (feasible(mid)) lo = mid;
        else hi = mid;
      }
      return lo;
    };
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1e7 }), fc.integer({ min: 0, max: 1e7 })), {
          minLength: 3,
          maxLength: 12,
        }),
        fc.constantFrom([1, 1], [1, 2], [2, 1], [2, 2], [3, 2], [4, 2]),
        (pairs, [k, m]) => {
          const s = k! + m!;
          fc.pre(pairs.length - 1 >= s);
          const caps = pairs.map((p) => p[0]);
          const demands = pairs.map((p) => p[1]);
          const fast = equalShareLevel(caps, demands, k!, s);
          const slow = flowLevel(caps, demands, k!, s);
          if (slow === Number.POSITIVE_INFINITY) expect(fast).toBe(slow);
          else expect(Math.abs(fast - slow)).toBeLessThanOrEqual(Math.max(2, slow * 1e-6));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('limits by pledge or by the group, and says which', () => {
    const r = allowances(
      [10000, 10, 10, 10, 10].map((gb, i) => ({ id: `m${i}`, pledgeBytes: gb * GB })),
      { ratio: 3, tolerance: 1 },
    );
    expect(r.code).toMatchObject({ feasible: true, dataShards: 1, parityShards: 2 });
    const [big, ...small] = r.members;
    expect(big!.limitedBy).toBe('group');
    expect(big!.reason).toMatch(/other members are too small/);
    expect(big!.allowanceBytes).toBeLessThan(big!.agreementBytes);
    for (const m of small) {
      expect(m.limitedBy).toBe('pledge');
      expect(m.allowanceBytes).toBe(Math.floor((10 * GB) / 3));
    }
    // What every member is given fits at once: the level is feasible, one byte more is not.
    expect(big!.allowanceBytes).toBe(r.levelBytes);
  });

  it('gives nothing, with the reason, when no code fits', () => {
    const r = allowances(
      [1, 2].map((gb, i) => ({ id: `m${i}`, pledgeBytes: gb * GB })),
      { ratio: 2, tolerance: 1 },
    );
    expect(r.code.feasible).toBe(false);
    expect(r.members.every((m) => m.allowanceBytes === 0 && /other members/.test(m.reason))).toBe(true);
  });
});
