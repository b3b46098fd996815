/**
 * The pipeline benchmark's runs of each tool (bench/pipeline.ts): backup, unchanged re-run and
 * restore of one dataset, each a separate process measured by /usr/bin/time (wall, user+sys CPU
 * of the process and its threads, peak RSS), plus the bytes each tool stored.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './report.ts';

const MiB = 1024 * 1024;

export interface ToolResult {
  backupMiBs: number;
  restoreMiBs: number;
  backupSeconds: number;
  rerunSeconds: number;
  restoreSeconds: number;
  /** CPU seconds (user + sys) of the backup, the re-run and the restore. */
  cpuSeconds: number;
  rerunCpuSeconds: number;
  restoreCpuSeconds: number;
  peakRssMiB: number;
  /** Bytes stored before redundancy (pb: sealed objects of both runs; others: the repository). */
  storedBytes: number;
  /** Bytes on disk after redundancy (pb: every shard file; others: the repository). */
  storedBytesWithRedundancy: number;
  /** pb: the owner's index (SQLite with its WAL); others: null. */
  indexBytes: number | null;
}

/**
 * Each measure's median over several runs of one tool (interleaved with the other tools' runs):
 * one slow or lucky run on a shared machine does not move it. Peak RSS is the largest of the runs.
 */
export function medianResult(runs: readonly ToolResult[]): ToolResult {
  if (runs.length === 0) throw new Error('medianResult: no runs');
  const out = { ...runs[0]! };
  for (const key of Object.keys(out) as (keyof ToolResult)[]) {
    const xs = runs.map((r) => r[key]).filter((x): x is number => x !== null);
    if (xs.length === runs.length) out[key] = key === 'peakRssMiB' ? Math.max(...xs) : median(xs);
  }
  return out;
}

interface Measured {
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  stdout: string;
}

/**
 * Writes every dirty page of the machine to disk (`sync`) and waits for it. Called before each
 * timed command, so that none pays the kernel's writeback of what ran before it: the dataset just
 * generated, or the files another tool restored (no tool fsyncs a restore). Without it the first
 * run after the dataset was made ran a fifth to a third slower than the next ones (group-backup:
 * 13.9 s against 10.3-10.9 s for the same backup, while its raw stream, memory only, was the
 * fastest of the three).
 */
export function flushDirtyPages(): void {
  execFileSync('sync', [], { stdio: 'ignore' });
}

