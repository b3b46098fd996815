import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chooseStripe,
  EngineError,
  hash64,
  type PlacementPlan,
  pairScoreHex,
  placementPlan,
  placeStripe,
  placeStripeByKey,
  straw2Inclusion,
  stripeKey,
} from '../../engine/index.ts';

const hex64 = (s: string) => {
  const x = hash64(s);
  return x.hi.toString(16).padStart(8, '0') + x.lo.toString(16).padStart(8, '0');
};

const skewed = () =>
  placementPlan(
    [
      { id: 'alice', capacityBytes: 10e12 },
      { id: 'bob', capacityBytes: 10e9 },
      { id: 'carol', capacityBytes: 10e9 },
      { id: 'dave', capacityBytes: 10e9 },
      { id: 'erin', capacityBytes: 10e9 },
    ],
    3,
  );

const twelve = () =>
  placementPlan(
    Array.from({ length: 12 }, (_, i) => ({ id: `m${i}`, capacityBytes: (i + 1) * 1e9 })),
    6,
  );

describe('pb-hash64 v1 (golden vectors: a change here moves stored data)', () => {
  it('hashes strings', () => {
    expect(hex64('')).toBe('56515ecbaae05d1b');
    expect(hex64('a')).toBe('ce036f79e1582582');
    expect(hex64('pb')).toBe('f3197772c0ab0540');
    expect(hex64('stripe-1/0')).toBe('cfc660bf62e9f218');
    expect(hex64('héllo wörld')).toBe('e4dc9f7fb989a730');
    expect(hex64('12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo')).toBe('e6f4fe519c75a95e');
  });

  it('scores (stripe, member) pairs', () => {
    expect(pairScoreHex('s/0', 'm1')).toBe('83dde263a04b330c');
    expect(pairScoreHex('s/1', 'm1')).toBe('4a6f02d23599c2a8');
    expect(pairScoreHex('abc', '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo')).toBe(
      'de9d2e62f6b346a0',
    );
  });

  it('computes fmix64 exactly (against BigInt)', () => {
    const M = (1n << 64n) - 1n;
    const fmix = (k: bigint) => {
      k ^= k >> 33n;
      k = (k * 0xff51afd7ed558ccdn) & M;
      k ^= k >> 33n;
      k = (k * 0xc4ceb9fe1a85ec53n) & M;
      k ^= k >> 33n;
      return k;
    };
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const s = hash64(a);
        const m = hash64(b);
        const mKey = fmix((BigInt(m.hi) << 32n) | BigInt(m.lo));
        const expected = fmix(((BigInt(s.hi) << 32n) | BigInt(s.lo)) ^ mKey);
        expect(pairScoreHex(a || 'x', b || 'y')).toBe(pairScoreHex(a || 'x', b || 'y'));
        // pairScoreHex computes the same thing through the 32-bit path:
        if (a && b) expect(pairScoreHex(a, b)).toBe(expected.toString(16).padStart(16, '0'));
      }),
      { numRuns: 300 },
    );
  });
});

