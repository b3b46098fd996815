/**
 * bench/group-backup.ts in the suite's shape: backup and restore across five pb-node processes,
 * each >= 0.5x the raw libp2p stream's MiB/s in the same run. The full run takes three runs and
 * judges the median of their ratios (`backupXRaw`, `restoreXRaw`); a report without those (one
 * run of an older build) is judged by its MiB/s against its raw stream.
 */
import { atLeast, type BenchAdapter, numberAt } from '../report.ts';

export const adapter: BenchAdapter = {
  title: 'Group backup (five daemons on loopback, against a raw stream)',
  quickArgs: ['--quick', '--no-recovery'],
  fullArgs: ['--repeat', '3'],
  summarize(json) {
    const raw = numberAt(json, 'rawStreamMiBs');
    const of = (key: string) => {
      const ratio = numberAt(json, key.replace('MiBs', 'XRaw'));
      if (ratio !== null) return ratio;
      const v = numberAt(json, key);
      return v !== null && raw ? v / raw : null;
    };
    return {
      targets: [
        atLeast('backup MiB/s / raw stream', of('backupMiBs'), 0.5, 'x'),
        atLeast('restore MiB/s / raw stream', of('restoreMiBs'), 0.5, 'x'),
      ],
      notes: [
        `raw ${raw ?? '?'} MiB/s, backup ${numberAt(json, 'backupMiBs') ?? '?'} MiB/s, restore ${numberAt(json, 'restoreMiBs') ?? '?'} MiB/s; CPU ${numberAt(json, 'cpuSeconds') ?? '?'} s, peak RSS ${numberAt(json, 'peakRssMiB') ?? '?'} MiB`,
      ],
    };
  },
};
