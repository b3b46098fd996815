/** bench/pipeline.ts in the suite's shape: pb against borg and restic on the same data, same run. */
import { atLeast, atMost, type BenchAdapter, numberAt } from '../report.ts';

const ratio = (a: number | null, b: number | null) => (a !== null && b ? a / b : null);

export const adapter: BenchAdapter = {
  title: 'Data pipeline (local members, against restic and borg)',
  quickArgs: ['--size', '128MiB'],
  fullArgs: [],
  summarize(json) {
    const pb = (key: string) => numberAt(json, 'pb', key);
    const notes: string[] = [];
    const mib = numberAt(json, 'datasetBytes');
    notes.push(
      `dataset ${mib === null ? '?' : (mib / 2 ** 20).toFixed(0)} MiB; pb backup ${pb('backupMiBs')} MiB/s, restore ${pb('restoreMiBs')} MiB/s`,
    );
    if (numberAt(json, 'borg', 'backupMiBs') === null) notes.push('borg not measured (not installed?)');
    if (numberAt(json, 'restic', 'restoreMiBs') === null) notes.push('restic not measured (not installed?)');
    return {
      targets: [
        atLeast(
          'pb backup / borg backup (MiB/s)',
          ratio(pb('backupMiBs'), numberAt(json, 'borg', 'backupMiBs')),
          1.5,
          'x',
        ),
        atLeast(
          'pb restore / restic restore (MiB/s)',
          ratio(pb('restoreMiBs'), numberAt(json, 'restic', 'restoreMiBs')),
          1.5,
          'x',
        ),
        atMost(
          'pb unchanged re-run / restic re-run (s)',
          ratio(pb('rerunSeconds'), numberAt(json, 'restic', 'rerunSeconds')),
          1,
          'x',
        ),
        atMost('pb peak RSS', pb('peakRssMiB'), 300, 'MiB'),
      ],
      notes,
    };
  },
};