/** Runs one command under /usr/bin/time after `flushDirtyPages`: wall and CPU seconds, peak RSS. */
export function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Measured {
  flushDirtyPages();
  const timeFile = join(tmpdir(), `pb-bench-time-${process.pid}`);
  const r = spawnSync('/usr/bin/time', ['-o', timeFile, '-f', '%e %U %S %M', cmd, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 256 * MiB,
    ...(cwd ? { cwd } : {}),
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  const [e, u, s, m] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  fs.rmSync(timeFile, { force: true });
  return { seconds: e!, cpuSeconds: u! + s!, peakRssMiB: m! / 1024, stdout: r.stdout };
}

export function has(cmd: string): boolean {
  try {
    execFileSync('which', [cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function sameTree(a: string, b: string): boolean {
  return spawnSync('diff', ['-rq', '--no-dereference', a, b], { stdio: 'ignore' }).status === 0;
}

/** Apparent bytes of every file under `dir` (du -sb). */
export function dirBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

function result(
  datasetBytes: number,
  b: Measured,
  rerun: Measured,
  r: Measured,
  stored: { before: number; after: number; index: number | null },
): ToolResult {
  const mib = datasetBytes / MiB;
  const fixed = (x: number, d = 2) => Number(x.toFixed(d));
  return {
    backupMiBs: fixed(mib / b.seconds, 1),
    restoreMiBs: fixed(mib / r.seconds, 1),
    backupSeconds: fixed(b.seconds),
    rerunSeconds: fixed(rerun.seconds),
    restoreSeconds: fixed(r.seconds),
    cpuSeconds: fixed(b.cpuSeconds),
    rerunCpuSeconds: fixed(rerun.cpuSeconds),
    restoreCpuSeconds: fixed(r.cpuSeconds),
    peakRssMiB: fixed(Math.max(b.peakRssMiB, rerun.peakRssMiB, r.peakRssMiB), 0),
    storedBytes: stored.before,
    storedBytesWithRedundancy: stored.after,
    indexBytes: stored.index,
  };
}

export interface PbOptions {
  /** Run the tsx entry instead of the precompiled CLI. */
  source: boolean;
  workers: number | undefined;
  /** The CLI to run (built once per benchmark run). */
  bin: string;
}

export function benchPb(
  work: string,
  data: string,
  datasetBytes: number,
  notes: string[],
  o: PbOptions,
): ToolResult {
  const root = join(work, 'pb');
  fs.mkdirSync(root, { recursive: true });
  const members = [1, 2, 3, 4, 5].map((i) => ({
    id: `m${i}`,
    dir: join(root, `m${i}`),
    pledgeBytes: 100 * 1024 ** 3,
  }));
  const config = {
    dataDir: join(root, 'data'),
    secretFile: join(root, 'secret'),
    agreement: { ratio: 2, tolerance: 1 },
    members,
    sources: [data],
    durable: true,
    ...(o.workers === undefined ? {} : { workers: o.workers }),
  };
  const configPath = join(root, 'pb.json');
  fs.writeFileSync(configPath, JSON.stringify(config));
  execFileSync(process.execPath, [o.bin, 'local', '-c', configPath, 'init'], { stdio: 'ignore' });
  type Stats = { stored: { stripes: number; shardBytesWritten: number; sealedBytesStored: number } };
  const b = measure(process.execPath, [o.bin, 'local', '-c', configPath, 'backup', '--json']);
  const stats = JSON.parse(b.stdout) as Stats;
  notes.push(
    `pb: ${stats.stored.stripes} stripes, ${(stats.stored.shardBytesWritten / MiB).toFixed(0)} MiB of shards (k=2, m=2), fsync per shard; ` +
      `threads: main + ${o.workers ?? Math.min(4, Math.max(1, availableParallelism()))} worker(s) (backup: FastCDC, HMAC, zstd, XChaCha20; restore: decrypt, decompress, id checks, file writes) + libuv pool (Reed-Solomon, I/O, shard SHA-256 on reads); ` +
      `CLI ${o.source ? 'from source (tsx)' : 'precompiled as packaged (dist/, esbuild, packages bundled)'}`,
  );
  const rerun = measure(process.execPath, [o.bin, 'local', '-c', configPath, 'backup', '--json']);
  const rerunStats = JSON.parse(rerun.stdout) as Stats;
  const target = join(root, 'restore');
  const r = measure(process.execPath, [
    o.bin,
    'local',
    '-c',
    configPath,
    'restore',
    '--target',
    target,
    '--json',
  ]);
  if (!sameTree(data, join(target, data))) throw new Error('pb restore differs from the dataset');
  const index = fs
    .readdirSync(config.dataDir)
    .filter((f) => f.startsWith('index.sqlite'))
    .reduce((n, f) => n + fs.statSync(join(config.dataDir, f)).size, 0);
  return result(datasetBytes, b, rerun, r, {
    before: stats.stored.sealedBytesStored + rerunStats.stored.sealedBytesStored,
    after: members.reduce((n, m) => n + (fs.existsSync(m.dir) ? dirBytes(m.dir) : 0), 0),
    index,
  });
}

export function benchRestic(work: string, data: string, datasetBytes: number): ToolResult {
  const repo = join(work, 'restic-repo');
  const env = {
    RESTIC_PASSWORD: 'bench',
    RESTIC_REPOSITORY: repo,
    RESTIC_CACHE_DIR: join(work, 'restic-cache'),
  };
  execFileSync('restic', ['init'], { env: { ...process.env, ...env }, stdio: 'ignore' });
  const b = measure('restic', ['backup', '--quiet', data], env);
  const rerun = measure('restic', ['backup', '--quiet', data], env);
  const target = join(work, 'restic-restore');
  const r = measure('restic', ['restore', 'latest', '--target', target], env);
  if (!sameTree(data, join(target, data))) throw new Error('restic restore differs from the dataset');
  const bytes = dirBytes(repo);
  return result(datasetBytes, b, rerun, r, { before: bytes, after: bytes, index: null });
}

export function benchBorg(work: string, data: string, datasetBytes: number): ToolResult {
  const repo = join(work, 'borg-repo');
  const env = {
    BORG_PASSPHRASE: 'bench',
    BORG_BASE_DIR: join(work, 'borg-base'),
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
  };
  execFileSync('borg', ['init', '-e', 'repokey', repo], { env: { ...process.env, ...env }, stdio: 'ignore' });
  const b = measure('borg', ['create', `${repo}::a1`, data], env);
  const rerun = measure('borg', ['create', `${repo}::a2`, data], env);
  const target = join(work, 'borg-restore');
  fs.mkdirSync(target);
  const r = measure('borg', ['extract', `${repo}::a1`], env, target);
  if (!sameTree(data, join(target, data))) throw new Error('borg restore differs from the dataset');
  const bytes = dirBytes(repo);
  return result(datasetBytes, b, rerun, r, { before: bytes, after: bytes, index: null });
}
