/**
 * `pnpm bench idle [--seconds N] [--quick] [--members N] [--source] [--cpu-prof <dir>] [--logs <dir>]
 *   [--json]`
 *
 * The idle cost of a member: four pb-node processes (real processes, `--test-network`: loopback
 * TCP) form a group, one backs up a small directory so that the others hold shards; then every
 * daemon is stopped, its config set back to the defaults a member runs with (syncInterval 30s,
 * schedule hourly, watchDebounce 30s; formGroup uses 1 s and no schedule to form quickly) and
 * started again. After a settling time (the start's own work) nothing is asked of them: the
 * benchmark only reads /proc/<pid>/stat (utime + stime) and /proc/<pid>/status (VmRSS, VmHWM)
 * every few seconds over the window (5 minutes by default; `--quick`: 40 s). The daemons run the
 * CLI as the npm package ships it (runtime/bin/build.mjs --package, built here first: one bundle
 * with the pure-JavaScript packages in it, what an installed member runs; about 20 MiB less RSS
 * than the same code loading node_modules file by file, whose unused modules stay loaded);
 * `--source` runs the tsx entry instead (its TypeScript loader thread costs about 30 MiB more).
 * CPU is also counted per thread: `main`, and V8's and libuv's helpers by name.
 *
 * Per daemon: CPU % of one core over the window, RSS at the end and the largest sampled in the
 * window, VmHWM (the process's peak since its start). Targets: <= 0.2 % CPU and <= 100 MiB RSS
 * for the worst daemon. `--json` prints { worstCpuPercent, worstRssMiB, worstPeakRssMiB, daemons, ... }.
 */

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, cli, Proc, waitFor } from '../test/runtime/daemon/_cluster.ts';
import { directAddress, formGroup, storeReport } from '../test/runtime/daemon/_group.ts';
import { buildCli, entryWrap, optionValue } from './_cli-build.ts';
import { type Cell, fmt, formatTable, hasFlag, markdownTable, writeReport } from './report.ts';

const CLOCK_TICKS_PER_SECOND = 100;
const FULL_SECONDS = 300;
const QUICK_SECONDS = 40;
/** After the restart: the start's own work (and its RSS peak) is left out of the window. */
const SETTLE_SECONDS = 30;
const SAMPLE_EVERY_MS = 2000;
const DATASET_FILES = 16;
const DATASET_FILE_BYTES = 256 * 1024;
export const CPU_TARGET_PERCENT = 0.2;
export const RSS_TARGET_MiB = 100;

/** The settings a member runs with when nobody sets them (runtime/daemon/config/config.ts). */
const DEFAULT_LINES: Readonly<Record<string, string>> = {
  syncInterval: '"30s"',
  schedule: '"hourly"',
  watchDebounce: '"30s"',
};

export interface DaemonIdle {
  name: string;
  role: 'owner' | 'holder';
  cpuPercent: number;
  cpuSeconds: number;
  rssEndMiB: number;
  rssPeakMiB: number;
  hwmMiB: number;
  shardsHeld: number;
  /** CPU seconds in the window per thread name (`main`: the main thread). */
  threadCpuSeconds: Record<string, number>;
}

export interface IdleReport {
  seconds: number;
  /** How the daemons ran: the precompiled CLI (what is installed) or the tsx entry. */
  cli: string;
  settleSeconds: number;
  members: number;
  worstCpuPercent: number;
  worstRssMiB: number;
  worstPeakRssMiB: number;
  cpuTargetPercent: number;
  rssTargetMiB: number;
  daemons: DaemonIdle[];
}

function cpuTicksOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

/** CPU ticks per thread name (/proc/<pid>/task/*: `main`, then V8's, libuv's, native addons' by their names). */
function threadTicksOf(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return byName;
  }
  for (const tid of tasks) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // The main thread shares its name with V8's helper threads ("node"): told apart by its id.
      const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      byName.set(name, (byName.get(name) ?? 0) + Number(fields[11]) + Number(fields[12]));
    } catch {} // the thread ended meanwhile
  }
  return byName;
}

