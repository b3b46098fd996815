/**
 * `pnpm bench pipeline [--size 1GiB|256MiB|<bytes>] [--json] [--keep] [--no-others] [--source] [--workers N]`
 *
 * DESIGN section 6's dataset from a fixed seed (170 incompressible files of 100 KiB-50 MiB,
 * log-uniform sizes scaled to 80% of --size, plus copies making 20% duplicates), backed up by pb
 * to 5 local members (owner excluded, tolerance 1, ratio 2: k=2, m=2), backed up again unchanged,
 * and restored to a new directory. restic and borg (if installed) do the same on the same data.
 * Each run is a separate process measured by /usr/bin/time (wall, user+sys CPU, peak RSS).
 * pb's threads: one worker per core (2 here) reads files and runs FastCDC, HMAC and
 * XChaCha20-Poly1305 (restore: decrypts and checks ids); the main thread deduplicates, packs
 * stripes, hashes shards once and writes; Reed-Solomon and file I/O run in libuv's pool.
 * pb runs precompiled (runtime/bin/build.mjs, built here first); `--source` runs the tsx entry,
 * `--workers N` overrides the worker count.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import seedrandom from 'seedrandom';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..');
const MiB = 1024 * 1024;
const SEED = 'pb bench pipeline v1';

export interface ToolResult {
  backupMiBs: number;
  restoreMiBs: number;
  rerunSeconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  backupSeconds: number;
  restoreSeconds: number;
}

export interface PipelineReport {
  datasetBytes: number;
  files: number;
  pb: ToolResult | null;
  restic: ToolResult | null;
  borg: ToolResult | null;
  notes: string[];
}

export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(GiB|MiB|KiB|G|M|K)?$/i.exec(text.trim());
  if (!m) throw new Error(`--size: cannot parse ${text}`);
  const unit = (m[2] ?? '').toUpperCase()[0];
  const mult = unit === 'G' ? 1024 ** 3 : unit === 'M' ? MiB : unit === 'K' ? 1024 : 1;
  return Math.round(Number(m[1]) * mult);
}

/** Writes the dataset; returns its byte count and file count. */
export function generateDataset(dir: string, totalBytes: number): { bytes: number; files: number } {
  const random = seedrandom(SEED);
  const unique = 170;
  const lo = Math.log(100 * 1024);
  const hi = Math.log(50 * MiB);
  const raw = Array.from({ length: unique }, () => Math.exp(lo + random() * (hi - lo)));
  const scale = (0.8 * totalBytes) / raw.reduce((a, b) => a + b, 0);
  const sizes = raw.map((s) => Math.max(1, Math.round(s * scale)));
  fs.mkdirSync(dir, { recursive: true });
  let bytes = 0;
  const buf = Buffer.alloc(4 * MiB);
  sizes.forEach((size, i) => {
    const sub = join(dir, `d${i % 10}`);
    fs.mkdirSync(sub, { recursive: true });
    const key = createHash('sha256').update(`${SEED}/${i}`).digest();
    const cipher = createCipheriv('chacha20', key, Buffer.alloc(16));
    const fd = fs.openSync(join(sub, `f${i}.bin`), 'w');
    for (let left = size; left > 0; ) {
      const n = Math.min(left, buf.length);
      fs.writeSync(fd, cipher.update(buf.subarray(0, n)));
      left -= n;
    }
    fs.closeSync(fd);
    bytes += size;
  });
  let files = unique;
  const dupTarget = 0.2 * totalBytes;
  let dup = 0;
  while (dup < dupTarget) {
    const i = Math.floor(random() * unique);
    if (dup + sizes[i]! > dupTarget * 1.05 && dup > 0) break;
    fs.copyFileSync(
      join(dir, `d${i % 10}`, `f${i}.bin`),
      join(dir, `d${i % 10}`, `copy${files}-of-${i}.bin`),
    );
    dup += sizes[i]!;
    bytes += sizes[i]!;
    files++;
  }
  return { bytes, files };
}

interface Measured {
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  stdout: string;
}

