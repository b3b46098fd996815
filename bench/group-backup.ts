/**
 * `pnpm bench group-backup [--size 1GiB|<n>MiB] [--quick] [--no-recovery] [--repeat N] [--json]
 *  [--source] [--cpu-prof <dir>]`
 *
 * Five pb-node members (real processes, `--test-network`: loopback TCP) form a group
 * (ratio 1.5, tolerance 1: k=2, m=1 over the four holders). One member backs up the pipeline
 * benchmark's dataset (bench/pipeline.ts `generateDataset`, default 1 GiB; `--quick` 128 MiB)
 * with `pnpm backup --dir`; then, with its daemon stopped, `pb-node restore --peer <another
 * member>` restores the head's snapshot into a fresh directory with the member's own index
 * (restore); and, unless `--no-recovery`, once more from a fresh data directory (the dead disk:
 * the index is rebuilt from the holders' shards first). Both restores are compared with the
 * dataset (`diff -r`).
 *
 * In the same run, a raw libp2p stream between two pb libp2p nodes on loopback TCP (the
 * transport benchmark's: this thread to a node on its own thread, the same 256 KiB writes, best
 * of two) is the baseline. Target: backup and restore each >= 0.5x the raw stream's MiB/s.
 *
 * CPU seconds: every process of the group during the backup (owner and holders, from
 * /proc/<pid>/stat) plus the restore process and the holders during the restore. Peak RSS: the
 * largest of the owner's daemon (VmHWM) and the restore processes (/usr/bin/time).
 * Members and commands run the CLI as the package ships it (runtime/bin/build.mjs --package,
 * built here, as the pipeline benchmark does); `--source` runs the tsx entry instead.
 * `--cpu-prof <dir>`: the owner's daemon (group forming and the backup), the first holder's
 * (everything until the end) and the restore process write V8 CPU profiles there, named
 * `CPU.<date>.<time>.<pid>...`; the pids are printed on stderr.
 * `--repeat N` (1..5, default 1): N runs in turn, each with its own raw stream and its own group (the
 * dataset is made once); the report gives each measure's median and judges each ratio by the
 * median of the ratios taken run by run (bench/_group-backup-report.ts says why).
 * `--json` prints { rawStreamMiBs, backupMiBs, restoreMiBs, backupXRaw, restoreXRaw, cpuSeconds,
 * peakRssMiB, ..., runs }.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { BIN, cli, type Proc } from '../test/runtime/daemon/_cluster.ts';
import { directAddress, formGroup } from '../test/runtime/daemon/_group.ts';
import { buildCli, entryWrap, optionValue } from './_cli-build.ts';
import {
  COLUMNS,
  type GroupBackupReport,
  type GroupRun,
  reportMarkdown,
  summarize,
  tableRows,
} from './_group-backup-report.ts';
import { flushDirtyPages } from './_pipeline-tools.ts';
import { makeNode, onlyLink, rawUpload } from './_transport-measure.ts';
import { generateDataset, measure, parseSize, sameTree } from './pipeline.ts';
import { formatTable, hasFlag, repeatOption, writeReport } from './report.ts';
import { spawnNode } from './transport.ts';

const MiB = 1024 * 1024;
const QUICK_BYTES = 128 * MiB;
const RAW_SHARD_BYTES = 32 * MiB;
const CLOCK_TICKS_PER_SECOND = 100;

function cpuSecondsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND; // utime + stime
}

function peakRssMiBOf(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Kernel-mode CPU seconds (stime) of a process. */
function systemSecondsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) / CLOCK_TICKS_PER_SECOND;
}

const groupSystem = (procs: readonly Proc[]): number =>
  procs.reduce((sum, p) => sum + (p.child?.pid === undefined ? 0 : systemSecondsOf(p.child.pid)), 0);

const groupCpu = (procs: readonly Proc[]): number =>
  procs.reduce((sum, p) => sum + (p.child?.pid === undefined ? 0 : cpuSecondsOf(p.child.pid)), 0);

