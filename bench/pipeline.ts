/**
 * `pnpm bench pipeline [--dataset synthetic|real|tiny|all] [--quick] [--size 1GiB|<bytes>]
 *   [--real-size 256MiB] [--tiny-files 200000] [--repeat N] [--json] [--keep] [--no-others] [--source]
 *   [--workers N]`
 *
 * Datasets (bench/_pipeline-data.ts): synthetic (docs/design.md §6: large incompressible files and
 * 20% duplicates, --size, default 1 GiB), real (a bounded, sorted copy of /usr/share/doc,
 * /usr/include, the Python standard library and the project's node_modules, --real-size, default
 * 256 MiB) and tiny (--tiny-files generated files of 16-400 bytes in 400 folders, default 200,000).
 * `--quick`: 128 MiB, 32 MiB and 10,000 files. Default: synthetic only.
 * Each dataset is backed up by pb to 5 local members (owner excluded, tolerance 1, ratio 2:
 * k=2, m=2), backed up again unchanged, and restored to a new directory; restic and borg (if
 * installed) do the same on the same data. Each run is a separate process measured by
 * /usr/bin/time (wall, user+sys CPU, peak RSS); stored bytes are read from each repository.
 * pb runs precompiled as the npm package ships it (runtime/bin/build.mjs --package, built here
 * first: one bundle with every pure-JavaScript package in it); `--source` runs the tsx entry.
 * Writes reports/pipeline.{json,md}; targets (ratios to the others, same run) are reported as
 * pass or MISS, never as a failure.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseSize as parseSizeText } from '../engine/index.ts';
import {
  buildRealDataset,
  type Dataset,
  generateDataset,
  generateTinyDataset,
  SEED,
} from './_pipeline-data.ts';
import { benchBorg, benchPb, benchRestic, has, medianResult, type ToolResult } from './_pipeline-tools.ts';
import { datasetTargets, targetsPerRun } from './adapters/pipeline.ts';
import { type Cell, formatTable, markdownTable, repeatOption } from './report.ts';

export { generateDataset } from './_pipeline-data.ts';
export { measure, sameTree, type ToolResult } from './_pipeline-tools.ts';

const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..');
const MiB = 1024 * 1024;
const DATASETS = ['synthetic', 'real', 'tiny'] as const;
type DatasetName = (typeof DATASETS)[number];

export interface DatasetReport {
  datasetBytes: number;
  files: number;
  description: string;
  pb: ToolResult | null;
  restic: ToolResult | null;
  borg: ToolResult | null;
  /** With --repeat N > 1: each tool's run i (the runs took turns); the table gives medians. */
  runs?: { files: number; pb: ToolResult; restic: ToolResult | null; borg: ToolResult | null }[];
  notes: string[];
}

export interface PipelineReport {
  quick: boolean;
  datasets: Partial<Record<DatasetName, DatasetReport>>;
}

/** "1GiB", "128MiB", "2G" (decimal, as everywhere: engine/units.ts) -> bytes. */
export function parseSize(text: string): number {
  return parseSizeText(text, '--size');
}

function argAt(args: string[], flag: string): string | undefined {
  const at = args.indexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
}

function makeDataset(name: DatasetName, dir: string, args: string[], quick: boolean): Dataset {
  if (name === 'synthetic') {
    const size = parseSize(argAt(args, '--size') ?? (quick ? '128MiB' : '1GiB'));
    const d = generateDataset(dir, size);
    return { ...d, description: `synthetic: incompressible files and 20% duplicates (seed "${SEED}")` };
  }
  if (name === 'real')
    return buildRealDataset(dir, parseSize(argAt(args, '--real-size') ?? (quick ? '32MiB' : '256MiB')));
  const files = Number(argAt(args, '--tiny-files') ?? (quick ? 10_000 : 200_000));
  if (!Number.isInteger(files) || files < 1 || files > 2_000_000) throw new Error('--tiny-files: 1..2000000');
  return generateTinyDataset(dir, files, 400);
}

const TOOLS = ['pb', 'restic', 'borg'] as const;
const COLUMNS = [
  'tool',
  'backup s',
  'backup MiB/s',
  're-run s',
  'restore s',
  'restore MiB/s',
  'CPU s (backup/re-run/restore)',
  'peak RSS MiB',
  'stored MiB (before redundancy)',
  'on disk MiB (after)',
];

function rows(d: DatasetReport): Cell[][] {
  return TOOLS.filter((t) => d[t]).map((t) => {
    const r = d[t]!;
    return [
      t,
      r.backupSeconds,
      r.backupMiBs,
      r.rerunSeconds,
      r.restoreSeconds,
      r.restoreMiBs,
      `${r.cpuSeconds}/${r.rerunCpuSeconds}/${r.restoreCpuSeconds}`,
      r.peakRssMiB,
      (r.storedBytes / MiB).toFixed(1),
      (r.storedBytesWithRedundancy / MiB).toFixed(1),
    ];
  });
}

function verdicts(name: DatasetName, d: DatasetReport): string[] {
  return datasetTargets(name, d).map(
    (t) =>
      `${t.measure}: ${t.measured ?? 'not measured'} (target ${t.target}): ${t.verdict === 'miss' ? 'MISSED' : t.verdict}`,
  );
}

/** Each target's value in every run (run i of each tool against run i of the others). */
function perRun(name: DatasetName, report: DatasetReport): string[] {
  return targetsPerRun(name, report).map(
    (t) =>
      `${t.measure} per run: ${t.values.map((v) => (v === null ? 'n/a' : Number(v.toPrecision(3)))).join(', ')} (judged: the median, peak RSS the largest)`,
  );
}

