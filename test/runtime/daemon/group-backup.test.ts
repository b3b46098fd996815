/**
 * Backup onto the group and catastrophe recovery across real pb-node processes on 127.0.0.1:
 * four members; one backs up a small tree (a few MiB, symlinks, an empty directory, modes and
 * times) onto the other three and its head reaches every member; emptied sources are refused
 * and leave the head alone; then its data directory and its sources are deleted (the dead
 * disk) and `pb-node restore --peer` with the secret words and another member's address brings
 * back every file bit-identical.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeHead } from '../../../engine/index.ts';
import { secretToWords } from '../../../runtime/daemon/recovery/secret-words.ts';
import { BIN, cli, initNode, memberNames, Proc, waitFor } from './_cluster.ts';

interface Entry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtimeMs: number;
  size: number;
  sha256: string | null;
  link: string | null;
}

/** Every entry under `root` (root included), by relative path, lstat-based. */
function manifest(root: string): Entry[] {
  const out: Entry[] = [];
  const walk = (abs: string): void => {
    const st = fs.lstatSync(abs);
    const path = relative(root, abs) || '.';
    const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : 'file';
    out.push({
      path,
      type,
      mode: type === 'symlink' ? 0 : st.mode & 0o7777,
      mtimeMs: Math.round(st.mtimeMs),
      size: type === 'dir' ? 0 : st.size,
      sha256: type === 'file' ? createHash('sha256').update(fs.readFileSync(abs)).digest('hex') : null,
      link: type === 'symlink' ? fs.readlinkSync(abs) : null,
    });
    if (type === 'dir') for (const name of fs.readdirSync(abs).sort()) walk(join(abs, name));
  };
  walk(root);
  return out;
}

