/**
 * bench/pipeline.ts in the suite's shape: pb against borg and restic on the same data, same run,
 * per dataset (synthetic, real, tiny). The targets are ratios to the other tools measured in the
 * same run; bench/pipeline.ts prints the same verdicts in its own report.
 */
import { atLeast, atMost, type BenchAdapter, numberAt, type TargetResult } from '../report.ts';

const ratio = (a: number | null, b: number | null) => (a !== null && b ? a / b : null);
const MiB = 2 ** 20;

/** The targets of one dataset's results (`json` = that dataset's report). */
export function datasetTargets(name: string, json: unknown): TargetResult[] {
  const pb = (key: string) => numberAt(json, 'pb', key);
  const restic = (key: string) => numberAt(json, 'restic', key);
  const borg = (key: string) => numberAt(json, 'borg', key);
  const files = numberAt(json, 'files');
  if (name === 'real')
    return [
      atLeast('real: pb backup / borg backup (MiB/s)', ratio(pb('backupMiBs'), borg('backupMiBs')), 1, 'x'),
      atLeast(
        'real: pb restore / restic restore (MiB/s)',
        ratio(pb('restoreMiBs'), restic('restoreMiBs')),
        1,
        'x',
      ),
      atMost(
        'real: pb unchanged re-run / restic re-run (s)',
        ratio(pb('rerunSeconds'), restic('rerunSeconds')),
        1,
        'x',
      ),
      atMost(
        'real: pb stored before redundancy / restic repository',
        ratio(pb('storedBytes'), restic('storedBytes')),
        1.1,
        'x',
      ),
      atMost('real: pb peak RSS', pb('peakRssMiB'), 300, 'MiB'),
    ];
  if (name === 'tiny')
    return [
      atMost(
        'tiny: pb backup / restic backup (s)',
        ratio(pb('backupSeconds'), restic('backupSeconds')),
        1.5,
        'x',
      ),
      atMost(
        'tiny: pb re-run / restic re-run (s)',
        ratio(pb('rerunSeconds'), restic('rerunSeconds')),
        1.5,
        'x',
      ),
      atMost(
        'tiny: pb restore / restic restore (s)',
        ratio(pb('restoreSeconds'), restic('restoreSeconds')),
        1.5,
        'x',
      ),
      atMost(
        'tiny: pb index per file',
        files && pb('indexBytes') !== null ? pb('indexBytes')! / files : null,
        120,
        'bytes',
      ),
    ];
  return [
    atLeast('pb backup / borg backup (MiB/s)', ratio(pb('backupMiBs'), borg('backupMiBs')), 1.5, 'x'),
    atLeast('pb restore / restic restore (MiB/s)', ratio(pb('restoreMiBs'), restic('restoreMiBs')), 1.5, 'x'),
    atMost(
      'pb unchanged re-run / restic re-run (s)',
      ratio(pb('rerunSeconds'), restic('rerunSeconds')),
      1,
      'x',
    ),
    atMost('pb peak RSS', pb('peakRssMiB'), 300, 'MiB'),
  ];
}

export const adapter: BenchAdapter = {
  title: 'Data pipeline (local members, against restic and borg)',
  quickArgs: ['--quick', '--dataset', 'all'],
  fullArgs: ['--dataset', 'all'],
  summarize(json) {
    const datasets =
      json !== null && typeof json === 'object' ? (json as { datasets?: unknown }).datasets : null;
    if (datasets === null || typeof datasets !== 'object') throw new Error('expected "datasets"');
    const targets: TargetResult[] = [];
    const notes: string[] = [];
    for (const [name, d] of Object.entries(datasets as Record<string, unknown>)) {
      const bytes = numberAt(d, 'datasetBytes');
      notes.push(
        `${name}: ${bytes === null ? '?' : (bytes / MiB).toFixed(0)} MiB, ${numberAt(d, 'files')} files; ` +
          `pb backup ${numberAt(d, 'pb', 'backupMiBs')} MiB/s, restore ${numberAt(d, 'pb', 'restoreMiBs')} MiB/s`,
      );
      if (numberAt(d, 'borg', 'backupMiBs') === null)
        notes.push(`${name}: borg not measured (not installed?)`);
      if (numberAt(d, 'restic', 'restoreMiBs') === null)
        notes.push(`${name}: restic not measured (not installed?)`);
      targets.push(...datasetTargets(name, d));
    }
    return { targets, notes };
  },
};
