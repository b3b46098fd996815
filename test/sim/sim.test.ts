import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { chooseCode } from '../../engine/index.ts';
import { main } from '../../sim/cli.ts';
import { defaultConfig, type SimConfig } from '../../sim/config.ts';
import { renderHtml, surprises } from '../../sim/report.ts';
import type { SimResult } from '../../sim/result.ts';
import { runSimulation } from '../../sim/simulation.ts';
import { capture } from './_capture.ts';

const MiB = 2 ** 20;

/** A small, fast group: equal pledges, fast links, no churn unless asked. */
function small(n: number, over: Partial<SimConfig> = {}): SimConfig {
  return defaultConfig({
    pledgesBytes: Array(n).fill(20e9),
    agreement: { ratio: 2, tolerance: 1 },
    days: 20,
    onlineFraction: 1,
    afr: 0,
    replacementMs: 2 * 86400e3,
    graceMs: 86400e3,
    uploadBytesPerSecond: 125e6,
    downloadBytesPerSecond: 125e6,
    data: Array(n).fill(200 * MiB),
    shardBytes: MiB,
    samples: 40,
    ...over,
  });
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('simulator', () => {
  it('gives the same JSON byte for byte for the same seed, and another for another seed', () => {
    const argv = [
      '--peers',
      '6',
      '--skew',
      '100x',
      '--days',
      '40',
      '--afr',
      '2',
      '--online',
      '0.9',
      '--session',
      '12h',
    ];
    const args = [...argv, '--joins', '1', '--removals', '1', '--shard', '64MiB', '--json', '--no-report'];
    const a = capture(() => main([...args, '--seed', '7']));
    const b = capture(() => main([...args, '--seed', '7']));
    const c = capture(() => main([...args, '--seed', '8']));
    expect(a.code).toBe(0);
    expect(a.out.length).toBeGreaterThan(1000);
    expect(b.out).toBe(a.out);
    expect(c.out).not.toBe(a.out);
    const json = JSON.parse(a.out);
    for (const m of json.members) {
      for (const key of [
        'id',
        'pledgeBytes',
        'allowanceBytes',
        'boundBytes',
        'backedUpBytes',
        'firstFullBackupHours',
        'exposedByteHours',
        'repairBytesSent',
      ]) {
        expect(m).toHaveProperty(key);
      }
    }
    expect(json.group).toMatchObject({
      k: expect.any(Number),
      m: expect.any(Number),
      stripesLost: expect.any(Number),
    });
    expect(json.group.closedForm).toMatchObject({
      afr: 2,
      repairWindowDays: expect.any(Number),
      annualLoss: expect.any(Number),
    });
    expect(json.group.failures + json.group.joins + json.group.removals).toBeGreaterThan(0);
  });

  it('loses no stripe when at most m holders fail inside a repair window (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 5, max: 8 }),
        fc.constantFrom(1, 2),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1000 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.string({ minLength: 1, maxLength: 6 }),
        (n, tolerance, clusters, seed) => {
          const code = chooseCode({ ratio: 3, tolerance }, n - 1);
          if (!code.feasible) return;
          const m = code.parityShards;
          // Clusters 4 days apart (grace 1 d, replacement 2 d), each of at most m distinct members.
          const failures = clusters.flatMap(([size, pick], c) => {
            const count = 1 + (size % m);
            return Array.from({ length: count }, (_, j) => ({
              member: (pick + j) % n,
              atDays: 1 + 4 * c + j * 0.1,
            }));
          });
          const r = runSimulation(
            small(n, { seed, agreement: { ratio: 3, tolerance }, failures, days: 4 * clusters.length + 4 }),
          );
          expect(r.group.m).toBe(m);
          expect(r.group.failures).toBe(failures.length);
          expect(r.group.stripesLost).toBe(0);
          expect(r.group.underReplicatedStripes).toBe(0);
          expect(r.group.repairTasks).toBeGreaterThan(0);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('loses stripes when more than m holders fail inside one window (the property can fail)', () => {
    const failures = [0, 1, 2].map((member) => ({ member, atDays: 2 + member * 0.01 }));
    const r = runSimulation(small(5, { agreement: { ratio: 2, tolerance: 1 }, failures }));
    expect(r.group.m).toBeLessThan(3);
    expect(r.group.stripesLost).toBeGreaterThan(0);
  });

  it('re-places every shard of a removed member (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 5, max: 8 }),
        fc.nat(),
        fc.double({ min: 0.5, max: 8, noNaN: true }),
        fc.string({ minLength: 1, maxLength: 6 }),
        (n, pick, atDays, seed) => {
          const member = pick % n;
          const r = runSimulation(small(n, { seed, scheduledRemovals: [{ member, atDays }], days: 12 }));
          const removed = r.members[member]!;
          expect(removed.removed).toBe(true);
          expect(r.group.removals).toBe(1);
          expect(removed.heldShards).toBe(0);
          expect(r.group.underReplicatedStripes).toBe(0);
          expect(r.group.stripesLost).toBe(0);
          expect(r.group.repairTasks).toBeGreaterThan(0);
        },
      ),
      { numRuns: 10 },
    );
  });

  it('runs no repair for members offline shorter than the grace period (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            member: fc.integer({ min: 0, max: 5 }),
            atDays: fc.double({ min: 0.1, max: 15, noNaN: true }),
            forHours: fc.double({ min: 0.1, max: 23.9, noNaN: true }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        fc.string({ minLength: 1, maxLength: 6 }),
        (outages, seed) => {
          const r = runSimulation(small(6, { seed, outages }));
          expect(r.group.repairTasks).toBe(0);
          expect(r.group.repairBytes).toBe(0);
          expect(r.members.every((m) => m.exposedByteHours === 0)).toBe(true);
        },
      ),
      { numRuns: 12 },
    );
    // Ordinary churn (offline a few hours at a time) costs no repair either...
    const churn = runSimulation(small(6, { onlineFraction: 0.8, sessionMs: 6 * 3600e3, days: 30 }));
    expect(churn.group.repairTasks).toBe(0);
    // ...while an outage longer than the grace period is repaired around.
    const long = runSimulation(small(6, { outages: [{ member: 2, atDays: 3, forHours: 30 }] }));
    expect(long.group.repairTasks).toBeGreaterThan(0);
  });

  it('observes the closed-form loss rate within a factor of 2 over many seeds', () => {
    let lost = 0;
    let stripeYears = 0;
    let closed = 0;
    for (let i = 0; i < 20; i++) {
      const r = runSimulation(
        small(8, {
          seed: `loss-${i}`,
          agreement: { ratio: 2, tolerance: 0 },
          days: 100,
          afr: 5,
          replacementMs: 86400e3,
          data: Array(8).fill(500 * MiB),
          dailyChange: 0,
        }),
      );
      lost += r.group.stripesLost;
      stripeYears += r.group.stripeYears;
      closed = r.group.closedForm.annualLoss;
    }
    const observed = lost / stripeYears;
    expect(lost).toBeGreaterThan(100);
    expect(observed / closed).toBeGreaterThan(0.5);
    expect(observed / closed).toBeLessThan(2);
  });
});

