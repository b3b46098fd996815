import { describe, expect, it } from 'vitest';
import {
  closedFormLoss,
  EngineError,
  exposure,
  type MemberSighting,
  memberStatus,
  type StripeHolding,
} from '../../engine/index.ts';

const HOUR = 3600e3;
const NOW = 500 * HOUR;
const GB = 1e9;

const members = (ids: string[], patch: Record<string, Partial<MemberSighting>> = {}): MemberSighting[] =>
  ids.map((id) => ({ id, lastSeenMs: NOW, removed: false, ...patch[id] }));

const stripe = (
  stripeId: string,
  owner: string,
  holders: (string | null)[],
  k = 2,
  shardBytes = 100,
): StripeHolding => ({
  stripeId,
  owner,
  dataShards: k,
  parityShards: holders.length - k,
  shardBytes,
  holders,
});

describe('exposure', () => {
  const ids = ['o', 'a', 'b', 'c', 'd', 'e'];
  // 2+2 stripes, tolerance 1: exposed below 3 held, unrecoverable below 2.
  const stripes = [
    stripe('s1', 'o', ['a', 'b', 'c', 'd']),
    stripe('s2', 'o', ['a', 'b', 'c', null]),
    stripe('s3', 'o', ['a', 'b', null, null]),
    stripe('s4', 'o', ['a', null, null, null]),
    stripe('t1', 'a', ['o', 'b', 'c', 'e']),
  ];

  it('counts exposed, unreadable-now and unrecoverable bytes per owner', () => {
    const r = exposure({
      members: members(ids),
      stripes,
      tolerance: 1,
      nowMs: NOW,
      repairBytesPerSecond: 100,
    });
    const o = r.owners.find((x) => x.owner === 'o')!;
    expect(o.storedBytes).toBe(4 * 200);
    expect(o.exposedBytes).toBe(2 * 200); // s3, s4
    expect(o.unrecoverableBytes).toBe(200); // s4
    expect(o.unreadableNowBytes).toBe(200);
    expect(o.protectedByMs).toBeNull(); // s4 cannot come back
    const a = r.owners.find((x) => x.owner === 'a')!;
    expect(a.exposedBytes).toBe(0);
    expect(a.protectedByMs).toBe(NOW);
  });

  it('counts a member away inside the grace period as holding, but not as readable now', () => {
    const away = members(ids, { c: { lastSeenMs: NOW - HOUR } });
    const r = exposure({ members: away, stripes: stripes.slice(0, 1), tolerance: 1, nowMs: NOW });
    expect(r.owners[0]!.exposedBytes).toBe(0);
    const gone = members(ids, { c: { lastSeenMs: NOW - 25 * HOUR }, d: { removed: true } });
    const r2 = exposure({ members: gone, stripes: stripes.slice(0, 1), tolerance: 1, nowMs: NOW });
    expect(r2.owners[0]!.exposedBytes).toBe(200);
    const off = members(ids, {
      a: { lastSeenMs: NOW - HOUR },
      b: { lastSeenMs: NOW - HOUR },
      c: { lastSeenMs: NOW - HOUR },
    });
    const r3 = exposure({ members: off, stripes: stripes.slice(0, 1), tolerance: 1, nowMs: NOW });
    expect(r3.owners[0]!.exposedBytes).toBe(0);
    expect(r3.owners[0]!.unreadableNowBytes).toBe(200);
  });

  it('estimates when protection returns from the repair queue and bandwidth', () => {
    const s = [stripe('x1', 'o', ['a', 'b', 'c', null]), stripe('x2', 'o', ['a', 'b', null, null])];
    // Queue in priority order: x2 (2 held: (k-1+2) shards = 300 B) then x1 (300 -> 3 held: 200 B).
    const r = exposure({
      members: members(ids),
      stripes: s,
      tolerance: 1,
      nowMs: NOW,
      repairBytesPerSecond: 100,
    });
    const o = r.owners[0]!;
    expect(o.exposedBytes).toBe(200); // x2 only
    expect(o.repairQueueBytes).toBe(300);
    expect(o.protectedByMs).toBe(NOW + 3000);
    expect(r.totals.repairQueueBytes).toBe(500);
  });

  it('accepts aggregated stripes with a count', () => {
    const r = exposure({
      members: members(ids),
      stripes: [{ ...stripe('g', 'o', ['a', 'b', null, null]), count: 10 }],
      tolerance: 1,
      nowMs: NOW,
    });
    expect(r.owners[0]!.exposedBytes).toBe(2000);
  });

  it('rejects bad input', () => {
    expect(() => exposure({ members: members(ids), stripes, tolerance: -1, nowMs: NOW })).toThrow(
      EngineError,
    );
    expect(() =>
      exposure({ members: members(ids), stripes, tolerance: 1, nowMs: NOW, repairBytesPerSecond: 0 }),
    ).toThrow(EngineError);
  });
});

