/**
 * `pnpm bench sim`: the simulator's speed, in two scenarios (both by default; `--scenario churn`
 * or `--scenario heavy` for one):
 * - churn: 50 members, one simulated year, hourly churn (mean online+offline cycle of one hour at
 *   90 % online), disk failures at 5 %/year, 1 % daily change; target <= 10 s for the year.
 * - heavy: 8 members (pledges 10x apart), disk failures at 300 % a year, ten simulated years,
 *   daily churn; target <= 30 s. With `--stripes auto` the run models 5,000 stripes here (about
 *   240 failures expected; docs/sim.md, Resolution).
 *
 * Options: --json, --members N, --days D, --skew R (pledge spread; 1 = equal pledges), --seed S
 * (they apply to every scenario run). With skewed pledges the 50 per-owner placement plans
 * dominate the churn set-up (~0.1-0.2 s each); its default keeps pledges equal so that the figure
 * measures the event loop, repair and exposure. The history of the figures is in docs/sim.md, Speed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { defaultConfig, pledgesFromSkew } from '../sim/config.ts';
import { runSimulation } from '../sim/simulation.ts';

const TARGET_SECONDS = 10;
const HEAVY_TARGET_SECONDS = 30;

function option(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`bench sim: --${name} needs a value`);
  return v;
}

function positive(text: string, what: string): number {
  const x = Number(text);
  if (!Number.isFinite(x) || x <= 0)
    throw new Error(`bench sim: ${what} must be a number above 0, got ${text}`);
  return x;
}

type Scenario = 'churn' | 'heavy';
const SCENARIOS: readonly Scenario[] = ['churn', 'heavy'];

export async function run(args: string[]): Promise<void> {
  const asked = args.includes('--scenario') ? option(args, 'scenario', '') : null;
  if (asked !== null && !SCENARIOS.includes(asked as Scenario))
    throw new Error(`bench sim: --scenario must be churn or heavy, got ${asked}`);
  const scenarios = asked === null ? SCENARIOS : [asked as Scenario];
  const runs = scenarios.map((scenario) => runScenario(scenario, args));
  const name = asked === null ? 'sim' : `sim-${asked}`;
  const json = { name: 'sim', scenarios: runs.map((r) => r.report), node: process.version };
  const md = `# bench sim\n\n${runs.map((r) => `## ${r.report.scenario}\n\n| measure | value |\n|---|---|\n${r.rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`).join('\n')}`;
  mkdirSync('reports', { recursive: true });
  writeFileSync(`reports/${name}.json`, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(`reports/${name}.md`, md);
  const text = runs.map((r) => `${r.report.scenario}\n${formatRows(r.rows)}`).join('\n\n');
  process.stdout.write(args.includes('--json') ? `${JSON.stringify(json)}\n` : `${text}\n`);
}

function formatRows(rows: readonly [string, string][]): string {
  const width = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

function runScenario(scenario: Scenario, args: string[]) {
  const heavy = scenario === 'heavy';
  const members = positive(option(args, 'members', heavy ? '8' : '50'), '--members');
  const days = positive(option(args, 'days', heavy ? '3650' : '365'), '--days');
  const skew = positive(option(args, 'skew', heavy ? '10' : '1'), '--skew');
  const seed = option(args, 'seed', 'bench');
  // The target is for the scenario's default length; another --days scales it.
  const targetSeconds = ((heavy ? HEAVY_TARGET_SECONDS : TARGET_SECONDS) * days) / (heavy ? 3650 : 365);
  const config = heavy
    ? defaultConfig({ seed, pledgesBytes: pledgesFromSkew(members, skew, 10e9), days, afr: 3 })
    : defaultConfig({
        seed,
        pledgesBytes: pledgesFromSkew(members, skew, 100e9),
        days,
        sessionMs: 3600e3,
        onlineFraction: 0.9,
        afr: 0.05,
        targetStripes: 5000,
      });
  const t0 = performance.now();
  const result = runSimulation(config);
  const wallSeconds = (performance.now() - t0) / 1000;
  const g = result.group;
  const report = {
    scenario,
    members,
    days,
    pledgeSkew: skew,
    sessionHours: config.sessionMs / 3600e3,
    afr: config.afr,
    code: `${g.k}+${g.m}`,
    shardBytes: result.config.shardBytes,
    storedStripes: g.storedStripes,
    modelledStripes: result.config.resolution?.stripes ?? null,
    failures: g.failures,
    repairTasks: g.repairTasks,
    repairsCompleted: g.repairsCompleted,
    migrationTasks: g.migrationTasks,
    events: g.events,
    wallSeconds: Number(wallSeconds.toFixed(3)),
    eventsPerSecond: Math.round(g.events / wallSeconds),
    simulatedDaysPerSecond: Number((days / wallSeconds).toFixed(1)),
    targetSeconds,
    meetsTarget: wallSeconds <= targetSeconds,
  };
  const rows: [string, string][] = [
    [
      'members / days / churn / afr',
      `${members} / ${days} / ${report.sessionHours} h cycle, 90 % online / ${config.afr}`,
    ],
    [
      'code / shard / stripes (modelled, at the end)',
      `${report.code} / ${(report.shardBytes / 2 ** 20).toFixed(0)} MiB / ${report.modelledStripes ?? '-'}, ${g.storedStripes}`,
    ],
    [
      'failures / repairs done (started) / migrations',
      `${g.failures} / ${g.repairsCompleted} (${g.repairTasks}) / ${g.migrationTasks}`,
    ],
    ['events', String(g.events)],
    [
      'wall time',
      `${report.wallSeconds} s (target <= ${report.targetSeconds} s: ${report.meetsTarget ? 'met' : 'MISSED'})`,
    ],
    ['events per second', String(report.eventsPerSecond)],
    ['simulated days per second', String(report.simulatedDaysPerSecond)],
  ];
  return { report, rows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