function runDataset(
  name: DatasetName,
  work: string,
  args: string[],
  quick: boolean,
  bin: string,
  repeat: number,
): DatasetReport {
  const data = join(work, 'dataset');
  const made = makeDataset(name, data, args, quick);
  const notes: string[] = [];
  const report: DatasetReport = {
    datasetBytes: made.bytes,
    files: made.files,
    description: made.description,
    pb: null,
    restic: null,
    borg: null,
    notes,
  };
  const workersText = argAt(args, '--workers');
  const others = !args.includes('--no-others');
  const runs: Record<(typeof TOOLS)[number], ToolResult[]> = { pb: [], restic: [], borg: [] };
  // The tools take turns (pb, restic, borg, pb, ...), each run in a directory of its own: a slow
  // spell of the shared machine falls on every tool alike, and nothing is deleted meanwhile.
  for (let i = 0; i < repeat; i++) {
    const dir = repeat === 1 ? work : join(work, `run${i + 1}`);
    fs.mkdirSync(dir, { recursive: true });
    const runNotes = i === 0 ? notes : [];
    runs.pb.push(
      benchPb(dir, data, made.bytes, runNotes, {
        source: args.includes('--source'),
        workers: workersText === undefined ? undefined : Number(workersText),
        bin,
      }),
    );
    if (!others) continue;
    if (has('restic')) runs.restic.push(benchRestic(dir, data, made.bytes));
    else if (i === 0) notes.push('restic not installed');
    if (has('borg')) runs.borg.push(benchBorg(dir, data, made.bytes));
    else if (i === 0) notes.push('borg not installed');
  }
  for (const tool of TOOLS) report[tool] = runs[tool].length > 0 ? medianResult(runs[tool]) : null;
  if (report.pb!.indexBytes !== null)
    notes.push(
      `pb index: ${(report.pb!.indexBytes / MiB).toFixed(1)} MiB, ${(report.pb!.indexBytes / made.files).toFixed(0)} bytes per file`,
    );
  if (repeat > 1) {
    report.runs = runs.pb.map((pb, i) => ({
      files: made.files,
      pb,
      restic: runs.restic[i] ?? null,
      borg: runs.borg[i] ?? null,
    }));
    notes.push(...perRun(name, report));
  }
  return report;
}

export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const quick = args.includes('--quick');
  const which = argAt(args, '--dataset') ?? 'synthetic';
  const names: DatasetName[] =
    which === 'all' ? [...DATASETS] : DATASETS.includes(which as DatasetName) ? [which as DatasetName] : [];
  if (names.length === 0) throw new Error(`--dataset: one of ${DATASETS.join(', ')}, all`);
  // The precompiled CLI as the package ships it (runtime/bin/build.mjs --package), built afresh
  // from this tree: no TypeScript loader and no resolution of hundreds of package modules at
  // start-up (1.9 s for `--version` with the packages left external, 0.5 s bundled). `--source`
  // measures the tsx entry instead.
  const bin = args.includes('--source')
    ? join(repoRoot, 'runtime/bin/pb-node.mjs')
    : execFileSync(process.execPath, [join(repoRoot, 'runtime/bin/build.mjs'), '--package'], {
        encoding: 'utf8',
      }).trim();
  // `--repeat N`: runs of each tool per dataset; the report gives each measure's median.
  const repeat = repeatOption(args, 9);
  const report: PipelineReport = { quick, datasets: {} };
  const text: string[] = [];
  const md = [
    '# pipeline benchmark',
    '',
    `\`pnpm bench pipeline ${args.filter((a) => a !== '--json').join(' ')}\`; 5 local members, tolerance 1 (k=2, m=2); times are wall seconds of ${repeat === 1 ? 'one run' : `the median of ${repeat} runs of each tool, taking turns (peak RSS: the largest), and each verdict judges the median of the ratios taken run by run`} on a shared 2-core host: read the ratios.`,
  ];
  // Nothing is deleted until every tool has run: on ext4 without a journal, creating a file
  // skips every inode freed in the last minutes (docs/design.md §6.1), so a tool that restores
  // after another's files were deleted pays up to 20x per file created.
  const works: string[] = [];
  try {
    for (const name of names) {
      const work = fs.mkdtempSync(join(tmpdir(), `pb-bench-pipeline-${name}-`));
      works.push(work);
      process.stderr.write(`pipeline: dataset ${name} ...\n`);
      const d = runDataset(name, work, args, quick, bin, repeat);
      report.datasets[name] = d;
      const head = `${name}: ${(d.datasetBytes / MiB).toFixed(0)} MiB, ${d.files} files (${d.description})`;
      text.push(head, formatTable(COLUMNS, rows(d)), ...verdicts(name, d), ...d.notes, '');
      md.push(
        '',
        `## ${name}`,
        '',
        `${(d.datasetBytes / MiB).toFixed(0)} MiB, ${d.files} files: ${d.description}.`,
        '',
        markdownTable(COLUMNS, rows(d)),
        '',
        ...verdicts(name, d).map((v) => `- ${v}`),
        ...d.notes.map((n) => `- ${n}`),
      );
    }
  } finally {
    for (const work of works) {
      if (!args.includes('--keep')) fs.rmSync(work, { recursive: true, force: true });
      else console.error(`kept ${work}`);
    }
  }
  fs.mkdirSync(join(repoRoot, 'reports'), { recursive: true });
  fs.writeFileSync(join(repoRoot, 'reports/pipeline.json'), `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(join(repoRoot, 'reports/pipeline.md'), `${md.join('\n')}\n`);
  if (json) console.log(JSON.stringify(report));
  else console.log(text.join('\n'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await run(process.argv.slice(2));
}