export function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Measured {
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

function has(cmd: string): boolean {
  try {
    execFileSync('which', [cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function sameTree(a: string, b: string): boolean {
  return spawnSync('diff', ['-rq', a, b], { stdio: 'ignore' }).status === 0;
}

function result(datasetBytes: number, b: Measured, rerun: Measured, r: Measured): ToolResult {
  const mib = datasetBytes / MiB;
  return {
    backupMiBs: Number((mib / b.seconds).toFixed(1)),
    restoreMiBs: Number((mib / r.seconds).toFixed(1)),
    rerunSeconds: Number(rerun.seconds.toFixed(2)),
    cpuSeconds: Number(b.cpuSeconds.toFixed(2)),
    peakRssMiB: Number(Math.max(b.peakRssMiB, rerun.peakRssMiB, r.peakRssMiB).toFixed(0)),
    backupSeconds: Number(b.seconds.toFixed(2)),
    restoreSeconds: Number(r.seconds.toFixed(2)),
  };
}

function benchPb(
  work: string,
  data: string,
  datasetBytes: number,
  notes: string[],
  source: boolean,
  workers: number | undefined,
): ToolResult {
  const root = join(work, 'pb');
  fs.mkdirSync(root, { recursive: true });
  const config = {
    dataDir: join(root, 'data'),
    secretFile: join(root, 'secret'),
    agreement: { ratio: 2, tolerance: 1 },
    members: [1, 2, 3, 4, 5].map((i) => ({
      id: `m${i}`,
      dir: join(root, `m${i}`),
      pledgeBytes: 100 * 1024 ** 3,
    })),
    sources: [data],
    durable: true,
    ...(workers === undefined ? {} : { workers }),
  };
  const configPath = join(root, 'pb.json');
  fs.writeFileSync(configPath, JSON.stringify(config));
  // The precompiled CLI (runtime/bin/build.mjs), built afresh from this tree: no TypeScript
  // loader at start-up. `--source` measures the tsx entry instead.
  const bin = source
    ? join(repoRoot, 'runtime/bin/pb-node.mjs')
    : execFileSync(process.execPath, [join(repoRoot, 'runtime/bin/build.mjs')], { encoding: 'utf8' }).trim();
  execFileSync(process.execPath, [bin, '-c', configPath, 'local-init'], { stdio: 'ignore' });
  const b = measure(process.execPath, [bin, '-c', configPath, 'backup', '--json']);
  const stats = JSON.parse(b.stdout) as { stored: { stripes: number; shardBytesWritten: number } };
  notes.push(
    `pb: ${stats.stored.stripes} stripes, ${(stats.stored.shardBytesWritten / MiB).toFixed(0)} MiB of shards (k=2, m=2), fsync per shard; ` +
      `threads: main + ${workers ?? Math.min(4, Math.max(1, availableParallelism()))} worker(s) (backup: FastCDC, HMAC, XChaCha20; restore, one fewer: decrypt and id checks) + libuv pool (Reed-Solomon, I/O, shard SHA-256 on reads); ` +
      `CLI ${source ? 'from source (tsx)' : 'precompiled (dist/, esbuild)'}`,
  );
  const rerun = measure(process.execPath, [bin, '-c', configPath, 'backup', '--json']);
  const target = join(root, 'restore');
  const r = measure(process.execPath, [bin, '-c', configPath, 'restore', '--target', target, '--json']);
  if (!sameTree(data, join(target, data))) throw new Error('pb restore differs from the dataset');
  return result(datasetBytes, b, rerun, r);
}

function benchRestic(work: string, data: string, datasetBytes: number): ToolResult {
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
  return result(datasetBytes, b, rerun, r);
}

function benchBorg(work: string, data: string, datasetBytes: number): ToolResult {
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
  return result(datasetBytes, b, rerun, r);
}

export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const sizeAt = args.indexOf('--size');
  const size = sizeAt >= 0 ? parseSize(args[sizeAt + 1] ?? '') : 1024 * MiB;
  const work = fs.mkdtempSync(join(tmpdir(), 'pb-bench-pipeline-'));
  const notes: string[] = [];
  try {
    const data = join(work, 'dataset');
    const { bytes, files } = generateDataset(data, size);
    const report: PipelineReport = { datasetBytes: bytes, files, pb: null, restic: null, borg: null, notes };
    const workersAt = args.indexOf('--workers');
    const workers = workersAt >= 0 ? Number(args[workersAt + 1]) : undefined;
    report.pb = benchPb(work, data, bytes, notes, args.includes('--source'), workers);
    if (!args.includes('--no-others')) {
      if (has('restic')) report.restic = benchRestic(work, data, bytes);
      else notes.push('restic not installed');
      if (has('borg')) report.borg = benchBorg(work, data, bytes);
      else notes.push('borg not installed');
    }
    const columns = [
      'tool',
      'backup MiB/s',
      'restore MiB/s',
      'unchanged re-run s',
      'backup CPU s',
      'peak RSS MiB',
    ];
    const rows = (['pb', 'restic', 'borg'] as const)
      .filter((t) => report[t])
      .map((t) => {
        const r = report[t]!;
        return [t, r.backupMiBs, r.restoreMiBs, r.rerunSeconds, r.cpuSeconds, r.peakRssMiB];
      });
    const ratio = (a: number | undefined, b: number | undefined): string =>
      a && b ? (a / b).toFixed(2) : '-';
    const ratios = [
      `pb backup / borg backup: ${ratio(report.pb?.backupMiBs, report.borg?.backupMiBs)} (target >= 1.5)`,
      `pb restore / restic restore: ${ratio(report.pb?.restoreMiBs, report.restic?.restoreMiBs)} (target >= 1.5)`,
      `pb re-run / restic re-run (seconds): ${ratio(report.pb?.rerunSeconds, report.restic?.rerunSeconds)} (target <= 1)`,
      `pb peak RSS: ${report.pb?.peakRssMiB} MiB (target <= 300)`,
    ];
    const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => String(r[i]).length)));
    const line = (cells: (string | number)[]): string =>
      cells.map((c, i) => String(c).padStart(widths[i]!)).join('  ');
    const table = [line(columns), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
    const md = [
      `# pipeline benchmark`,
      '',
      `Dataset: ${(bytes / MiB).toFixed(0)} MiB, ${files} files (seed "${SEED}"), 5 local members, tolerance 1.`,
      '',
      `| ${columns.join(' | ')} |`,
      `|${columns.map(() => '---').join('|')}|`,
      ...rows.map((r) => `| ${r.join(' | ')} |`),
      '',
      ...ratios.map((r) => `- ${r}`),
      ...notes.map((n) => `- ${n}`),
    ].join('\n');
    fs.mkdirSync(join(repoRoot, 'reports'), { recursive: true });
    fs.writeFileSync(join(repoRoot, 'reports/pipeline.json'), `${JSON.stringify(report, null, 2)}\n`);
    fs.writeFileSync(join(repoRoot, 'reports/pipeline.md'), `${md}\n`);
    if (json) console.log(JSON.stringify(report));
    else
      console.log(
        `dataset ${(bytes / MiB).toFixed(0)} MiB, ${files} files\n${table}\n${ratios.join('\n')}\n${notes.join('\n')}`,
      );
  } finally {
    if (!args.includes('--keep')) fs.rmSync(work, { recursive: true, force: true });
    else console.error(`kept ${work}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await run(process.argv.slice(2));
}
