/**
 * Recovery while a holder is offline (issue 7): five members; one backs up a tree (files,
 * modes, times, symlinks, an empty directory) onto the four others; one holder stops; the
 * owner's disk dies (its data directory and its sources are deleted); `pb-node restore --peer`
 * with the secret words and another member's address rebuilds the index from the shards of the
 * three holders still up (every stripe has k of them) and brings every file back bit-identical.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretToWords } from '../../../runtime/daemon/recovery/secret-words.ts';
import { cli, type Proc } from './_cluster.ts';
import { directAddress, fixTimes, formGroup, manifest, shardFiles } from './_group.ts';

function makeTree(src: string): void {
  fs.mkdirSync(join(src, 'sub', 'deeper'), { recursive: true });
  fs.mkdirSync(join(src, 'empty'));
  fs.writeFileSync(join(src, 'big.bin'), randomBytes(20 * 1024 * 1024 + 4321));
  const text = Buffer.from('a holder may be away\n'.repeat(30_000));
  fs.writeFileSync(join(src, 'sub', 'text.txt'), text);
  fs.writeFileSync(join(src, 'sub', 'deeper', 'copy.txt'), text);
  for (let i = 0; i < 40; i++) fs.writeFileSync(join(src, 'sub', `small-${i}.txt`), `file ${i}\n`);
  fs.writeFileSync(join(src, 'sub', 'secret.txt'), 'only mine\n', { mode: 0o600 });
  fs.writeFileSync(join(src, 'sub', 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  fs.chmodSync(join(src, 'sub', 'secret.txt'), 0o600);
  fs.chmodSync(join(src, 'sub', 'run.sh'), 0o755);
  fs.chmodSync(join(src, 'empty'), 0o700);
  fs.symlinkSync('sub/text.txt', join(src, 'link-to-text'));
  fs.symlinkSync('/nowhere/at/all', join(src, 'dangling'));
  fixTimes(src);
}

describe('recovery with a holder offline', () => {
  let root: string;
  let procs: Proc[] = [];
  let ids = new Map<Proc, string>();
  let src: string;

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-recovery-offline-'));
    src = join(root, 'home', 'docs');
    fs.mkdirSync(src, { recursive: true });
    const names = ['owner', 'm2', 'm3', 'm4', 'm5'];
    ({ procs, ids } = await formGroup(root, names, {
      owner: ['--directories', src, '--schedule', 'off', '--watch-debounce', '0s'],
    }));
  }, 240_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('restores every file bit-identical from the shards of the holders still up', async () => {
    const [owner, m2, m3, m4, m5] = procs as [Proc, Proc, Proc, Proc, Proc];
    makeTree(src);
    const before = manifest(src);
    const b = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(b.code, b.stderr + b.stdout).toBe(0);
    const summary = JSON.parse(b.stdout) as {
      holders: number;
      stored: { stripes: number };
      scan: { files: number };
    };
    expect(summary.holders).toBe(4);
    expect(summary.stored.stripes).toBeGreaterThan(1);

    // The holder with the most shards goes offline.
    const holders = [m2, m3, m4, m5];
    const down = holders.reduce((a, x) => (shardFiles(x).length > shardFiles(a).length ? x : a));
    expect(shardFiles(down).length).toBeGreaterThan(0);
    await down.stop();

    // The dead disk.
    const words = secretToWords(
      Buffer.from(fs.readFileSync(join(owner.dir, 'secret'), 'utf8').trim(), 'hex'),
    );
    const secretFile = join(root, 'words.txt');
    fs.writeFileSync(secretFile, `${words}\n`, { mode: 0o600 });
    await owner.stop();
    fs.rmSync(owner.dir, { recursive: true, force: true });
    fs.rmSync(join(root, 'home'), { recursive: true, force: true });

    const peer = holders.find((h) => h !== down)!;
    const target = join(root, 'restored');
    const r = await cli([
      'restore',
      '--peer',
      await directAddress(peer),
      '--secret-file',
      secretFile,
      '--target',
      target,
      '--dir',
      join(root, 'owner-again'),
      '--test-network',
      '--json',
    ]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const restored = JSON.parse(r.stdout) as {
      owner: string;
      files: number;
      rebuilt: { unreachableMembers: string[]; incompleteStripes: number; unreadableStripes: string[] };
    };
    expect(restored.owner).toBe(ids.get(owner));
    expect(restored.files).toBe(summary.scan.files);
    expect(restored.rebuilt.unreachableMembers).toHaveLength(1);
    expect(restored.rebuilt.unreachableMembers[0]).toContain(ids.get(down)!);
    expect(restored.rebuilt.incompleteStripes).toBeGreaterThan(0);
    expect(restored.rebuilt.unreadableStripes).toEqual([]);
    expect(r.stderr).toMatch(/is unreachable .*going on without it/);
    expect(manifest(join(target, src))).toEqual(before);
  }, 240_000);
});
