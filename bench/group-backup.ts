/**
 * `pnpm bench group-backup [--size 1GiB|<n>MiB] [--quick] [--no-recovery] [--json] [--source]
 *  [--cpu-prof <dir>]`
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
 * `--json` prints { rawStreamMiBs, backupMiBs, restoreMiBs, cpuSeconds, peakRssMiB, ... }.
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
import { makeNode, onlyLink, rawUpload } from './_transport-measure.ts';
import { generateDataset, measure, parseSize, sameTree } from './pipeline.ts';
import { type Cell, fmt, formatTable, hasFlag, markdownTable, writeReport } from './report.ts';
import { spawnNode } from './transport.ts';

const MiB = 1024 * 1024;
const QUICK_BYTES = 128 * MiB;
const RAW_SHARD_BYTES = 32 * MiB;
const CLOCK_TICKS_PER_SECOND = 100;

export interface GroupBackupReport {
  rawStreamMiBs: number;
  backupMiBs: number;
  restoreMiBs: number;
  cpuSeconds: number;
  peakRssMiB: number;
  /** Rebuild the index from the holders' shards and restore (the dead disk); null if skipped. */
  recoveryMiBs: number | null;
  datasetMiB: number;
  files: number;
  backupSeconds: number;
  restoreSeconds: number;
  recoverySeconds: number | null;
  backupCpuSeconds: number;
  restoreCpuSeconds: number;
  shardMiBStored: number;
  /** CPU seconds both ends of the raw stream spend per GiB it moves. */
  rawCpuSecondsPerGiB: number;
  /** Cores the five members use with nothing to do, sampled just before the backup. */
  idleCores: number;
  /** The owner's daemon's CPU seconds in the backup. */
  ownerBackupCpuSeconds: number;
  /** The pipeline's own seconds inside each command (the rest: process start, connecting, the head). */
  backupPipelineSeconds: number;
  restoreInsideSeconds: number;
  /** The holders' CPU seconds in the backup, and how many of them in the kernel (stime). */
  holdersBackupCpuSeconds: number;
  holdersBackupSystemSeconds: number;
}

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