describe('pnpm sim CLI', () => {
  it('prints the table for five members with a 1000x skew', () => {
    const r = capture(() => main(['--peers', '5', '--skew', '1000x', '--days', '20', '--no-report']));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/member +pledge +allowance/);
    expect(r.out).toMatch(/m01 +10\.0 TB/);
    expect(r.out).toMatch(/m05 +10\.0 GB/);
    expect(r.out).toMatch(/annual loss, closed form/);
    expect(r.out).toMatch(/repair window, measured/);
    // The figure a reader stops at gets a sentence: the 10 TB pledge is almost all unusable.
    expect(r.out).toMatch(/m01 pledges 10\.0 TB but only .* cannot be used under this agreement/);
  });

  it('a family of a NAS and four laptops: every member finishes its first backup within its allowance', () => {
    // Each owner's plan leans on the laptops; the allowances are what those plans hold together
    // (engine/allowances.ts), so nobody is promised room its stripes cannot get.
    const r = capture(() =>
      main([
        '--pledges',
        '4T,500G,500G,250G,250G',
        '--ratio',
        '3',
        '--days',
        '10',
        '--stripes',
        '2000',
        '--json',
        '--no-report',
      ]),
    );
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out) as SimResult;
    for (const m of result.members) {
      expect(m.firstFullBackupHours, m.id).not.toBeNull();
      expect(m.pledgeUsedBytes, m.id).toBeLessThanOrEqual(m.pledgeBytes);
    }
    expect(surprises(result).some((n) => n.includes('did not finish'))).toBe(false);
  });

  it('says why members never finish a first backup when the holders their stripes need are full', () => {
    const r = capture(() =>
      main([
        ...['--pledges', '4T,500G,500G,250G,250G', '--ratio', '3', '--days', '10', '--stripes', '2000'],
        ...['--data', '200G,200G,200G,50G,50G', '--json', '--no-report'],
      ]),
    );
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out) as SimResult;
    const never = result.members.filter((m) => m.firstFullBackupHours === null);
    expect(never.map((m) => m.id)).toEqual(['m01', 'm02', 'm03']);
    for (const m of never) {
      expect(m.waitingForRoom).toBe(true);
      expect(m.backedUpBytes).toBeLessThan(m.dataBytes);
      expect(m.backedUpBytes).toBeGreaterThanOrEqual(m.allowanceBytes);
    }
    const note = surprises(result).find((n) => n.includes('did not finish a first full backup'));
    expect(note).toMatch(
      /^m01, m02, m03 did not finish a first full backup in the run: they stopped at \d+ % to \d+ % of their data/,
    );
    expect(note).toMatch(
      /waiting for room on m04, m05, whose pledges are full: their data is more than their allowances\.$/,
    );
    // The HTML gives each note once, in its list, not again inside the text table.
    const html = renderHtml(result);
    expect(html.split('did not finish a first full backup')).toHaveLength(2);
  });

  it('explains bad values and refuses them', () => {
    for (const [args, message] of [
      [['--peers', '1'], /--peers/],
      [['--skew', 'lots'], /--skew/],
      [['--pledges', '10T,abc'], /--pledges item 2/],
      [['--online', '1.5'], /--online/],
      [['--bandwidth', 'fast'], /--bandwidth/],
      [['--peers', '5', '--pledges', '1T,1T,1T'], /either --pledges or --peers/],
      [['--ratio', '1', '--tolerance', '1'], /infeasible|ratio/],
    ] as const) {
      const r = capture(() => main([...args, '--days', '1', '--no-report']));
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(message);
    }
  });

  it('explains every option in --help', () => {
    const r = capture(() => main(['--help']));
    expect(r.code).toBe(0);
    for (const flag of [
      '--peers',
      '--skew',
      '--pledges',
      '--ratio',
      '--tolerance',
      '--days',
      '--seed',
      '--online',
      '--afr',
      '--bandwidth',
      '--data',
      '--json',
      '--out',
    ]) {
      expect(r.out).toContain(flag);
    }
  });
});