function memoryOf(pid: number): { rssMiB: number; hwmMiB: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number => {
    const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(status);
    if (m === null) throw new Error(`/proc/${pid}/status has no ${key}`);
    return Number(m[1]);
  };
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
}

function pidOf(p: Proc): number {
  const pid = p.child?.pid;
  if (pid === undefined || p.child?.exitCode !== null)
    throw new Error(`the daemon in ${p.dir} is not running`);
  return pid;
}

/**
 * Rewrites `key = ...` lines of a member's config to the default values, and pins its listening
 * port to the one it had (test networks listen on port 0: a new port at each start would leave
 * the addresses the group knows stale, and the members would spend the window failing to reach
 * each other instead of idling; a real member listens on a fixed port).
 */
function setDefaults(dir: string, tcpPort: number): void {
  const file = join(dir, 'config');
  let text = fs.readFileSync(file, 'utf8');
  const lines = { ...DEFAULT_LINES, listen: `["/ip4/127.0.0.1/tcp/${tcpPort}", "/p2p-circuit", "/webrtc"]` };
  for (const [key, value] of Object.entries(lines)) {
    const line = new RegExp(`^${key} = .*$`, 'm');
    if (!line.test(text)) throw new Error(`${file} has no ${key} line`);
    text = text.replace(line, `${key} = ${value}`);
  }
  fs.writeFileSync(file, text);
}

function writeDataset(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < DATASET_FILES; i++)
    fs.writeFileSync(join(dir, `file-${i}.bin`), randomBytes(DATASET_FILE_BYTES));
}

function secondsArg(args: readonly string[]): number {
  const at = args.indexOf('--seconds');
  if (at >= 0) {
    const n = Number(args[at + 1]);
    if (!Number.isFinite(n) || n < 5) throw new Error(`--seconds wants a number >= 5, got ${args[at + 1]}`);
    return n;
  }
  return hasFlag(args, '--quick') ? QUICK_SECONDS : FULL_SECONDS;
}