describe('placementPlan', () => {
  it('caps the big member of the 1000x case and weights the rest equally', () => {
    const plan = skewed();
    expect(plan.shareBytes).toBe(20e9);
    expect(plan.members.map((m) => [m.id, m.capped, m.targetProbability, m.weight])).toEqual([
      ['alice', true, 1, 0],
      ['bob', false, 0.5, 1],
      ['carol', false, 0.5, 1],
      ['dave', false, 0.5, 1],
      ['erin', false, 0.5, 1],
    ]);
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it('pins golden weights and placements', () => {
    expect(twelve().members.map((m) => m.weight)).toEqual([
      0.0317416096655, 0.0653639731426, 0.698019988201, 1, 0.101280163864, 0.14006269351, 0.182536859763,
      0.229949962871, 0.284293289748, 0.348921906281, 0.429588562665, 0.537341014718,
    ]);
    expect(Array.from({ length: 4 }, (_, i) => placeStripe(skewed(), `owner:${i}/0`))).toEqual([
      ['alice', 'carol', 'bob'],
      ['alice', 'carol', 'erin'],
      ['alice', 'carol', 'erin'],
      ['carol', 'erin', 'alice'],
    ]);
    expect(Array.from({ length: 3 }, (_, i) => placeStripe(twelve(), `owner:${i}/0`))).toEqual([
      ['m9', 'm5', 'm11', 'm7', 'm10', 'm6'],
      ['m9', 'm6', 'm11', 'm10', 'm4', 'm5'],
      ['m8', 'm6', 'm9', 'm10', 'm11', 'm4'],
    ]);
    expect(chooseStripe(twelve(), 'owner:7', { m0: 5e8 }, 1e6)).toEqual({
      stripeId: 'owner:7/1',
      members: ['m10', 'm11', 'm7', 'm9', 'm6', 'm2'],
    });
  });

  it('gives the same plan and placements in another process', () => {
    const script = `
      import { placementPlan, placeStripe } from './engine/index.ts';
      const plan = placementPlan(Array.from({ length: 12 }, (_, i) => ({ id: 'm' + i, capacityBytes: (i + 1) * 1e9 })), 6);
      console.log(JSON.stringify({ plan, p: Array.from({ length: 50 }, (_, i) => placeStripe(plan, 'x:' + i + '/0')) }));`;
    const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url).pathname,
      encoding: 'utf8',
    });
    expect(out.status, out.stderr).toBe(0);
    const other = JSON.parse(out.stdout) as { plan: PlacementPlan; p: string[][] };
    const plan = twelve();
    expect(other.plan).toEqual(plan);
    expect(other.p).toEqual(Array.from({ length: 50 }, (_, i) => placeStripe(plan, `x:${i}/0`)));
  });

  it('does not depend on the order members are given in', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 1e6 }), { minLength: 6, maxLength: 12 }),
        fc.integer(),
        (caps, seed) => {
          const ms = caps.map((c, i) => ({ id: `m${i}`, capacityBytes: c }));
          const shuffled = [...ms].sort(
            (a, b) => ((a.capacityBytes * 31 + seed) % 7) - ((b.capacityBytes * 31 + seed) % 7),
          );
          expect(placementPlan(shuffled, 4)).toEqual(placementPlan(ms, 4));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('rejects bad input with typed errors', () => {
    const bad: [() => unknown, string][] = [
      [() => placementPlan([{ id: 'a', capacityBytes: 1 }], 2), 'too-few-members'],
      [
        () =>
          placementPlan(
            [
              { id: 'a', capacityBytes: 1 },
              { id: 'b', capacityBytes: 0 },
            ],
            2,
          ),
        'too-few-members',
      ],
      [
        () =>
          placementPlan(
            [
              { id: 'a', capacityBytes: 1 },
              { id: 'a', capacityBytes: 1 },
            ],
            1,
          ),
        'duplicate-member',
      ],
      [() => placementPlan([{ id: 'a', capacityBytes: -5 }], 1), 'invalid-capacity'],
      [() => placementPlan([{ id: '', capacityBytes: 5 }], 1), 'invalid-argument'],
      [() => placeStripe(skewed(), ''), 'invalid-argument'],
      [() => placeStripe({ version: 2 } as unknown as PlacementPlan, 'x'), 'invalid-plan'],
      [() => chooseStripe(skewed(), 'x', {}, -1), 'invalid-argument'],
      [() => chooseStripe(skewed(), 'x', { bob: Number.NaN }, 1), 'invalid-argument'],
    ];
    for (const [fn, code] of bad) {
      expect(fn).toThrow(EngineError);
      try {
        fn();
      } catch (e) {
        expect((e as EngineError).code).toBe(code);
      }
    }
  });
});

const arbGroup = fc
  .record({
    caps: fc.array(fc.integer({ min: 0, max: 1e7 }), { minLength: 3, maxLength: 16 }),
    s: fc.integer({ min: 1, max: 6 }),
  })
  .filter(({ caps, s }) => caps.filter((c) => c > 0).length >= s);

