/**
 * `pnpm bench <name> [args]`: runs bench/<name>.ts, whose `run(args)` prints a table (or JSON with
 * --json) and writes reports/<name>.json and reports/<name>.md.
 *
 * `pnpm bench [all] [--quick] [--only a,b]`: runs every benchmark of SUITE, each in its own
 * process with `--json`, reads its targets through bench/adapters/<name>.ts and writes
 * reports/bench.md (a table per benchmark: target, measured, pass/miss) and reports/bench.json.
 * `--quick` uses each adapter's small sizes (the CI run) and leaves the benchmarks' own full-size
 * reports as they were. A missed target is reported, not an error; a benchmark that crashes,
 * times out or prints no JSON makes the exit status 1.
 */
import '../runtime/polyfill.ts';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type BenchAdapter,
  type BenchOutcome,
  type Cell,
  formatTable,
  markdownTable,
  reportsDir,
  writeReport,
} from './report.ts';

/** The suite, in run order. Adding a benchmark is one line here (plus bench/adapters/<name>.ts for its targets). */
const SUITE: readonly string[] = [
  'placement',
  'group',
  'sim',
  'pipeline',
  'transport',
  'group-backup',
  'idle',
  'scale',
];

/** Per-benchmark wall-clock bound: a hung benchmark is killed and reported as a crash. */
const QUICK_TIMEOUT_MS = 6 * 60_000;
const FULL_TIMEOUT_MS = 60 * 60_000;
/** Bytes of a benchmark's stdout kept (its JSON) and of stderr kept for the error message. */
const MAX_STDOUT_BYTES = 16 * 1024 * 1024;
const STDERR_TAIL_BYTES = 4000;

interface BenchModule {
  run(args: string[]): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const runScript = fileURLToPath(import.meta.url);
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'report.ts'].includes(f) && !f.startsWith('_'))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();

const GENERIC: BenchAdapter = {
  title: '',
  quickArgs: [],
  fullArgs: [],
  summarize: () => ({ targets: [], notes: ['no adapter in bench/adapters/: ran without stated targets'] }),
};

async function loadAdapter(name: string): Promise<BenchAdapter> {
  const path = join(here, 'adapters', `${name}.ts`);
  if (!existsSync(path)) return { ...GENERIC, title: name };
  const mod = (await import(pathToFileURL(path).href)) as { adapter?: BenchAdapter };
  if (!mod.adapter) throw new Error(`bench/adapters/${name}.ts exports no adapter`);
  return mod.adapter;
}

/** The JSON a benchmark printed: the whole stdout, or else the last line or block that parses. */
function parseJsonOutput(stdout: string): unknown {
  const text = stdout.trim();
  try {
    return JSON.parse(text);
  } catch {
    // fall through: some benchmarks print a line or two before their JSON
  }
  const starts = [...text.matchAll(/(^|\n)[{[]/g)].map((m) => m.index! + m[1]!.length);
  for (const start of starts) {
    try {
      return JSON.parse(text.slice(start));
    } catch {
      // try the next candidate
    }
  }
  throw new Error('printed no JSON on stdout');
}

function runChild(
  name: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<{
  code: number | null;
  signal: string | null;
  stdout: string;
  stderrTail: string;
  timedOut: boolean;
}> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', runScript, name, ...args, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_STDOUT_BYTES) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-STDERR_TAIL_BYTES);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderrTail: stderr.trim(), timedOut });
    });
  });
}

/** Saves reports/<name>.{json,md} so that a quick run leaves the full-size reports as they were. */
function saveReports(name: string): () => void {
  const saved = ['json', 'md'].map((ext) => {
    const path = join(reportsDir, `${name}.${ext}`);
    return { path, bytes: existsSync(path) ? readFileSync(path) : null };
  });
  return () => {
    for (const s of saved) {
      if (s.bytes) writeFileSync(s.path, s.bytes);
      else rmSync(s.path, { force: true });
    }
  };
}

async function runOne(name: string, quick: boolean): Promise<BenchOutcome> {
  const adapter = await loadAdapter(name);
  const args = quick ? adapter.quickArgs : adapter.fullArgs;
  const command = `pnpm bench ${[name, ...args].join(' ')}`;
  const base = { name, title: adapter.title || name, command, quick };
  if (!available.includes(name))
    return { ...base, wallSeconds: 0, targets: [], notes: [], error: `bench/${name}.ts does not exist` };
  const restore = quick ? saveReports(name) : () => {};
  const t0 = performance.now();
  try {
    const r = await runChild(name, args, quick ? QUICK_TIMEOUT_MS : FULL_TIMEOUT_MS);
    const wallSeconds = Number(((performance.now() - t0) / 1000).toFixed(1));
    const fail = (why: string): BenchOutcome => ({
      ...base,
      wallSeconds,
      targets: [],
      notes: [],
      error: `${why}${r.stderrTail ? `\n${r.stderrTail.split('\n').slice(-12).join('\n')}` : ''}`,
    });
    if (r.timedOut) return fail(`timed out after ${(quick ? QUICK_TIMEOUT_MS : FULL_TIMEOUT_MS) / 1000} s`);
    if (r.code !== 0) return fail(`exited with ${r.signal ?? `status ${r.code}`}`);
    let summary: ReturnType<BenchAdapter['summarize']>;
    try {
      summary = adapter.summarize(parseJsonOutput(r.stdout), quick);
    } catch (e) {
      return fail(`its output did not fit the adapter: ${(e as Error).message}`);
    }
    return { ...base, wallSeconds, targets: summary.targets, notes: summary.notes, error: null };
  } finally {
    restore();
  }
}