/** Samples every daemon over `seconds`; reads /proc only, asks the daemons nothing. */
async function sample(procs: readonly Proc[], seconds: number) {
  const pids = procs.map(pidOf);
  const ticks0 = pids.map(cpuTicksOf);
  const threads0 = pids.map(threadTicksOf);
  const peak = pids.map((pid) => memoryOf(pid).rssMiB);
  const t0 = performance.now();
  const endMs = t0 + seconds * 1000;
  while (performance.now() < endMs) {
    await new Promise((r) => setTimeout(r, Math.min(SAMPLE_EVERY_MS, endMs - performance.now())));
    pids.forEach((pid, i) => {
      peak[i] = Math.max(peak[i]!, memoryOf(pid).rssMiB);
    });
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  return pids.map((pid, i) => {
    const cpuSeconds = (cpuTicksOf(pid) - ticks0[i]!) / CLOCK_TICKS_PER_SECOND;
    const mem = memoryOf(pid);
    const threads0i = threads0[i]!;
    const threadCpuSeconds: Record<string, number> = {};
    for (const [name, ticks] of threadTicksOf(pid)) {
      const s = (ticks - (threads0i.get(name) ?? 0)) / CLOCK_TICKS_PER_SECOND;
      if (s > 0) threadCpuSeconds[name] = fmt(s, 2);
    }
    return {
      threadCpuSeconds,
      cpuSeconds,
      cpuPercent: (100 * cpuSeconds) / wallSeconds,
      rssEndMiB: mem.rssMiB,
      rssPeakMiB: Math.max(peak[i]!, mem.rssMiB),
      hwmMiB: mem.hwmMiB,
    };
  });
}

export async function run(args: string[]): Promise<void> {
  const json = hasFlag(args, '--json');
  const source = hasFlag(args, '--source');
  const seconds = secondsArg(args);
  const settleSeconds = SETTLE_SECONDS;
  const membersAt = args.indexOf('--members');
  const members = membersAt >= 0 ? Number(args[membersAt + 1]) : 4;
  if (!Number.isInteger(members) || members < 3 || members > 8)
    throw new Error(`--members wants 3 to 8, got ${args[membersAt + 1]}`);
  const say = (line: string): void => {
    process.stderr.write(`idle: ${line}\n`);
  };
  const work = fs.mkdtempSync(join(tmpdir(), 'pb-bench-idle-'));
  let procs: Proc[] = [];
  try {
    const data = join(work, 'home', 'dataset');
    writeDataset(data);
    const names = ['owner', ...Array.from({ length: members - 1 }, (_, i) => `m${i + 2}`)];
    const entry = source ? BIN : buildCli(true);
    const wrap = entryWrap(entry);
    ({ procs } = await formGroup(
      work,
      names,
      { owner: ['--directories', data, '--schedule', 'off', '--watch-debounce', '0s'] },
      '64MiB',
      { wrap: () => wrap },
    ));
    const [owner, ...holders] = procs as [Proc, ...Proc[]];
    const b = await cli(['backup', '--dir', owner.dir, '--json'], wrap);
    if (b.code !== 0) throw new Error(`backup failed: ${b.stderr}${b.stdout}`);
    const held = await Promise.all(holders.map(async (h) => (await storeReport(h)).putsReceived));
    if (held.some((n) => n === 0)) throw new Error(`a holder received no shard: ${held.join(', ')}`);
    say(`${members} members formed a group; the owner backed up ${DATASET_FILES} files`);

    // Restart every member with the default timings (what a member that nobody tuned runs).
    const ports = await Promise.all(
      procs.map(async (p) => Number(/\/tcp\/(\d+)\//.exec(await directAddress(p))![1])),
    );
    for (const p of procs) await p.stop();
    procs.forEach((p, i) => {
      setDefaults(p.dir, ports[i]!);
    });
    // `--cpu-prof <dir>`: every daemon writes a V8 CPU profile there when it stops (<name>.cpuprofile).
    const profDir = optionValue(args, '--cpu-prof');
    if (profDir !== null)
      procs = procs.map(
        (p, i) =>
          new Proc(
            p.dir,
            entryWrap(entry, [
              '--cpu-prof',
              `--cpu-prof-dir=${profDir}`,
              `--cpu-prof-name=${names[i]}.cpuprofile`,
            ]),
          ),
      );
    for (const p of procs) await p.start();
    for (const p of procs)
      await waitFor(
        'every member linked directly to every other again',
        async () =>
          ((await p.call('members')) as { self: boolean; link: string | null }[]).filter(
            (m) => !m.self && m.link === 'direct',
          ).length ===
          members - 1,
        120_000,
      );
    say(`restarted with default settings; settling ${settleSeconds} s, then measuring ${seconds} s`);
    await new Promise((r) => setTimeout(r, settleSeconds * 1000));
    const measured = await sample(procs, seconds);

    const daemons: DaemonIdle[] = measured.map((m, i) => ({
      name: names[i]!,
      role: i === 0 ? 'owner' : 'holder',
      cpuPercent: fmt(m.cpuPercent, 3),
      cpuSeconds: fmt(m.cpuSeconds, 2),
      rssEndMiB: fmt(m.rssEndMiB, 1),
      rssPeakMiB: fmt(m.rssPeakMiB, 1),
      hwmMiB: fmt(m.hwmMiB, 1),
      shardsHeld: i === 0 ? 0 : held[i - 1]!,
      threadCpuSeconds: m.threadCpuSeconds,
    }));
    const report: IdleReport = {
      seconds,
      cli: source ? 'source (tsx)' : 'packaged (dist/, as npm installs it)',
      settleSeconds,
      members,
      worstCpuPercent: Math.max(...daemons.map((d) => d.cpuPercent)),
      worstRssMiB: Math.max(...daemons.map((d) => d.rssEndMiB)),
      worstPeakRssMiB: Math.max(...daemons.map((d) => d.rssPeakMiB)),
      cpuTargetPercent: CPU_TARGET_PERCENT,
      rssTargetMiB: RSS_TARGET_MiB,
      daemons,
    };
    emit(report, json, args);
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    // `--logs <dir>`: each member's daemon log is kept there (what the idle daemons did).
    const logs = optionValue(args, '--logs');
    if (logs !== null) {
      fs.mkdirSync(logs, { recursive: true });
      for (const p of procs) {
        const log = join(p.dir, 'pb-node.log');
        if (fs.existsSync(log)) fs.copyFileSync(log, join(logs, `${p.dir.split('/').at(-1)}.log`));
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function threadsLine(d: DaemonIdle): string {
  const entries = Object.entries(d.threadCpuSeconds).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? 'none' : entries.map(([name, s]) => `${name} ${s}`).join(', ');
}

function emit(report: IdleReport, json: boolean, args: readonly string[]): void {
  const columns = ['daemon', 'CPU %', 'CPU s', 'RSS end MiB', 'RSS peak MiB', 'VmHWM MiB'];
  const rows: Cell[][] = report.daemons.map((d) => [
    `${d.name} (${d.role === 'owner' ? 'owner' : `holds ${d.shardsHeld} shards`})`,
    d.cpuPercent,
    d.cpuSeconds,
    d.rssEndMiB,
    d.rssPeakMiB,
    d.hwmMiB,
  ]);
  const verdict = (ok: boolean) => (ok ? 'pass' : 'MISS');
  const cpuOk = report.worstCpuPercent <= CPU_TARGET_PERCENT;
  const rssOk = report.worstPeakRssMiB <= RSS_TARGET_MiB;
  const command =
    `pnpm bench idle ${args.filter((a, i) => a !== '--json' && !['--logs', '--cpu-prof'].includes(args[i - 1] ?? '') && !['--logs', '--cpu-prof'].includes(a)).join(' ')}`.trim();
  const md = [
    '# idle benchmark',
    '',
    `\`${command}\`: ${report.members} pb-node processes on 127.0.0.1 TCP form a group; the owner backs up ` +
      `${DATASET_FILES} files of ${DATASET_FILE_BYTES / 1024} KiB so the others hold shards; every daemon restarts with ` +
      `the default timings (syncInterval 30s, schedule hourly, watchDebounce 30s), settles ${report.settleSeconds} s, ` +
      `then is left alone for ${report.seconds} s (CLI: ${report.cli}) while /proc is sampled every ${SAMPLE_EVERY_MS / 1000} s. ` +
      'CPU % is of one core over the window; RSS peak is the largest sample in the window; VmHWM is the peak since the start.',
    '',
    markdownTable(columns, rows),
    '',
    `- Worst CPU ${report.worstCpuPercent} % (target <= ${CPU_TARGET_PERCENT} %): ${verdict(cpuOk)}.`,
    `- Worst RSS ${report.worstRssMiB} MiB at the end, ${report.worstPeakRssMiB} MiB peak in the window (target <= ${RSS_TARGET_MiB} MiB): ${verdict(rssOk)}.`,
    `- CPU seconds by thread: ${report.daemons.map((d) => `${d.name}: ${threadsLine(d)}`).join('; ')}.`,
    `- Machine: ${availableParallelism()} cores, shared; Node ${process.version}.`,
  ].join('\n');
  writeReport('idle', report, md);
  if (json) console.log(JSON.stringify(report));
  else
    console.log(
      `${formatTable(columns, rows)}\n${report.daemons.map((d) => `${d.name} threads: ${threadsLine(d)}`).join('\n')}\nworst: CPU ${report.worstCpuPercent} % (${verdict(cpuOk)}), RSS ${report.worstRssMiB} MiB end / ${report.worstPeakRssMiB} MiB peak (${verdict(rssOk)})`,
    );
}
