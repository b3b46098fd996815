import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../sim/cli.ts';
import { recommend, type SweepResult, type SweepRow } from '../../sim/sweep.ts';
import { capture } from './_capture.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

const ARGS = ['--pledges', '200G,100G,100G,50G,20G', '--days', '4', '--shard', '64MiB', '--afr', '0.5'];

function row(over: Partial<SweepRow>): SweepRow {
  return {
    ratio: 2,
    tolerance: 1,
    feasible: true,
    reason: null,
    k: 2,
    m: 1,
    members: [],
    totalAllowanceBytes: 100e9,
    unusablePledgeBytes: 0,
    firstFullBackupDaysMax: 1,
    memberAnnualLossChance: 1e-7,
    stripeAnnualLoss: 1e-8,
    repairWindowDays: 1,
    stripesLost: 0,
    ...over,
  };
}

describe('pnpm sim --sweep', () => {
  it('gives one JSON row per ratio x tolerance with the figures a group chooses by, and a recommendation', () => {
    const r = capture(() =>
      main([...ARGS, '--sweep', '--ratios', '1.5,2,3', '--tolerances', '0,2', '--json', '--no-report']),
    );
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out) as SweepResult;
    expect(s.rows.map((x) => [x.ratio, x.tolerance])).toEqual([
      [1.5, 0],
      [1.5, 2],
      [2, 0],
      [2, 2],
      [3, 0],
      [3, 2],
    ]);
    const infeasible = s.rows.find((x) => x.ratio === 1.5 && x.tolerance === 2)!;
    expect(infeasible.feasible).toBe(false);
    expect(infeasible.reason).toMatch(/ratio 1.5 is too small for tolerance 2/);
    for (const x of s.rows.filter((y) => y.feasible)) {
      expect(x.members).toHaveLength(5);
      for (const m of x.members) {
        expect(m.allowanceBytes).toBeGreaterThan(0);
        expect(m.unusablePledgeBytes).toBeGreaterThanOrEqual(0);
        expect(m.unusablePledgeBytes).toBeLessThanOrEqual(m.pledgeBytes);
      }
      expect(x.memberAnnualLossChance).toBeGreaterThan(0);
      expect(x.memberAnnualLossChance).toBeLessThan(1);
    }
    // More parity for the same ratio: a lower chance of losing anything.
    const chance = (ratio: number, tolerance: number) =>
      s.rows.find((x) => x.ratio === ratio && x.tolerance === tolerance)!.memberAnnualLossChance!;
    expect(chance(3, 2)).toBeLessThan(chance(3, 0));
    expect(s.recommendation).toEqual(recommend(s.rows, 1e-6));
    expect(s.recommendation.reason.length).toBeGreaterThan(40);
  }, 120_000);

  it('prints the table and writes the HTML report with the table and the chart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-sweep-'));
    try {
      const out = join(dir, 'sweep.html');
      const r = capture(() =>
        main([...ARGS, '--sweep', '--ratios', '2,3', '--tolerances', '1', '--target', '1e-3', '--out', out]),
      );
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/ratio \/ tol +code +allowance, all +unusable pledge/);
      expect(r.out).toMatch(/^2 \/ 1 +2\+1/m);
      expect(r.out).toMatch(/recommended: ratio \d/);
      const html = readFileSync(out, 'utf8');
      expect(html).toContain('<svg id="chart-sweep"');
      expect(html).toMatch(/<rect class="bar"/);
      expect(html).toContain('Recommended:');
      expect(html).toContain('loss / member-yr');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('refuses --ratio with --sweep and bad lists, naming what was given', () => {
    for (const [args, message] of [
      [['--sweep', '--ratio', '2'], /--sweep takes --ratios/],
      [['--sweep', '--ratios', '2,x'], /--ratios item 2/],
      [['--sweep', '--tolerances', '0,9'], /--tolerances item 2/],
    ] as const) {
      const r = capture(() => main([...args, '--days', '1', '--no-report']));
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(message);
    }
  });
});

describe('recommend', () => {
  it('picks the most backup for the pledges under the target, and says why', () => {
    const rows = [
      row({ ratio: 1.5, tolerance: 0, totalAllowanceBytes: 200e9, memberAnnualLossChance: 1e-4 }),
      row({ ratio: 2, tolerance: 2, totalAllowanceBytes: 25e9, memberAnnualLossChance: 1e-8 }),
      row({ ratio: 3, tolerance: 1, totalAllowanceBytes: 88e9, memberAnnualLossChance: 1e-8 }),
      row({ ratio: 1.5, tolerance: 2, feasible: false, memberAnnualLossChance: null }),
    ];
    const r = recommend(rows, 1e-6);
    expect([r.ratio, r.tolerance]).toEqual([3, 1]);
    expect(r.reason).toMatch(/cheapest agreement under 1.0e-6/);
    expect(r.reason).toMatch(/ratio 1.5, tolerance 0: 200 GB\) risks at least 1.0e-4/);
  });

  it('says so when no agreement reaches the target, and when none is feasible', () => {
    const rows = [
      row({ ratio: 2, tolerance: 0, memberAnnualLossChance: 1e-3 }),
      row({ ratio: 3, tolerance: 1, memberAnnualLossChance: 1e-5 }),
    ];
    const r = recommend(rows, 1e-6);
    expect([r.ratio, r.tolerance]).toEqual([3, 1]);
    expect(r.reason).toMatch(/no agreement reaches 1.0e-6/);
    expect(recommend([row({ feasible: false, memberAnnualLossChance: null })], 1e-6)).toEqual({
      ratio: null,
      tolerance: null,
      reason: 'no agreement in the sweep is feasible for this group',
    });
  });
});