export async function run(args: string[]): Promise<void> {
  const json = hasFlag(args, '--json');
  const profDir = optionValue(args, '--cpu-prof');
  if (profDir !== null) fs.mkdirSync(profDir, { recursive: true });
  const profArgs = profDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  // Members and commands run the packaged CLI (what is installed); `--source`: the tsx entry.
  const entry = hasFlag(args, '--source') ? BIN : buildCli(true);
  const plain = entryWrap(entry);
  const profiled = entryWrap(entry, profArgs);
  const sizeAt = args.indexOf('--size');
  const size = hasFlag(args, '--quick')
    ? QUICK_BYTES
    : sizeAt >= 0
      ? parseSize(args[sizeAt + 1] ?? '')
      : 1024 * MiB;
  const say = (line: string): void => {
    process.stderr.write(`group-backup: ${line}\n`);
  };
  const work = fs.mkdtempSync(join(tmpdir(), 'pb-bench-group-backup-'));
  let procs: Proc[] = [];
  try {
    const data = join(work, 'home', 'dataset');
    const { bytes, files } = generateDataset(data, size);
    const mib = bytes / MiB;
    say(`dataset ${mib.toFixed(0)} MiB, ${files} files`);
    const raw = await rawStream(Math.min(bytes, 256 * MiB));
    const rawMiBs = raw.mibs;
    say(
      `raw libp2p stream ${rawMiBs.toFixed(1)} MiB/s, ${raw.cpuSecondsPerGiB.toFixed(1)} CPU s per GiB (both ends)`,
    );
    // Each holder stores about 1.5/4 of the dataset (k=2, m=1 over four holders), with room.
    const pledgeMiB = Math.max(64, Math.ceil((mib * 1.5 * 1.4) / 4));
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
    if (profDir !== null)
      say(
        `profiling into ${profDir}: owner pid ${owner.child?.pid}, holder m2 pid ${holders[0]!.child?.pid}`,
      );

    // Backup.
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
    if (!hasFlag(args, '--no-recovery')) {
      holdersCpu = groupCpu(holders);
      const target = join(work, 'recovered');
      const rr = measure(process.execPath, restoreArgs(target, join(work, 'owner-again')));
      if (!sameTree(data, join(target, data))) throw new Error('the recovery differs from the dataset');
      fs.rmSync(target, { recursive: true, force: true });
      recovery = { seconds: rr.seconds, peakRssMiB: rr.peakRssMiB };
      say(`recovery (rebuild + restore) ${rr.seconds.toFixed(1)} s, ${(mib / rr.seconds).toFixed(1)} MiB/s`);
    }

    const report: GroupBackupReport = {
      rawStreamMiBs: fmt(rawMiBs, 1),
      backupMiBs: fmt(mib / backupSeconds, 1),
      restoreMiBs: fmt(mib / r.seconds, 1),
      cpuSeconds: fmt(backupCpuSeconds + restoreCpuSeconds, 1),
      peakRssMiB: fmt(Math.max(ownerPeakRss, r.peakRssMiB, recovery?.peakRssMiB ?? 0), 0),
      recoveryMiBs: recovery === null ? null : fmt(mib / recovery.seconds, 1),
      datasetMiB: fmt(mib, 0),
      files,
      backupSeconds: fmt(backupSeconds, 1),
      restoreSeconds: fmt(r.seconds, 1),
      recoverySeconds: recovery === null ? null : fmt(recovery.seconds, 1),
      backupCpuSeconds: fmt(backupCpuSeconds, 1),
      restoreCpuSeconds: fmt(restoreCpuSeconds, 1),
      shardMiBStored: fmt(shardMiBStored, 0),
      rawCpuSecondsPerGiB: fmt(raw.cpuSecondsPerGiB, 1),
      idleCores: fmt(idleCores, 2),
      ownerBackupCpuSeconds: fmt(ownerBackupCpuSeconds, 1),
      backupPipelineSeconds: fmt(pipelineSeconds, 1),
      restoreInsideSeconds: fmt(restoreInside, 1),
      holdersBackupCpuSeconds: fmt(backupCpuSeconds - ownerBackupCpuSeconds, 1),
      holdersBackupSystemSeconds: fmt(holdersBackupSystemSeconds, 1),
    };
    const columns = ['measure', 'MiB/s', 'x raw', 'seconds', 'CPU s'];
    const rows: Cell[][] = [
      ['raw libp2p stream', report.rawStreamMiBs, 1, null, null],
      [
        'backup',
        report.backupMiBs,
        fmt(report.backupMiBs / report.rawStreamMiBs),
        report.backupSeconds,
        report.backupCpuSeconds,
      ],
      [
        'restore',
        report.restoreMiBs,
        fmt(report.restoreMiBs / report.rawStreamMiBs),
        report.restoreSeconds,
        report.restoreCpuSeconds,
      ],
    ];
    if (recovery !== null)
      rows.push([
        'recovery (rebuild + restore)',
        report.recoveryMiBs,
        fmt(report.recoveryMiBs! / report.rawStreamMiBs),
        report.recoverySeconds,
        null,
      ]);
    const table = formatTable(columns, rows);
    const md = [
      '# group-backup benchmark',
      '',
      `Dataset ${report.datasetMiB} MiB, ${files} files (bench/pipeline.ts generateDataset). Five pb-node processes on ` +
        `127.0.0.1 TCP; one backs up onto the four others (k=2, m=1; ${report.shardMiBStored} MiB of shards stored); ` +
        'restore = `pb-node restore --peer` with its own index into a fresh directory; recovery = the same from a fresh ' +
        "data directory (the index rebuilt from the holders' shards). Raw stream: one libp2p stream between two pb " +
        'libp2p nodes on loopback TCP (best of two). Target: backup and restore >= 0.5x raw.',
      '',
      markdownTable(columns, rows),
      '',
      `- CPU: ${report.cpuSeconds} s (backup: every member's daemon, ${fmt(ownerBackupCpuSeconds, 1)} s of it the owner's, ${report.holdersBackupCpuSeconds} s the four holders' of which ${report.holdersBackupSystemSeconds} s in the kernel; restore: the restore process, ${fmt(r.cpuSeconds, 1)} s, and the holders).`,
      `- Inside the commands: the backup's pipeline took ${fmt(pipelineSeconds, 1)} s of the ${report.backupSeconds} s, the restore ${fmt(restoreInside, 1)} s of ${report.restoreSeconds} s (the rest: process start, connecting, the head).`,
      `- Raw stream CPU: ${report.rawCpuSecondsPerGiB} s per GiB moved (both ends). The five members with nothing to do (syncInterval ${SYNC_INTERVAL}, sampled ${IDLE_SAMPLE_MS / 1000} s before the backup): ${report.idleCores} cores.`,
      `- Peak RSS: ${report.peakRssMiB} MiB (the owner's daemon ${fmt(ownerPeakRss, 0)} MiB, restore ${fmt(r.peakRssMiB, 0)} MiB${recovery ? `, recovery ${fmt(recovery.peakRssMiB, 0)} MiB` : ''}).`,
      `- Machine: ${(await import('node:os')).availableParallelism()} cores, shared.`,
    ].join('\n');
    writeReport('group-backup', report, md);
    console.log(
      json
        ? JSON.stringify(report)
        : `${table}\ncpu ${report.cpuSeconds} s, peak RSS ${report.peakRssMiB} MiB`,
    );
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    fs.rmSync(work, { recursive: true, force: true });
  }
}
