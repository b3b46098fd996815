/**
 * bench/idle.ts in the suite's shape: a member that holds shards and has nothing to do, with the
 * default settings: <= 0.2 % of one core and <= 100 MiB RSS (the worst of the group's daemons).
 */
import { atMost, type BenchAdapter, numberAt } from '../report.ts';

export const adapter: BenchAdapter = {
  title: 'Idle cost (four daemons holding shards, default settings, left alone)',
  quickArgs: ['--quick'],
  fullArgs: [],
  summarize(json) {
    const seconds = numberAt(json, 'seconds');
    if (seconds === null) throw new Error('no "seconds" in the idle report');
    return {
      targets: [
        atMost('worst daemon CPU, % of one core', numberAt(json, 'worstCpuPercent'), 0.2, '%'),
        atMost('worst daemon RSS peak in the window', numberAt(json, 'worstPeakRssMiB'), 100, 'MiB'),
      ],
      notes: [
        `${numberAt(json, 'members') ?? '?'} daemons left alone for ${seconds} s; worst RSS at the end ${numberAt(json, 'worstRssMiB') ?? '?'} MiB`,
      ],
    };
  },
};