const COLUMNS = ['measure', 'target', 'measured', 'result'] as const;

function cells(o: BenchOutcome): Cell[][] {
  return o.targets.map((t) => [t.measure, t.target, t.measured, t.verdict === 'miss' ? 'MISS' : t.verdict]);
}

function renderMarkdown(
  outcomes: readonly BenchOutcome[],
  skipped: readonly string[],
  quick: boolean,
  seconds: number,
): string {
  const count = (v: string) =>
    outcomes.reduce((n, o) => n + o.targets.filter((t) => t.verdict === v).length, 0);
  const crashed = outcomes.filter((o) => o.error !== null).length;
  const out = [
    `# Benchmarks${quick ? ' (quick sizes)' : ''}`,
    '',
    `\`pnpm bench${quick ? ' --quick' : ''}\`: ${outcomes.length} benchmarks in ${seconds.toFixed(0)} s, Node ${process.version}, ${availableParallelism()} cores (shared). ` +
      `Targets: ${count('pass')} pass, ${count('miss')} missed, ${count('n/a')} not measured; ${crashed} benchmark(s) failed to run.` +
      (quick
        ? ' Quick sizes are smaller than the full runs; the full-size details are in reports/<name>.md.'
        : ''),
  ];
  for (const o of outcomes) {
    out.push('', `## ${o.name}: ${o.title}`, '', `\`${o.command}\`, ${o.wallSeconds} s.`, '');
    if (o.error !== null) out.push('**Failed to run:**', '', '```', o.error, '```');
    else if (o.targets.length) out.push(markdownTable(COLUMNS, cells(o)));
    for (const n of o.notes) out.push('', `- ${n}`);
  }
  if (skipped.length) out.push('', `Not on this branch (skipped): ${skipped.join(', ')}.`);
  return `${out.join('\n')}\n`;
}

async function runSuite(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',').filter(Boolean) : null;
  const wanted = SUITE.filter((n) => only === null || only.includes(n));
  // A suite entry whose file has not landed on this branch yet is skipped (and listed), not a crash.
  const names = wanted.filter((n) => available.includes(n));
  const skipped = wanted.filter((n) => !available.includes(n));
  const t0 = performance.now();
  const outcomes: BenchOutcome[] = [];
  for (const name of names) {
    process.stderr.write(`bench ${name}${quick ? ' (quick)' : ''} ...\n`);
    const o = await runOne(name, quick);
    const misses = o.targets.filter((t) => t.verdict === 'miss').length;
    process.stderr.write(
      `bench ${name}: ${o.error ? 'FAILED' : `${o.targets.length - misses}/${o.targets.length} targets`} in ${o.wallSeconds} s\n`,
    );
    outcomes.push(o);
  }
  const seconds = (performance.now() - t0) / 1000;
  const json = {
    quick,
    node: process.version,
    cores: availableParallelism(),
    wallSeconds: Number(seconds.toFixed(1)),
    skipped,
    outcomes,
  };
  writeReport('bench', json, renderMarkdown(outcomes, skipped, quick, seconds));
  if (args.includes('--json')) console.log(JSON.stringify(json, null, 2));
  else {
    for (const o of outcomes) {
      console.log(`\n${o.name}: ${o.title} (${o.wallSeconds} s)`);
      if (o.error !== null) console.log(`FAILED: ${o.error}`);
      else if (o.targets.length) console.log(formatTable(COLUMNS, cells(o)));
      for (const n of o.notes) console.log(`  ${n}`);
    }
    if (skipped.length) console.log(`\nnot on this branch (skipped): ${skipped.join(', ')}`);
    console.log(`\nwrote reports/bench.md and reports/bench.json (${seconds.toFixed(0)} s)`);
  }
  if (outcomes.some((o) => o.error !== null)) process.exitCode = 1;
}

const [name, ...rest] = process.argv.slice(2);
if (name === '--help' || name === '-h') {
  console.log(
    `usage: pnpm bench <name> [--json] [options]\n       pnpm bench [all] [--quick] [--only a,b] [--json]\nbenchmarks: ${available.join(', ')}`,
  );
} else if (name === undefined || name === 'all' || name.startsWith('--')) {
  await runSuite(name === 'all' || name === undefined ? rest : [name, ...rest]);
} else if (!available.includes(name)) {
  console.error(`pnpm bench: no benchmark named ${JSON.stringify(name)}; available: ${available.join(', ')}`);
  process.exit(2);
} else {
  const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as BenchModule;
  await mod.run(rest);
}