/**
 * MiB/s of a raw libp2p stream (best of two), this thread to a node on its own thread, and the CPU
 * seconds both ends spent per GiB moved (this process holds both: process.cpuUsage).
 */
async function rawStream(totalBytes: number): Promise<{ mibs: number; cpuSecondsPerGiB: number }> {
  const members = new Set<string>();
  const writer = await makeNode(members, {});
  const relay = await spawnNode({ role: 'relay', members: [] });
  const work = fs.mkdtempSync(join(tmpdir(), 'pb-bench-raw-'));
  const target = await spawnNode({
    role: 'target',
    members: [writer.id, relay.id],
    relayAddr: relay.addrs[0],
    dir: join(work, 'target'),
    pledgeBytes: 64 * MiB,
  });
  try {
    const peer = peerIdFromString(target.id);
    const tcp = target.addrs.map((a) => multiaddr(a)).find((a) => !a.toString().includes('/p2p-circuit'))!;
    const conn = await writer.node.dial(tcp);
    await onlyLink(writer.node, { id: target.id, peerId: peer }, conn);
    const shards = Math.max(1, Math.round(totalBytes / RAW_SHARD_BYTES));
    const data = Array.from({ length: shards }, () => randomBytes(RAW_SHARD_BYTES));
    await rawUpload(writer.node, peer, data.slice(0, 1)); // warm-up
    const cpu0 = process.cpuUsage();
    const mibs = Math.max(await rawUpload(writer.node, peer, data), await rawUpload(writer.node, peer, data));
    const cpu = process.cpuUsage(cpu0);
    const gib = (2 * shards * RAW_SHARD_BYTES) / (1024 * MiB);
    return { mibs, cpuSecondsPerGiB: (cpu.user + cpu.system) / 1e6 / gib };
  } finally {
    await writer.node.stop();
    for (const w of [relay.proc, target.proc]) {
      w.postMessage({ stop: true });
      await new Promise<void>((r) => w.once('exit', r));
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function storedBytes(p: Proc): number {
  let total = 0;
  const walk = (dir: string): void => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (/^[0-9a-f]{64}$/.test(e.name)) total += fs.statSync(join(dir, e.name)).size;
    }
  };
  walk(join(p.dir, 'shards'));
  return total;
}

const MEMBERS = ['owner', 'm2', 'm3', 'm4', 'm5'];
/**
 * The members reconcile their group logs this often (the test helpers' 1 s kept the five of them
 * at 0.7 cores with nothing to do, inside every measured window; the product's default is 30 s).
 */
const SYNC_INTERVAL = '10s';
/** The group's CPU is sampled this long before the backup (what runs with no work to do). */
const IDLE_SAMPLE_MS = 3000;

/** What every run shares: the CLI to run, the dataset, where to work, how to say progress. */
interface RunSetup {
  entry: string;
  plain: ReturnType<typeof entryWrap>;
  profiled: ReturnType<typeof entryWrap>;
  profArgs: string[];
  profiling: boolean;
  data: string;
  bytes: number;
  recovery: boolean;
  say: (line: string) => void;
}

/** One run in `work`: the raw stream, a group formed, the backup, the restore, the recovery. */
async function runOnce(setup: RunSetup, work: string): Promise<GroupRun> {
  const { entry, plain, profiled, profArgs, data, bytes, say } = setup;
  const mib = bytes / MiB;
  fs.mkdirSync(work, { recursive: true });
  flushDirtyPages();
  const raw = await rawStream(Math.min(bytes, 256 * MiB));
  say(
    `raw libp2p stream ${raw.mibs.toFixed(1)} MiB/s, ${raw.cpuSecondsPerGiB.toFixed(1)} CPU s per GiB (both ends)`,
  );
  // Each holder stores about 1.5/4 of the dataset (k=2, m=1 over four holders), with room.
  const pledgeMiB = Math.max(64, Math.ceil((mib * 1.5 * 1.4) / 4));
  let procs: Proc[] = [];
  try {
    ({ procs } = await formGroup(
      work,
      MEMBERS,
      Object.fromEntries(
        MEMBERS.map((n) => [
          n,
          [
            ...(n === 'owner' ? ['--directories', data] : []),
            ...['--schedule', 'off', '--watch-debounce', '0s', '--sync-interval', SYNC_INTERVAL],
          ],
        ]),
      ),
      `${pledgeMiB}MiB`,
      { wrap: (name) => (name === 'owner' || name === 'm2' ? profiled : plain) },
    ));
    const [owner, ...holders] = procs as [Proc, ...Proc[]];
    say('five members formed a group');
    const idleCpu0 = groupCpu(procs);
    await new Promise((r) => setTimeout(r, IDLE_SAMPLE_MS));
    const idleCores = (groupCpu(procs) - idleCpu0) / (IDLE_SAMPLE_MS / 1000);
    say(`the group with nothing to do: ${idleCores.toFixed(2)} cores`);
    if (setup.profiling)
      say(`profiling: owner pid ${owner.child?.pid}, holder m2 pid ${holders[0]!.child?.pid}`);

    // Backup.
    flushDirtyPages();
    const cpu0 = groupCpu(procs);
    const ownerCpu0 = groupCpu([owner]);
    const holdersSystem0 = groupSystem(holders);
    const t0 = performance.now();
    const b = await cli(['backup', '--dir', owner.dir, '--json'], plain);
    const backupSeconds = (performance.now() - t0) / 1000;
    if (b.code !== 0) throw new Error(`backup failed: ${b.stderr}${b.stdout}`);
    const backupCpuSeconds = groupCpu(procs) - cpu0;
    const ownerBackupCpuSeconds = groupCpu([owner]) - ownerCpu0;
    const holdersBackupSystemSeconds = groupSystem(holders) - holdersSystem0;
    const pipelineSeconds = (JSON.parse(b.stdout) as { seconds: number }).seconds;
    const ownerPeakRss = peakRssMiBOf(owner.child!.pid!);
    const shardMiBStored = holders.reduce((s, h) => s + storedBytes(h), 0) / MiB;
    say(
      `backup ${backupSeconds.toFixed(1)} s (pipeline ${pipelineSeconds.toFixed(1)} s), ${(mib / backupSeconds).toFixed(1)} MiB/s; ` +
        `CPU ${backupCpuSeconds.toFixed(1)} s, the owner's ${ownerBackupCpuSeconds.toFixed(1)} s`,
    );

    // Restore with the owner's own index, into a fresh directory.
    await owner.stop();
    const peer = await directAddress(holders[0]!);
    const secretFile = join(work, 'secret.hex');
    fs.copyFileSync(join(owner.dir, 'secret'), secretFile);
    const restoreArgs = (target: string, dir: string) => [
      ...profArgs,
      entry,
      'restore',
      '--peer',
      peer,
      '--secret-file',
      secretFile,
      '--target',
      target,
      '--dir',
      dir,
      '--test-network',
      '--json',
    ];
    let holdersCpu = groupCpu(holders);
    const restoreTarget = join(work, 'restored');
    const r = measure(process.execPath, restoreArgs(restoreTarget, owner.dir));
    const restoreInside = (JSON.parse(r.stdout) as { seconds: number }).seconds;
    const restoreCpuSeconds = r.cpuSeconds + groupCpu(holders) - holdersCpu;
    if (!sameTree(data, join(restoreTarget, data))) throw new Error('the restore differs from the dataset');
    fs.rmSync(restoreTarget, { recursive: true, force: true });
    say(
      `restore ${r.seconds.toFixed(1)} s (inside ${restoreInside.toFixed(1)} s), ${(mib / r.seconds).toFixed(1)} MiB/s; CPU ${restoreCpuSeconds.toFixed(1)} s, the restore process ${r.cpuSeconds.toFixed(1)} s`,
    );

    // The dead disk: a fresh data directory, the index rebuilt from the holders' shards.
    let recovery: { seconds: number; peakRssMiB: number } | null = null;
    if (setup.recovery) {
      holdersCpu = groupCpu(holders);
      const target = join(work, 'recovered');
      const rr = measure(process.execPath, restoreArgs(target, join(work, 'owner-again')));
      if (!sameTree(data, join(target, data))) throw new Error('the recovery differs from the dataset');
      fs.rmSync(target, { recursive: true, force: true });
      recovery = { seconds: rr.seconds, peakRssMiB: rr.peakRssMiB };
      say(`recovery (rebuild + restore) ${rr.seconds.toFixed(1)} s, ${(mib / rr.seconds).toFixed(1)} MiB/s`);
    }
    return {
      rawStreamMiBs: raw.mibs,
      rawCpuSecondsPerGiB: raw.cpuSecondsPerGiB,
      idleCores,
      backupSeconds,
      backupPipelineSeconds: pipelineSeconds,
      backupCpuSeconds,
      ownerBackupCpuSeconds,
      holdersBackupSystemSeconds,
      restoreSeconds: r.seconds,
      restoreInsideSeconds: restoreInside,
      restoreCpuSeconds,
      restoreProcessCpuSeconds: r.cpuSeconds,
      recoverySeconds: recovery?.seconds ?? null,
      ownerPeakRssMiB: ownerPeakRss,
      restorePeakRssMiB: r.peakRssMiB,
      recoveryPeakRssMiB: recovery?.peakRssMiB ?? null,
      shardMiBStored,
    };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export async function run(args: string[]): Promise<void> {
  const json = hasFlag(args, '--json');
  const profDir = optionValue(args, '--cpu-prof');
  if (profDir !== null) fs.mkdirSync(profDir, { recursive: true });
  const profArgs = profDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  const repeat = repeatOption(args, 5);
  // Members and commands run the packaged CLI (what is installed); `--source`: the tsx entry.
  const entry = hasFlag(args, '--source') ? BIN : buildCli(true);
  const sizeAt = args.indexOf('--size');
  const size = hasFlag(args, '--quick')
    ? QUICK_BYTES
    : sizeAt >= 0
      ? parseSize(args[sizeAt + 1] ?? '')
      : 1024 * MiB;
  const work = fs.mkdtempSync(join(tmpdir(), 'pb-bench-group-backup-'));
  try {
    const data = join(work, 'home', 'dataset');
    const { bytes, files } = generateDataset(data, size);
    process.stderr.write(`group-backup: dataset ${(bytes / MiB).toFixed(0)} MiB, ${files} files\n`);
    const runs: GroupRun[] = [];
    for (let i = 0; i < repeat; i++) {
      const tag = repeat === 1 ? '' : ` (run ${i + 1} of ${repeat})`;
      const setup: RunSetup = {
        entry,
        plain: entryWrap(entry),
        profiled: entryWrap(entry, profArgs),
        profArgs,
        profiling: profDir !== null,
        data,
        bytes,
        recovery: !hasFlag(args, '--no-recovery'),
        say: (line) => process.stderr.write(`group-backup${tag}: ${line}\n`),
      };
      runs.push(await runOnce(setup, join(work, `run${i + 1}`)));
    }
    const report: GroupBackupReport = summarize(runs, bytes / MiB, files);
    const md = reportMarkdown(report, {
      syncInterval: SYNC_INTERVAL,
      idleSampleMs: IDLE_SAMPLE_MS,
      cores: (await import('node:os')).availableParallelism(),
    });
    writeReport('group-backup', report, md);
    console.log(
      json
        ? JSON.stringify(report)
        : `${formatTable(COLUMNS, tableRows(report))}\ncpu ${report.cpuSeconds} s, peak RSS ${report.peakRssMiB} MiB`,
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
