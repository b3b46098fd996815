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
    const rows = recordsAt(json, 'rows');
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
        `${rows.length} pledge-set x shape cases`,
        ...(quick
          ? [
              'quick: 40k stripes per case (full: 400k), so utilisation, balance and movement are coarser than the full run',
            ]
          : []),
      ],
    };
  },
};
