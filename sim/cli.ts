/**
 * `pnpm sim`: simulate a group under an agreement before living with it.
 * Example: `pnpm sim --peers 5 --skew 1000x` (five members, the largest pledging 1000x the smallest).
 */
import '../runtime/polyfill.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { EngineError } from '../engine/index.ts';
import { type CliOptions, configFromCli, DEFAULTS } from './config.ts';
import { formatTable, renderHtml } from './report.ts';
import { runSimulation } from './simulation.ts';
import { DEFAULT_SWEEP_RATIOS, DEFAULT_SWEEP_TOLERANCES, DEFAULT_TARGET_CHANCE, runSweep } from './sweep.ts';
import { formatSweep, renderSweepHtml } from './sweep-report.ts';
import { parseNumber, SimConfigError } from './units.ts';

const DEFAULT_OUT = 'reports/sim.html';

interface Options extends CliOptions {
  json?: boolean;
  sweep?: boolean;
  ratios?: string;
  tolerances?: string;
  target?: string;
  out: string;
  report: boolean;
}

export function buildCommand(): Command {
  return new Command('pnpm sim')
    .description(
      'Simulate a pb group: pledges, churn, disk failures and repair, using the same engine as pb-node.\n' +
        'Prints a table per member and for the group, and writes a self-contained HTML report.',
    )
    .option('--peers <n>', `members in the group (default ${DEFAULTS.peers})`)
    .option(
      '--skew <Rx>',
      `largest pledge R times the smallest, the others log-spaced between (default ${DEFAULTS.skew}x)`,
    )
    .option('--smallest <size>', 'the smallest pledge with --peers/--skew (default 10G)')
    .option('--pledges <list>', 'explicit pledges instead of --peers/--skew, e.g. 10T,10G,10G,10G,10G')
    .option('--ratio <n>', `agreement: pledge n*x to back up x (default ${DEFAULTS.ratio})`)
    .option(
      '--tolerance <f>',
      `agreement: members lost at once that every stripe survives (default ${DEFAULTS.tolerance})`,
    )
    .option('--days <d>', `simulated days (default ${DEFAULTS.days})`)
    .option('--seed <s>', `random seed; the same seed gives the same output (default ${DEFAULTS.seed})`)
    .option(
      '--online <fraction>',
      'mean fraction of time each member is online, e.g. 0.9 or 90% (default 0.9)',
    )
    .option('--session <duration>', 'mean length of one online+offline cycle, e.g. 24h, 1h (default 24h)')
    .option('--afr <rate>', 'disk failures per member-year, e.g. 0.05 or 5% (default 0.05)')
    .option('--replace <duration>', 'a failed member rejoins empty after this long (default 3d)')
    .option('--grace <duration>', 'offline members are repaired around only after this long (default 24h)')
    .option('--bandwidth <up[/down]>', 'per-member bandwidth in bits/s, e.g. 20M/100M (default 20M/100M)')
    .option(
      '--data <size|list|allowance>',
      "bytes each member backs up: one size, a list, or 'allowance' (default)",
    )
    .option('--change <fraction>', "fraction of each member's data rewritten per day (default 1%)")
    .option('--shard <size>', "shard size, or 'auto' (keeps the stripe count near --stripes; default)")
    .option(
      '--stripes <n>',
      "stripes modelled with --shard auto, or 'auto': 20000, fewer when many disk failures are expected (default)",
    )
    .option('--joins <n>', 'members joining at random times during the run (default 0)')
    .option('--removals <n>', 'members removed at random times during the run (default 0)')
    .option(
      '--sweep',
      `one run per agreement (--ratios x --tolerances, ${SWEEP_DAYS} days each unless --days) and a recommendation`,
    )
    .option('--ratios <list>', `ratios for --sweep (default ${DEFAULT_SWEEP_RATIOS.join(',')})`)
    .option('--tolerances <list>', `tolerances for --sweep (default ${DEFAULT_SWEEP_TOLERANCES.join(',')})`)
    .option(
      '--target <chance>',
      `--sweep recommends the cheapest agreement under this chance per member-year of losing anything (default ${DEFAULT_TARGET_CHANCE})`,
    )
    .option('--json', 'print one JSON object instead of the table')
    .option('--out <file>', 'where to write the HTML report (--sweep: reports/sim-sweep.html)', DEFAULT_OUT)
    .option('--no-report', 'do not write the HTML report')
    .showHelpAfterError();
}

export function main(argv: string[]): number {
  const cmd = buildCommand();
  cmd.exitOverride();
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    return code ?? 2;
  }
  const o = cmd.opts<Options>();
  try {
    if (o.sweep) return sweepMain(o);
    const config = configFromCli(o);
    const result = runSimulation(config);
    if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else process.stdout.write(`${formatTable(result)}\n`);
    if (o.report) writeReport(o.out, renderHtml(result));
    return 0;
  } catch (err) {
    if (err instanceof SimConfigError || err instanceof EngineError || err instanceof InvalidArgumentError) {
      process.stderr.write(`pnpm sim: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

/** Days per run in a sweep unless --days: enough for first backups; the loss chance is a closed form. */
export const SWEEP_DAYS = 90;

function sweepMain(o: Options): number {
  if (o.ratio !== undefined || o.tolerance !== undefined)
    throw new SimConfigError('--sweep takes --ratios and --tolerances (lists), not --ratio/--tolerance');
  const ratios = parseList(o.ratios, '--ratios', DEFAULT_SWEEP_RATIOS, 1, 1000, false);
  const tolerances = parseList(o.tolerances, '--tolerances', DEFAULT_SWEEP_TOLERANCES, 0, 6, true);
  const target = o.target === undefined ? DEFAULT_TARGET_CHANCE : parseNumber(o.target, '--target', 0, 1);
  const base = configFromCli({ ...o, days: o.days ?? String(SWEEP_DAYS) });
  const result = runSweep(base, ratios, tolerances, target);
  process.stdout.write(o.json ? `${JSON.stringify(result)}\n` : `${formatSweep(result)}\n`);
  if (o.report)
    writeReport(o.out === DEFAULT_OUT ? 'reports/sim-sweep.html' : o.out, renderSweepHtml(result));
  return 0;
}

function parseList(
  text: string | undefined,
  what: string,
  fallback: readonly number[],
  min: number,
  max: number,
  integer: boolean,
): number[] {
  if (text === undefined) return [...fallback];
  const items = text.split(',').map((t, i) => parseNumber(t, `${what} item ${i + 1}`, min, max, integer));
  return [...new Set(items)];
}

function writeReport(out: string, html: string): void {
  const path = resolve(out);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, html);
  process.stderr.write(`report: ${path}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = main(process.argv.slice(2));
}