describe('closedFormLoss', () => {
  it('matches s(s-1) afr^2 W for a single parity at small failure rates', () => {
    const afr = 0.05;
    const w = 2;
    const r = closedFormLoss({ dataShards: 2, parityShards: 1, afr, repairWindowDays: w });
    const approx = 3 * 2 * afr * afr * (w / 365);
    expect(r.annualLossRate / approx).toBeGreaterThan(0.99);
    expect(r.annualLossRate / approx).toBeLessThan(1.01);
    expect(r.annualLoss).toBeCloseTo(-Math.expm1(-r.annualLossRate), 15);
  });

  it('falls with more parity and rises with a longer window', () => {
    const base = { dataShards: 4, afr: 0.1, repairWindowDays: 3 };
    const m1 = closedFormLoss({ ...base, parityShards: 1 }).annualLossRate;
    const m2 = closedFormLoss({ ...base, parityShards: 2 }).annualLossRate;
    expect(m2).toBeLessThan(m1 / 10);
    expect(closedFormLoss({ ...base, parityShards: 1, repairWindowDays: 6 }).annualLossRate).toBeGreaterThan(
      m1,
    );
    expect(closedFormLoss({ ...base, parityShards: 0 }).annualLossRate).toBeCloseTo(4 * 0.1, 12);
    expect(() => closedFormLoss({ ...base, parityShards: 1, afr: -1 })).toThrow(EngineError);
  });
});

describe('memberStatus', () => {
  it('reports the table of docs/design.md §3: [10000, 10, 10, 10, 10] GB at ratio 2, tolerance 1', () => {
    const pledges = [10000, 10, 10, 10, 10].map((g) => g * GB);
    const ids = ['big', 's1', 's2', 's3', 's4'];
    const status = memberStatus({
      members: ids.map((id, i) => ({ id, pledgeBytes: pledges[i]! })),
      agreement: { ratio: 2, tolerance: 1 },
      stripes: [{ ...stripe('b:0/0', 'big', ['s1', 's2', 's3'], 2, 1 * GB), count: 3 }],
    });
    const big = status.find((s) => s.id === 'big')!;
    expect(big.dataShards).toBe(2);
    expect(big.parityShards).toBe(1);
    // One owner: 26.7 GB for the big member (others 4 x 10), 30 GB for a small one.
    expect(big.boundBytes / GB).toBeCloseTo(26.667, 2);
    expect(status.find((s) => s.id === 's1')!.boundBytes / GB).toBeCloseTo(30, 2);
    expect(big.limitedBy).toBe('group');
    expect(big.allowanceBytes).toBeLessThan(big.agreementBytes);
    expect(big.backedUpBytes).toBe(6 * GB);
    expect(big.storedWithRedundancyBytes).toBe(9 * GB);
    expect(big.allowanceLeftBytes).toBe(Math.max(0, big.allowanceBytes - 6 * GB));
    const s1 = status.find((s) => s.id === 's1')!;
    expect(s1.pledgeUsedBytes).toBe(3 * GB);
    expect(s1.pledgeUsedFraction).toBeCloseTo(0.3, 12);
    expect(s1.limitedBy).toBe('pledge');
    expect(s1.allowanceBytes).toBe(5 * GB);
  });

  it('leaves removed members out of the allowance', () => {
    const status = memberStatus({
      members: [
        { id: 'a', pledgeBytes: 100 * GB },
        { id: 'b', pledgeBytes: 100 * GB },
        { id: 'c', pledgeBytes: 100 * GB },
        { id: 'd', pledgeBytes: 100 * GB, removed: true },
      ],
      agreement: { ratio: 2, tolerance: 1 },
      stripes: [],
    });
    expect(status.map((s) => s.id)).toEqual(['a', 'b', 'c']);
  });
});
