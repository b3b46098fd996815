/**
 * A real `pb-node backup` process is SIGKILLed at random points; the next backup completes and the
 * restore is exact. Then the CLI's other commands run on the same data (JSON output, wrong secret).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import {
  describeTree,
  detBytes,
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

function killAfter(args: string[], delayMs: number): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
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
    for (let i = 0; i < 12; i++)
      fs.writeFileSync(join(src, i % 2 ? 'd' : '', `f${i}.bin`), detBytes(`crash${i}`, 3 * MiB + i * 1000));
    fs.writeFileSync(join(src, 'd/copy.bin'), detBytes('crash3', 3 * MiB + 3000));
    const config = writeConfigFile(root, localConfig(root, [src], { workers: 2, durable: true }));
    expect(pbNode(['-c', config, 'init', '--json']).status).toBe(0);
    let kills = 0;
    for (let round = 0; round < 4; round++) {
      const delayMs = 400 + Math.floor(random() * 2200);
      const r = await killAfter(['-c', config, 'backup', '--json'], delayMs);
      if (r.killed) kills++;
      else expect(r.code).toBe(0);
    }
    const final = pbNode(['-c', config, 'backup', '--json']);
    expect(final.status, final.stderr).toBe(0);
    const summary = JSON.parse(final.stdout) as { scan: { files: number } };
    expect(summary.scan.files).toBe(13);
    const target = join(root, 'out');
    const restored = pbNode(['-c', config, 'restore', '--target', target, '--json']);
    expect(restored.status, restored.stderr).toBe(0);
    expect(describeTree(join(target, src))).toEqual(describeTree(src));
    // gc removes what killed runs left behind; the snapshots still restore.
    const gc = pbNode(['-c', config, 'gc', '--json']);
    expect(gc.status, gc.stderr).toBe(0);
    const target2 = join(root, 'out2');
    expect(pbNode(['-c', config, 'restore', '--target', target2]).status).toBe(0);
    expect(describeTree(join(target2, src))).toEqual(describeTree(src));
    console.log(`crash test: ${kills} of 4 runs killed; gc ${gc.stdout.trim()}`);

    const snaps = pbNode(['-c', config, 'snapshots', '--json']);
    expect((JSON.parse(snaps.stdout) as unknown[]).length).toBeGreaterThanOrEqual(1);
    const forget = pbNode(['-c', config, 'forget', '--keep-last', '1', '--prune', '--json']);
    expect(forget.status, forget.stderr).toBe(0);
    expect((JSON.parse(forget.stdout) as { kept: string[] }).kept.length).toBe(1);

    // Wrong secret: a clear error, exit status 1, in text and in JSON.
    fs.writeFileSync(join(root, 'secret'), `${OTHER_SECRET_HEX}\n`);
    const wrong = pbNode(['-c', config, 'restore', '--target', join(root, 'x')]);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/wrong recovery secret/);
    const wrongJson = pbNode(['-c', config, 'snapshots', '--json']);
    expect(JSON.parse(wrongJson.stdout)).toMatchObject({ error: { code: 'wrong-secret' } });
  }, 90_000);
});
