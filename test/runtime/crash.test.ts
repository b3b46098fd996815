/**
 * A real `pb-node backup` process is SIGKILLed at random points; the next backup completes and the
 * restore is exact. Then the CLI's other commands run on the same data (JSON output, wrong secret).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import {
  describeTree,
  detBytes,
  expectSameTree,
  localConfig,
  OTHER_SECRET_HEX,
  tempDir,
  writeConfigFile,
} from './helpers.ts';

const BIN = resolve(import.meta.dirname, '../../runtime/bin/pb-node.mjs');
const MiB = 1024 * 1024;

function pbNode(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A directory's entries; none when it is gone (the backup being watched may remove it meanwhile). */
function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function shardCount(root: string): number {
  let n = 0;
  const members = join(root, 'members');
  for (const m of entries(members)) {
    for (const sub of ['tmp', 'shards']) {
      const dir = join(members, m, sub);
      for (const e of entries(dir)) n += sub === 'tmp' ? 1 : entries(join(dir, e)).length;
    }
  }
  return n;
}

/**
 * Start a backup and SIGKILL it `delayMs` after it has begun writing shards (so the kill lands
 * inside the data path: mid-shard, between puts and the index commit, or between stripes).
 */
function killDuringWrites(
  args: string[],
  root: string,
  delayMs: number,
): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((done) => {
    const before = shardCount(root);
    const child = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
    let timer: NodeJS.Timeout | null = null;
    const poll = setInterval(() => {
      if (timer || shardCount(root) <= before) return;
      clearInterval(poll);
      timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    }, 5);
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      done({ killed: signal === 'SIGKILL', code });
    });
  });
}

describe('crash safety (spawned pb-node, SIGKILL)', () => {
  it('a backup killed at random points resumes, completes, and restores exactly', async () => {
    const seed = process.env.PB_CRASH_SEED ?? String(Date.now() % 100000);
    console.log(`crash test seed ${seed} (PB_CRASH_SEED=${seed} to replay)`);
    const random = seedrandom(seed);
    const root = tempDir('crash');
    const src = join(root, 'src');
    fs.mkdirSync(join(src, 'd'), { recursive: true });
    for (let i = 0; i < 8; i++)
      fs.writeFileSync(join(src, i % 2 ? 'd' : '', `f${i}.bin`), detBytes(`crash${i}`, 4 * MiB + i * 1000));
    fs.writeFileSync(join(src, 'd/copy.bin'), detBytes('crash3', 4 * MiB + 3000));
    const config = writeConfigFile(root, localConfig(root, [src], { workers: 2, durable: true }));
    expect(pbNode(['local', '-c', config, 'init', '--json']).status).toBe(0);
    let kills = 0;
    const progress: number[] = [];
    for (let round = 0; round < 3; round++) {
      const delayMs = Math.floor(random() * 600);
      const r = await killDuringWrites(['local', '-c', config, 'backup', '--json'], root, delayMs);
      if (r.killed) kills++;
      else expect(r.code).toBe(0);
      // After a kill at any point the index is intact and names only complete stripes.
      const db = new Database(join(root, 'data', 'index.sqlite'));
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const stripes = db.prepare('SELECT COUNT(*) AS n FROM stripes').get() as { n: number };
      const shards = db.prepare('SELECT COUNT(*) AS n FROM shards').get() as { n: number };
      expect(shards.n).toBe(stripes.n * 4);
      db.close();
      progress.push(stripes.n);
    }
    const final = pbNode(['local', '-c', config, 'backup', '--json']);
    expect(final.status, final.stderr).toBe(0);
    const summary = JSON.parse(final.stdout) as { scan: { files: number } };
    expect(summary.scan.files).toBe(9);
    const target = join(root, 'out');
    const restored = pbNode(['local', '-c', config, 'restore', '--target', target, '--json']);
    expect(restored.status, restored.stderr).toBe(0);
    expectSameTree(describeTree(join(target, src)), describeTree(src));
    // gc removes what killed runs left behind; the snapshots still restore.
    const gc = pbNode(['local', '-c', config, 'gc', '--json']);
    expect(gc.status, gc.stderr).toBe(0);
    const target2 = join(root, 'out2');
    expect(pbNode(['local', '-c', config, 'restore', '--target', target2]).status).toBe(0);
    expectSameTree(describeTree(join(target2, src)), describeTree(src));
    console.log(
      `crash test: ${kills} of 3 runs killed (stripes committed after each: ${progress.join(', ')}); gc ${gc.stdout.trim()}`,
    );

    const snaps = pbNode(['local', '-c', config, 'snapshots', '--json']);
    expect((JSON.parse(snaps.stdout) as unknown[]).length).toBeGreaterThanOrEqual(1);
    const forget = pbNode(['local', '-c', config, 'forget', '--keep-last', '1', '--prune', '--json']);
    expect(forget.status, forget.stderr).toBe(0);
    expect((JSON.parse(forget.stdout) as { kept: string[] }).kept.length).toBe(1);

    // Wrong secret: a clear error, exit status 1, in text and in JSON.
    fs.writeFileSync(join(root, 'secret'), `${OTHER_SECRET_HEX}\n`);
    const wrong = pbNode(['local', '-c', config, 'restore', '--target', join(root, 'x')]);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/wrong recovery secret/);
    const wrongJson = pbNode(['local', '-c', config, 'snapshots', '--json']);
    expect(JSON.parse(wrongJson.stdout)).toMatchObject({ error: { code: 'wrong-secret' } });
  }, 90_000);
});