function makeTree(src: string): void {
  fs.mkdirSync(join(src, 'sub', 'deeper'), { recursive: true });
  fs.mkdirSync(join(src, 'empty'));
  fs.writeFileSync(join(src, 'big.bin'), randomBytes(3 * 1024 * 1024 + 12_345));
  // Compressible and repeated content too (dedup inside the tree).
  const text = Buffer.from('pb restores every byte\n'.repeat(40_000));
  fs.writeFileSync(join(src, 'sub', 'text.txt'), text);
  fs.writeFileSync(join(src, 'sub', 'deeper', 'copy.txt'), text);
  fs.writeFileSync(join(src, 'sub', 'secret.txt'), 'only mine\n', { mode: 0o600 });
  fs.writeFileSync(join(src, 'sub', 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  fs.writeFileSync(join(src, 'zero-length'), '');
  fs.symlinkSync('sub/text.txt', join(src, 'link-to-text'));
  fs.symlinkSync('/nowhere/at/all', join(src, 'dangling'));
  fs.chmodSync(join(src, 'sub', 'secret.txt'), 0o600);
  fs.chmodSync(join(src, 'sub', 'run.sh'), 0o755);
  fs.chmodSync(join(src, 'empty'), 0o700);
  // Fixed times (deepest first so directory times stay put).
  const base = new Date('2024-03-01T12:00:00.123Z').getTime() / 1000;
  const entries = manifest(src).reverse();
  entries.forEach((e, i) => {
    const t = base + i * 61.25;
    const abs = join(src, e.path);
    if (e.type === 'symlink') fs.lutimesSync(abs, t, t);
    else fs.utimesSync(abs, t, t);
  });
}

describe('backup onto the group and recovery from one member', () => {
  let root: string;
  const nodes: Proc[] = [];
  const ids = new Map<Proc, string>();
  let src: string;
  let src2: string;
  let src3: string;
  /** Set by the first test: the recovered owner, its restored tree, the words file. */
  let again: Proc | null = null;
  let restoredRoot = '';
  let wordsFile = '';

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-group-backup-'));
    src = join(root, 'home', 'docs');
    fs.mkdirSync(src, { recursive: true });
    // m2 backs up its own small tree by itself, on a six-second schedule.
    src2 = join(root, 'm2-home');
    fs.mkdirSync(join(src2, 'notes'), { recursive: true });
    fs.writeFileSync(join(src2, 'notes', 'todo.txt'), 'water the plants\n');
    // m3 backs up when its files change (half a second after they settle).
    src3 = join(root, 'm3-home');
    fs.mkdirSync(src3);
    const extra: Record<string, string[]> = {
      owner: ['--directories', src, '--schedule', 'off', '--watch-debounce', '0s'],
      m2: ['--directories', src2, '--schedule', '0.1', '--watch-debounce', '0s'],
      m3: ['--directories', src3, '--schedule', 'off', '--watch-debounce', '500ms'],
    };
    const names = ['owner', 'm2', 'm3', 'm4'];
    const procs = await Promise.all(
      names.map((n) => initNode(root, n, ['--pledge', '64MiB', ...(extra[n] ?? [])])),
    );
    nodes.push(...procs);
    for (const p of procs) await p.start(); // one at a time: a loaded machine starts them slowly
    for (const p of procs) ids.set(p, ((await p.call('status')) as { id: string }).id);
    const [owner, ...others] = procs as [Proc, Proc, Proc, Proc];
    expect((await cli(['create', '--dir', owner.dir, '--ratio', '1.5', '--tolerance', '1'])).code).toBe(0);
    for (const candidate of others) {
      const code = (await cli(['invite', '--dir', owner.dir])).stdout.trim();
      const joining = cli(['join', code, '--dir', candidate.dir, '--json', '--wait', '60s']);
      const name = candidate.dir.split('/').at(-1)!;
      await waitFor(`${name}'s request`, async () =>
        ((await owner.call('requests')) as { name: string }[]).some((r) => r.name === name),
      );
      expect((await cli(['approve', name, '--dir', owner.dir])).code).toBe(0);
      expect(JSON.parse((await joining).stdout)).toMatchObject({ outcome: 'approved' });
    }
    for (const p of procs)
      await waitFor(
        'four members with their pledges',
        async () =>
          ((await p.call('members')) as { pledgeBytes: number }[]).filter((m) => m.pledgeBytes > 0).length ===
          4,
      );
    expect(await memberNames(owner)).toEqual(['m2', 'm3', 'm4', 'owner']);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(nodes.map((p) => p.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('backs up onto the other members, refuses emptied sources, and restores after a dead disk', async () => {
    const [owner, m2, m3, m4] = nodes as [Proc, Proc, Proc, Proc];
    const ownerId = ids.get(owner)!;
    makeTree(src);
    const before = manifest(src);
    expect(before.filter((e) => e.type === 'symlink')).toHaveLength(2);
    expect(before.find((e) => e.path === 'empty')).toMatchObject({ type: 'dir', mode: 0o700 });
    expect(before).toHaveLength(12);

    // 1. Backup through the daemon: every shard acknowledged, the head on every member.
    const b = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(b.code, b.stderr + b.stdout).toBe(0);
    const summary = JSON.parse(b.stdout) as {
      scan: { files: number };
      stored: { stripes: number };
      holders: number;
      heads: { seq: number; storedOn: string[]; failed: unknown[] };
    };
    expect(summary.holders).toBe(3);
    expect(summary.stored.stripes).toBeGreaterThan(0);
    expect(summary.heads).toMatchObject({ seq: 1, failed: [] });
    expect(summary.heads.storedOn.sort()).toEqual([ids.get(m2), ids.get(m3), ids.get(m4)].sort());
    for (const m of [m2, m3, m4]) {
      const head = decodeHead(fs.readFileSync(join(m.dir, 'heads', `${ownerId}.head`)));
      expect(head).toMatchObject({ owner: ownerId, seq: 1 });
      // Shards landed on each holder.
      const stored = (await m.call('status')) as { store: { storedBytes: number } };
      expect(stored.store.storedBytes).toBeGreaterThan(0);
    }

    // A second snapshot after a change: the restore must bring back the newest one.
    fs.writeFileSync(join(src, 'sub', 'secret.txt'), 'only mine, edited\n');
    fs.utimesSync(join(src, 'sub', 'secret.txt'), 1_700_000_000.5, 1_700_000_000.5);
    fs.utimesSync(join(src, 'sub'), 1_700_000_100, 1_700_000_100);
    const before2 = manifest(src);
    const b2 = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(b2.code, b2.stderr + b2.stdout).toBe(0);
    expect(JSON.parse(b2.stdout)).toMatchObject({ heads: { seq: 2, failed: [] } });

    // 2. The emptied sources are refused: an alert-worthy status, the head untouched.
    const aside = `${src}.aside`;
    fs.renameSync(src, aside);
    fs.mkdirSync(src);
    const refused = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: 'empty-sources' } });
    expect((await owner.call('status')) as { backup: unknown }).toMatchObject({
      backup: { state: 'refused', restoreHint: expect.stringContaining('pb-node restore --peer') },
    });
    expect(decodeHead(fs.readFileSync(join(m2.dir, 'heads', `${ownerId}.head`))).seq).toBe(2);
    fs.rmSync(src, { recursive: true });
    fs.renameSync(aside, src);

    // 3. The dead disk: the owner's data directory and its sources are gone.
    const words = secretToWords(
      Buffer.from(fs.readFileSync(join(owner.dir, 'secret'), 'utf8').trim(), 'hex'),
    );
    const secretFile = join(root, 'words.txt');
    fs.writeFileSync(secretFile, `${words}\n`, { mode: 0o600 });
    await owner.stop();
    fs.rmSync(owner.dir, { recursive: true, force: true });
    fs.rmSync(src, { recursive: true, force: true });

    // 4. Recovery with the words and one other member's address.
    const address = await directAddress(m3);
    expect(address).toMatch(/\/p2p\//);
    const target = join(root, 'restored');
    const r = await cli([
      'restore',
      '--peer',
      address,
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
    const restored = JSON.parse(r.stdout) as { owner: string; headSeq: number; files: number };
    expect(restored).toMatchObject({ owner: ownerId, headSeq: 2, files: summary.scan.files });
    expect(r.stderr).toMatch(/index rebuilt/);
    // The data shards the rebuild downloaded are read from the disk, and removed afterwards.
    expect(r.stderr).toMatch(/the restore reads the \d+ shards \(.*\) the rebuild downloaded from this disk/);
    expect(r.stderr).toMatch(/restore 100%/);
    expect(manifest(join(target, src))).toEqual(before2);
    expect(fs.readdirSync(join(root, 'owner-again'), { recursive: true })).not.toContainEqual(
      expect.stringMatching(/recovery-cache/),
    );
    expect(before2).not.toEqual(before);

    // 5. The recovered data directory is this member again: it starts, rejoins with its old
    // identity and goes on backing up, continuing the head sequence (3 after 2).
    // (No file-change backups for it in this test: the head seqs below are counted.)
    const againConfig = join(root, 'owner-again', 'config');
    fs.writeFileSync(
      againConfig,
      fs.readFileSync(againConfig, 'utf8').replace(/^watchDebounce = .*$/m, 'watchDebounce = "0s"'),
    );
    again = new Proc(join(root, 'owner-again'));
    nodes.push(again);
    restoredRoot = join(target, src);
    wordsFile = secretFile;
    // What a recovery that crashed would have left: the next backup removes it.
    const leftCache = join(root, 'owner-again', 'backup', 'recovery-cache', 'shards');
    fs.mkdirSync(leftCache, { recursive: true });
    fs.writeFileSync(join(leftCache, 'left'), 'x');
    await again.start();
    expect(await again!.call('status')).toMatchObject({ id: ownerId, member: true, members: 4 });
    const b3 = await cli(['backup', '--dir', again!.dir, '--json']);
    expect(b3.code, b3.stderr + b3.stdout).toBe(0);
    expect(fs.existsSync(join(leftCache, '..'))).toBe(false);
    expect(JSON.parse(b3.stdout)).toMatchObject({
      heads: { seq: 3, failed: [] },
      scan: { files: summary.scan.files },
    });
    expect(decodeHead(fs.readFileSync(join(m4.dir, 'heads', `${ownerId}.head`))).seq).toBe(3);
  }, 90_000);

  it('a member with a schedule backs up by itself and its head reaches the others', async () => {
    const [, m2, m3, m4] = nodes as [Proc, Proc, Proc, Proc];
    const m2Id = ids.get(m2)!;
    const status = await waitFor(
      "m2's scheduled backup",
      async () => {
        const s = (await m2.call('status')) as {
          backup: { state: string; last: { snapshotId: string } | null };
        };
        return s.backup.last !== null ? s : null;
      },
      30_000,
    );
    expect(status.backup.last?.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    for (const m of [m3, m4])
      await waitFor(`m2's head on ${m.dir}`, async () => fs.existsSync(join(m.dir, 'heads', `${m2Id}.head`)));
  }, 60_000);

  it('a member backs up by itself when its files change (debounced)', async () => {
    const [, , m3, m4] = nodes as [Proc, Proc, Proc, Proc];
    const m3Id = ids.get(m3)!;
    const headSeq = (): number => {
      const file = join(m4.dir, 'heads', `${m3Id}.head`);
      return fs.existsSync(file) ? decodeHead(fs.readFileSync(file)).seq : 0;
    };
    expect(headSeq()).toBe(0);
    for (let i = 0; i < 5; i++) fs.writeFileSync(join(src3, `burst-${i}.txt`), `change ${i}\n`);
    await waitFor('a backup after the first burst of changes', async () => headSeq() === 1, 30_000);
    fs.writeFileSync(join(src3, 'later.txt'), 'one more\n');
    await waitFor('a backup after the next change', async () => headSeq() === 2, 30_000);
  }, 60_000);

  it('kill -9 during a backup: after the restart the backup resumes, completes and restores exactly', async () => {
    expect(again).not.toBeNull();
    const owner = again!;
    const [, , m3, m4] = nodes as [Proc, Proc, Proc, Proc];
    const ownerId = ((await owner.call('status')) as { id: string }).id;
    fs.writeFileSync(join(restoredRoot, 'new-big.bin'), randomBytes(20 * 1024 * 1024));
    const before = manifest(restoredRoot);
    const run = spawn(process.execPath, [BIN, 'backup', '--dir', owner.dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const firstStripe = new Promise<void>((resolve) =>
      run.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (/stripe \d+ stored/.test(err)) resolve();
      }),
    );
    await firstStripe;
    owner.child!.kill('SIGKILL');
    await new Promise((r) => run.once('exit', r));
    expect(fs.existsSync(join(owner.dir, 'backup', 'in-progress'))).toBe(true);
    fs.rmSync(join(owner.dir, 'daemon.pid'), { force: true });
    owner.child = null;
    await owner.start();
    await waitFor(
      'the resumed backup',
      async () => decodeHead(fs.readFileSync(join(m4.dir, 'heads', `${ownerId}.head`))).seq === 4,
      60_000,
    );
    expect(owner.stderr).toMatch(/resuming an interrupted backup/);
    // The marker goes when the run ends, after every member answered the head (m4 may store it
    // before the others answer): wait for it rather than race it.
    await waitFor(
      'the resumed run to end',
      async () => !fs.existsSync(join(owner.dir, 'backup', 'in-progress')),
      30_000,
    );
    // A second recovery from the newest head is exact (a fresh directory, another member).
    const address = await directAddress(m3);
    const target2 = join(root, 'restored-2');
    const r = await cli([
      'restore',
      '--peer',
      address,
      '--secret-file',
      wordsFile,
      '--target',
      target2,
      '--dir',
      join(root, 'owner-third'),
      '--test-network',
      '--json',
    ]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ headSeq: 4 });
    expect(manifest(join(target2, restoredRoot))).toEqual(before);
  }, 120_000);

  it('forget --prune frees the forgotten stripes on the holders; a policy keeping nothing is refused', async () => {
    const owner = again!;
    const holders = nodes.slice(1, 4);
    const stored = async (): Promise<number> => {
      let total = 0;
      for (const h of holders)
        total += ((await h.call('status')) as { store: { storedBytes: number } }).store.storedBytes;
      return total;
    };
    fs.rmSync(join(restoredRoot, 'new-big.bin'));
    const b = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(b.code, b.stderr + b.stdout).toBe(0);
    const storedBefore = await stored();
    const f = await cli(['forget', '--dir', owner.dir, '--keep-last', '1', '--prune', '--json']);
    expect(f.code, f.stderr + f.stdout).toBe(0);
    const r = JSON.parse(f.stdout) as { kept: string[]; forgotten: string[]; gc: { stripesDeleted: number } };
    expect(r.kept).toHaveLength(1);
    expect(r.forgotten.length).toBeGreaterThanOrEqual(3);
    expect(r.gc.stripesDeleted).toBeGreaterThan(0);
    // new-big.bin (20 MiB, only in forgotten snapshots) is gone from the holders.
    expect(await stored()).toBeLessThan(storedBefore - 20 * 1024 * 1024);
    // Keeping nothing is a bad value (the newest snapshot is always kept): a usage error.
    const keepNone = await cli(['forget', '--dir', owner.dir, '--keep-last', '0', '--json']);
    expect(keepNone.code).toBe(2);
    expect(JSON.parse(keepNone.stdout)).toMatchObject({ error: { code: 'usage' } });
  }, 60_000);

  it('refuses a wrong secret and a peer address without /p2p/', async () => {
    const m2 = nodes[1]!;
    const address = await directAddress(m2);
    const wrong = join(root, 'wrong.txt');
    fs.writeFileSync(wrong, randomBytes(32).toString('hex'), { mode: 0o600 }); // private, as pb insists
    const r = await cli(['restore', '--peer', address, '--secret-file', wrong, '--target', join(root, 'x')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/pb-node restore: .*refused this identity.*check the words/);
    // An address without the member's id is a bad value: a usage error (exit 2).
    const bare = address.replace(/\/p2p\/.*$/, '');
    const r2 = await cli(['restore', '--peer', bare, '--secret-file', wrong, '--target', join(root, 'x')]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/ending in \/p2p\//);
  }, 60_000);

  it('a holder offline during the index rebuild: the restore goes on with the others', async () => {
    const [, , m3, m4] = nodes as [Proc, Proc, Proc, Proc];
    await m4.stop();
    const address = await directAddress(m3);
    const target = join(root, 'restored-3');
    const r = await cli([
      'restore',
      '--peer',
      address,
      '--secret-file',
      wordsFile,
      '--target',
      target,
      '--dir',
      join(root, 'owner-fourth'),
      '--test-network',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/m4 .*is unreachable.*going on without it/);
    expect(manifest(join(target, restoredRoot))).toEqual(manifest(restoredRoot));
  }, 60_000);
});

/** A member's direct TCP address (not a relayed one), as `pb-node restore --peer` takes it. */
async function directAddress(member: Proc): Promise<string> {
  const status = (await member.call('status')) as { addresses: string[] };
  const address = status.addresses.find((a) => a.includes('/tcp/') && !a.includes('p2p-circuit'));
  if (address === undefined) throw new Error(`no direct TCP address among ${status.addresses.join(', ')}`);
  return address;
}
