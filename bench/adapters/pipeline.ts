/**
 * bench/pipeline.ts in the suite's shape: pb against borg and restic on the same data, same run,
 * per dataset (synthetic, real, tiny). The targets are ratios to the other tools measured in the
 * same run; bench/pipeline.ts prints the same verdicts in its own report.
 */
import { atLeast, atMost, type BenchAdapter, median, numberAt, type TargetResult } from '../report.ts';

const ratio = (a: number | null, b: number | null) => (a !== null && b ? a / b : null);
const MiB = 2 ** 20;

/** One target: its value in one run of the tools (`run` = { pb, restic, borg, files }). */
interface Spec {
  readonly measure: string;
  readonly value: (run: unknown) => number | null;
  readonly bound: number;
  readonly kind: 'atLeast' | 'atMost';
  readonly unit: string;
  /** Over several runs: the median of the runs' values, or (peak RSS) the largest. */
  readonly over: 'median' | 'max';
}

function specs(name: string): Spec[] {
  const at = (tool: string, key: string) => (run: unknown) => numberAt(run, tool, key);
  const versus =
    (a: string, b: string, key: string) =>
    (run: unknown): number | null =>
      ratio(at(a, key)(run), at(b, key)(run));
  const spec = (
    measure: string,
    value: Spec['value'],
    kind: Spec['kind'],
    bound: number,
    unit: string,
    over: Spec['over'] = 'median',
  ): Spec => ({ measure, value, kind, bound, unit, over });
  if (name === 'real')
    return [
      spec('real: pb backup / borg backup (MiB/s)', versus('pb', 'borg', 'backupMiBs'), 'atLeast', 1, 'x'),
      spec(
        'real: pb restore / restic restore (MiB/s)',
        versus('pb', 'restic', 'restoreMiBs'),
        'atLeast',
        1,
        'x',
      ),
      spec(
        'real: pb unchanged re-run / restic re-run (s)',
        versus('pb', 'restic', 'rerunSeconds'),
        'atMost',
        1,
        'x',
      ),
      spec(
        'real: pb stored before redundancy / restic repository',
        versus('pb', 'restic', 'storedBytes'),
        'atMost',
        1.1,
        'x',
      ),
      spec('real: pb peak RSS', at('pb', 'peakRssMiB'), 'atMost', 300, 'MiB', 'max'),
    ];
  if (name === 'tiny')
    return [
      spec(
        'tiny: pb backup / restic backup (s)',
        versus('pb', 'restic', 'backupSeconds'),
        'atMost',
        1.5,
        'x',
      ),
      spec('tiny: pb re-run / restic re-run (s)', versus('pb', 'restic', 'rerunSeconds'), 'atMost', 1.5, 'x'),
      spec(
        'tiny: pb restore / restic restore (s)',
        versus('pb', 'restic', 'restoreSeconds'),
        'atMost',
        1.5,
        'x',
      ),
      spec(
        'tiny: pb index per file',
        (run) => {
          const files = numberAt(run, 'files');
          const index = at('pb', 'indexBytes')(run);
          return files && index !== null ? index / files : null;
        },
        'atMost',
        120,
        'bytes',
      ),
    ];
  return [
    spec('pb backup / borg backup (MiB/s)', versus('pb', 'borg', 'backupMiBs'), 'atLeast', 1.5, 'x'),
    spec('pb restore / restic restore (MiB/s)', versus('pb', 'restic', 'restoreMiBs'), 'atLeast', 1.5, 'x'),
    spec('pb unchanged re-run / restic re-run (s)', versus('pb', 'restic', 'rerunSeconds'), 'atMost', 1, 'x'),
    spec('pb peak RSS', at('pb', 'peakRssMiB'), 'atMost', 300, 'MiB', 'max'),
  ];
}

/**
 * The runs of one dataset's report: its `runs` (each tool's run i, taken in turn) when there are
 * several, else the report itself (its `pb`, `restic`, `borg`).
 */
function runsOf(json: unknown): unknown[] {
  const runs = json !== null && typeof json === 'object' ? (json as { runs?: unknown }).runs : undefined;
  return Array.isArray(runs) && runs.length > 1 ? runs : [json];
}

/**
 * The targets of one dataset's results (`json` = that dataset's report). With several runs, a
 * ratio is taken run by run (pb's run i against the others' run i, run next to each other) and
 * its median is judged: a slow spell of the machine falls on both sides of a pair.
 */
export function datasetTargets(name: string, json: unknown): TargetResult[] {
  const runs = runsOf(json);
  return specs(name).map((s) => {
    const values = runs.map(s.value);
    const measured = !values.every((v): v is number => v !== null)
      ? null
      : s.over === 'max'
        ? Math.max(...values)
        : median(values);
    return s.kind === 'atLeast'
      ? atLeast(s.measure, measured, s.bound, s.unit)
      : atMost(s.measure, measured, s.bound, s.unit);
  });
}

/** Each target's value in every run, for the notes. */
export function targetsPerRun(name: string, json: unknown): { measure: string; values: (number | null)[] }[] {
  const runs = runsOf(json);
  return specs(name).map((s) => ({ measure: s.measure, values: runs.map(s.value) }));
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
