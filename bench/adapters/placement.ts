/** bench/placement.ts in the suite's shape: the targets over all rows. */
import { atLeast, atMost, type BenchAdapter, recordsAt } from '../report.ts';

const nums = (rows: Record<string, unknown>[], key: string, keep = (_r: Record<string, unknown>) => true) =>
  rows
    .filter(keep)
    .map((r) => r[key])
    .filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
const min = (xs: number[]) => (xs.length ? Math.min(...xs) : null);
const max = (xs: number[]) => (xs.length ? Math.max(...xs) : null);

export const adapter: BenchAdapter = {
  title: 'Placement (calibrated rendezvous)',
  quickArgs: ['--quick'],
  fullArgs: [],
  summarize(json, quick) {
    const all = recordsAt(json, 'rows');
    // --quick: 500-member rows have too few shards per member to judge fills (see bench/placement.ts).
    const rows = quick ? all.filter((r) => typeof r.members === 'number' && r.members <= 50) : all;
    const with5 = (r: Record<string, unknown>) => r.members === 5;
    const with50 = (r: Record<string, unknown>) => r.members === 50;
    return {
      targets: [
        atLeast('utilisation, worst case', min(nums(rows, 'utilisationPct')), 99, '% of T*'),
        atMost('balance (max/mean fill), worst case', max(nums(rows, 'balance')), 1.02),
        atMost('movement, largest leaves (x minimal)', max(nums(rows, 'moveLeaveLargest')), 1.1),
        atMost('movement, median joins (x minimal)', max(nums(rows, 'moveJoinMedian')), 1.25),
        atLeast(
          'placements/s, 5 members (slowest shape)',
          min(nums(rows, 'placementsPerSec', with5)),
          3_000_000,
        ),
        atLeast(
          'placements/s, 50 members (slowest shape)',
          min(nums(rows, 'placementsPerSec', with50)),
          350_000,
        ),
      ],
      notes: [
        `${all.length} pledge-set x shape cases`,
        'placements/s: the best 10k-placement batch (the JSON has the median too)',
        ...(quick
          ? [
              'quick: 40k stripes per case (full: 400k); the 500-member rows are not judged (too few shards per member)',
            ]
          : []),
      ],
    };
  },
};