describe('placeStripe properties', () => {
  it('returns s distinct members, every capped member, never a member with no capacity', () => {
    fc.assert(
      fc.property(
        arbGroup,
        fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 20 }),
        ({ caps, s }, ids) => {
          const plan = placementPlan(
            caps.map((c, i) => ({ id: `m${i}`, capacityBytes: c })),
            s,
          );
          const capped = plan.members.filter((m) => m.capped).map((m) => m.id);
          const empty = new Set(plan.members.filter((m) => m.capacityBytes === 0).map((m) => m.id));
          for (const id of ids) {
            const got = placeStripe(plan, id);
            expect(got).toHaveLength(s);
            expect(new Set(got).size).toBe(s);
            for (const c of capped) expect(got).toContain(c);
            for (const g of got) expect(empty.has(g)).toBe(false);
            expect(placeStripe(plan, id)).toEqual(got);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('matches the spec written out plainly (BigInt scores, logarithms for every member, full sorts)', () => {
    // docs/placement.md section 4 as a reference: the fast path (log lower bounds, typed arrays,
    // float-split multiplies, placeStripeByKey) must give exactly these members in this order.
    const reference = (plan: PlacementPlan, stripeId: string): string[] => {
      const u = (memberId: string) => {
        const score = BigInt(`0x${pairScoreHex(stripeId, memberId)}`);
        return (Number(score >> 11n) + 0.5) / 2 ** 53;
      };
      const weighted = plan.members.filter((m) => !m.capped && m.weight > 0);
      const equal = weighted.every((m) => m.weight === weighted[0]!.weight);
      const picks = plan.shardsPerStripe - plan.members.filter((m) => m.capped).length;
      const index = new Map(plan.members.map((m, i) => [m.id, i]));
      const keyed = weighted.map((m) => ({ m, key: equal ? -u(m.id) : -Math.log(u(m.id)) * (1 / m.weight) }));
      keyed.sort((a, b) => a.key - b.key || index.get(a.m.id)! - index.get(b.m.id)!);
      const chosen = [...plan.members.filter((m) => m.capped), ...keyed.slice(0, picks).map((x) => x.m)];
      return chosen
        .map((m) => ({ id: m.id, u: u(m.id), i: index.get(m.id)! }))
        .sort((a, b) => a.u - b.u || a.i - b.i)
        .map((x) => x.id);
    };
    fc.assert(
      fc.property(
        arbGroup,
        fc.array(fc.string({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 30 }),
        ({ caps, s }, ids) => {
          const plan = placementPlan(
            caps.map((c, i) => ({ id: `m${i}`, capacityBytes: c })),
            s,
          );
          for (const id of [...ids, ...ids.map((x, j) => `5f2c9a1be03d4471:${j}/${x.length & 1}`)]) {
            const expected = reference(plan, id);
            expect(placeStripe(plan, id)).toEqual(expected);
            expect(placeStripeByKey(plan, stripeKey(id))).toEqual(expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects a malformed stripe key with a typed error', () => {
    const plan = skewed();
    for (const bad of [
      null,
      {},
      { hi: -1, lo: 0 },
      { hi: 0, lo: 2 ** 32 },
      { hi: 0.5, lo: 0 },
      { hi: 0, lo: Number.NaN },
    ]) {
      expect(() => placeStripeByKey(plan, bad as never)).toThrow(EngineError);
    }
  });

  it('solves weights whose straw2 inclusion equals the targets', () => {
    fc.assert(
      fc.property(arbGroup, ({ caps, s }) => {
        const plan = placementPlan(
          caps.map((c, i) => ({ id: `m${i}`, capacityBytes: c })),
          s,
        );
        const free = plan.members.filter((m) => !m.capped && m.weight > 0);
        const picks = s - plan.members.filter((m) => m.capped).length;
        if (picks === 0 || free.length === picks) return;
        const inc = straw2Inclusion(
          free.map((m) => m.weight),
          picks,
        );
        for (const [i, m] of free.entries())
          expect(Math.abs(inc[i]! - m.targetProbability)).toBeLessThan(1e-7);
      }),
      { numRuns: 60 },
    );
  });

  it('includes each member with its target probability (sampled, within 5 standard errors)', () => {
    const cases: [number[], number][] = [
      [[10000, 10, 10, 10, 10], 3],
      [[1000, 400, 100, 100, 50, 10], 3],
      [[5, 4, 3, 3, 2, 1, 1, 1], 4],
      [Array.from({ length: 30 }, (_, i) => Math.round(100 * Math.exp(Math.sin(i) * 2))), 6],
    ];
    const N = 40_000;
    for (const [caps, s] of cases) {
      const plan = placementPlan(
        caps.map((c, i) => ({ id: `m${i}`, capacityBytes: c * 1e9 })),
        s,
      );
      const count = new Map<string, number>();
      for (let i = 0; i < N; i++)
        for (const id of placeStripe(plan, `t:${i}/0`)) count.set(id, (count.get(id) ?? 0) + 1);
      for (const m of plan.members) {
        const p = m.targetProbability;
        const se = Math.sqrt((p * (1 - p)) / N) + 1e-9;
        expect(Math.abs((count.get(m.id) ?? 0) / N - p), `${m.id} of ${caps} s=${s}`).toBeLessThan(
          5 * se + 1e-9,
        );
      }
    }
  });

  it('keeps shard order stable for members that stay (order by raw pair score)', () => {
    const before = twelve();
    const after = placementPlan(
      [
        ...Array.from({ length: 12 }, (_, i) => ({ id: `m${i}`, capacityBytes: (i + 1) * 1e9 })),
        { id: 'm12', capacityBytes: 6e9 },
      ],
      6,
    );
    for (let i = 0; i < 500; i++) {
      const a = placeStripe(before, `o:${i}/0`);
      const b = placeStripe(after, `o:${i}/0`).filter((id) => a.includes(id));
      expect(b).toEqual(a.filter((id) => b.includes(id)));
    }
  });
});

describe('chooseStripe', () => {
  it('picks the salt whose fullest member is least full, deterministically', () => {
    const plan = twelve();
    fc.assert(
      fc.property(
        fc.nat(1000),
        fc.dictionary(fc.constantFrom(...plan.members.map((m) => m.id)), fc.nat(1e9)),
        (seq, used) => {
          const choice = chooseStripe(plan, `o:${seq}`, used, 1e6);
          const fill = (ids: string[], other: string[]) =>
            Math.max(
              ...ids
                .filter((id) => !other.includes(id))
                .map((id) => ((used[id] ?? 0) + 1e6) / plan.members.find((m) => m.id === id)!.capacityBytes),
              Number.NEGATIVE_INFINITY,
            );
          const a = placeStripe(plan, `o:${seq}/0`);
          const b = placeStripe(plan, `o:${seq}/1`);
          const pick = fill(b, a) < fill(a, b) ? 'b' : 'a';
          expect(choice).toEqual(
            pick === 'b' ? { stripeId: `o:${seq}/1`, members: b } : { stripeId: `o:${seq}/0`, members: a },
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('fills the 1000x case to >= 99% of the bound before the first overflow', () => {
    const plan = skewed();
    const shard = 50e6;
    const used: Record<string, number> = {};
    let stripes = 0;
    for (let seq = 0; seq < 10_000; seq++) {
      const c = chooseStripe(plan, `o:${seq}`, used, shard);
      if (
        c.members.some((id) => (used[id] ?? 0) + shard > plan.members.find((m) => m.id === id)!.capacityBytes)
      )
        break;
      for (const id of c.members) used[id] = (used[id] ?? 0) + shard;
      stripes++;
    }
    expect((stripes * shard) / plan.shareBytes).toBeGreaterThanOrEqual(0.99);
  });
});
