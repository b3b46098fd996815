/**
 * The upload cap and pause on real daemons: four members (a 2+1 code); the owner's uploads are paused (a
 * backup started then sends no shard until `pb-node resume`), then run at the configured cap
 * (the bytes the holders received cannot have crossed faster than the cap plus its one-second
 * burst and the last shard, which the bucket lets borrow).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, type Proc, waitFor } from './_cluster.ts';
import { formGroup, storeReport } from './_group.ts';

const CAP_BYTES_PER_SECOND = 512 * 1024;
const DATA_BYTES = 3 * 1024 * 1024;

describe('upload cap and pause', () => {
  let root: string;
  let procs: Proc[] = [];
  let src: string;

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-upload-'));
    src = join(root, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(join(src, 'a.bin'), randomBytes(DATA_BYTES / 2));
    fs.writeFileSync(join(src, 'b.bin'), randomBytes(DATA_BYTES / 2));
    const quiet = ['--schedule', 'off', '--watch-debounce', '0s'];
    const group = await formGroup(root, ['owner', 'h1', 'h2', 'h3'], {
      owner: [...quiet, '--directories', src],
      h1: quiet,
      h2: quiet,
      h3: quiet,
    });
    procs = group.procs;
    // The cap goes into the owner's config file, as a person would write it.
    const owner = procs[0]!;
    await owner.stop();
    const file = join(owner.dir, 'config');
    const text = fs
      .readFileSync(file, 'utf8')
      .replace(/^upload = .*$/m, `upload = "${CAP_BYTES_PER_SECOND / 1024}KiB/s"`);
    fs.writeFileSync(file, text);
    await owner.start();
  }, 240_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('sends nothing while paused, then holds the cap', async () => {
    const [owner, ...holders] = procs as [Proc, ...Proc[]];
    const paused = await cli(['pause', '--dir', owner.dir, '--for', '10m', '--json']);
    expect(paused.code, paused.stderr).toBe(0);
    expect(JSON.parse(paused.stdout)).toMatchObject({ paused: true, bytesPerSecond: CAP_BYTES_PER_SECOND });
    const text = await cli(['status', '--dir', owner.dir]);
    expect(text.stdout).toMatch(/Upload\s+paused until .*pb-node resume/);

    const backup = spawn(process.execPath, [BIN, 'backup', '--dir', owner.dir, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    backup.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    backup.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((r) => backup.once('exit', r));
    // The backup runs (scans, chunks, encrypts) but no shard leaves while paused.
    await waitFor(`the backup to start (${out})`, async () => {
      const s = (await owner.call('status')) as { backup: { state: string } };
      if (backup.exitCode !== null) throw new Error(`backup exited: ${out}`);
      return s.backup.state === 'running';
    });
    await new Promise((r) => setTimeout(r, 4000));
    const before = await Promise.all(holders.map(storeReport));
    expect(before.map((s) => s.putsReceived)).toEqual([0, 0, 0]);
    expect(backup.exitCode).toBeNull();

    const resumedAt = Date.now();
    const resumed = await cli(['resume', '--dir', owner.dir]);
    expect(resumed.stdout).toMatch(/Uploads run \(cap now: 524 kB\/s\)/);
    expect(await exited, out).toBe(0);
    const elapsedMs = Date.now() - resumedAt;
    const after = await Promise.all(holders.map(storeReport));
    const wireBytes = after.reduce((n, s) => n + s.storedBytes, 0);
    expect(wireBytes).toBeGreaterThanOrEqual(DATA_BYTES);
    // At most one second of burst and one borrowed shard (no more than one holder's share: a
    // stripe of 2+1 puts one shard on each) may cross without waiting.
    const largestShard = Math.max(...after.map((s) => s.storedBytes));
    const floorMs = ((wireBytes - largestShard - CAP_BYTES_PER_SECOND) / CAP_BYTES_PER_SECOND) * 1000;
    expect(floorMs).toBeGreaterThan(2000);
    expect(elapsedMs).toBeGreaterThanOrEqual(floorMs);

    const report = (await owner.call('report')) as { upload: { paused: boolean; capBytesPerSecond: number } };
    expect(report.upload).toMatchObject({ paused: false, capBytesPerSecond: CAP_BYTES_PER_SECOND });
  }, 180_000);
});
