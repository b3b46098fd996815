/**
 * Browsing and restoring the owner's snapshots on a real group of four pb-node processes:
 * two backups with a file edited (and one added, one deleted) between them; `snapshots`, `ls`,
 * `diff` (shows the edit), a single-file restore of the OLDER version under --target (the old
 * bytes, nothing else), an in-place restore that refuses without --overwrite and skips the edited
 * file under `never` (exit 3) leaving it intact, `find`, `check --read-data`. The default data
 * directory ($PB_DIR) serves `pb-node snapshots` with no --dir. With the daemon stopped the
 * verbs open the group in-process and answer the same. And the command line's usage
 * errors: exit 2, JSON under --json, the verb typed named.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, type Proc } from './_cluster.ts';
import { formGroup } from './_group.ts';

const TIMEOUT = 240_000;
const execFileAsync = promisify(execFile);

interface Snap {
  id: string;
  time: string;
  files: number;
  bytes: number;
}

const json = <T>(r: { stdout: string; stderr: string; code: number }): T => {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout} ${r.stderr}`);
  }
};

describe('browse and restore on the group', () => {
  let root: string;
  let src: string;
  let owner: Proc;
  const procs: Proc[] = [];

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-browse-'));
    src = join(root, 'home');
    fs.mkdirSync(join(src, 'sub'), { recursive: true });
    const group = await formGroup(root, ['owner', 'm2', 'm3', 'm4'], {
      owner: ['--directories', src, '--schedule', 'off', '--watch-debounce', '0s'],
    });
    procs.push(...group.procs);
    owner = group.procs[0]!;
  }, TIMEOUT);

  afterAll(async () => {
    for (const p of procs) await p.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it(
    'snapshots, ls, diff, an older file restored alone, in place refused or skipped, find, check',
    async () => {
      const notes = join(src, 'notes.txt');
      fs.writeFileSync(notes, 'version one\n');
      fs.writeFileSync(join(src, 'sub', 'keep.txt'), 'unchanged\n');
      fs.writeFileSync(join(src, 'sub', 'gone.txt'), 'deleted later\n');
      fs.utimesSync(notes, 1_700_000_000, 1_700_000_000);
      const first = await cli(['backup', '--dir', owner.dir, '--json']);
      expect(first.code, first.stdout + first.stderr).toBe(0);
      fs.writeFileSync(notes, 'version two, edited\n');
      fs.utimesSync(notes, 1_700_000_100, 1_700_000_100);
      fs.writeFileSync(join(src, 'added.txt'), 'new\n');
      fs.rmSync(join(src, 'sub', 'gone.txt'));
      const second = await cli(['backup', '--dir', owner.dir, '--json']);
      expect(second.code, second.stdout + second.stderr).toBe(0);

      const snaps = json<Snap[]>(await cli(['snapshots', '--dir', owner.dir, '--json']));
      expect(snaps).toHaveLength(2);
      const [a, b] = [snaps[0]!.id, snaps[1]!.id];
      expect(snaps[0]).toMatchObject({ files: 3 });
      const text = await cli(['snapshots', '--dir', owner.dir]);
      expect(text.stdout).toContain(b.slice(0, 16));

      // The default data directory: $PB_DIR, no --dir.
      const viaEnv = await execFileAsync(process.execPath, [BIN, 'snapshots', '--json'], {
        env: { ...process.env, PB_DIR: owner.dir },
      });
      expect((JSON.parse(viaEnv.stdout) as Snap[]).map((s) => s.id)).toEqual([a, b]);

      const ls = json<{ entries: { path: string; type: string; size: number }[] }>(
        await cli(['ls', a.slice(0, 8), src, '--dir', owner.dir, '--json']),
      );
      expect(ls.entries.map((e) => e.path).sort()).toEqual([notes, join(src, 'sub')]);
      expect(ls.entries.find((e) => e.path === notes)).toMatchObject({ type: 'file', size: 12 });
      const lsSub = await cli(['ls', 'latest', join(src, 'sub'), '--dir', owner.dir]);
      expect(lsSub.stdout).toContain(join(src, 'sub', 'keep.txt'));
      expect(lsSub.stdout).not.toContain('gone.txt');

      const diff = json<{
        added: { path: string }[];
        removed: { path: string }[];
        changed: { path: string; what: string }[];
      }>(await cli(['diff', a.slice(0, 10), 'latest', '--dir', owner.dir, '--json']));
      expect(diff.changed).toEqual([{ path: notes, type: 'file', what: 'content' }]);
      expect(diff.added.map((x) => x.path)).toEqual([join(src, 'added.txt')]);
      expect(diff.removed.map((x) => x.path)).toEqual([join(src, 'sub', 'gone.txt')]);
      expect((await cli(['diff', a, b, '--dir', owner.dir])).stdout).toMatch(/^M .*notes\.txt$/m);

      // The older version of one file, alone, under --target.
      const target = join(root, 'restored');
      const one = await cli([
        'restore',
        a.slice(0, 12),
        '--path',
        notes,
        '--target',
        target,
        '--dir',
        owner.dir,
        '--json',
      ]);
      expect(one.code, one.stderr).toBe(0);
      expect(json<{ files: number; skipped: unknown[] }>(one)).toMatchObject({ files: 1, skipped: [] });
      expect(fs.readFileSync(join(target, notes), 'utf8')).toBe('version one\n');
      expect(fs.existsSync(join(target, src, 'sub', 'keep.txt'))).toBe(false);

      // In place without --overwrite: refused (usage), the edited file untouched.
      const refused = await cli(['restore', a, '--path', notes, '--dir', owner.dir]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/pb-node restore: .*--overwrite/);
      expect(fs.readFileSync(notes, 'utf8')).toBe('version two, edited\n');
      // In place with `never`: the differing file is skipped and named; exit 3.
      const never = await cli([
        'restore',
        a,
        '--path',
        notes,
        '--overwrite',
        'never',
        '--dir',
        owner.dir,
        '--json',
      ]);
      expect(never.code, never.stderr).toBe(3);
      expect(json<{ skipped: { path: string }[] }>(never).skipped.map((s) => s.path)).toEqual([notes]);
      expect(fs.readFileSync(notes, 'utf8')).toBe('version two, edited\n');
      // if-newer: the copy on disk is newer, so it stays too; the snapshot's unchanged file is left alone.
      const ifNewer = await cli(['restore', a, '--overwrite', 'if-newer', '--dir', owner.dir, '--json']);
      expect(ifNewer.code, ifNewer.stderr).toBe(3);
      expect(json<{ unchanged: number }>(ifNewer).unchanged).toBe(1);
      expect(fs.readFileSync(notes, 'utf8')).toBe('version two, edited\n');
      expect(fs.readFileSync(join(src, 'sub', 'gone.txt'), 'utf8')).toBe('deleted later\n');

      const find = json<{ matches: { path: string; snapshots: string[] }[] }>(
        await cli(['find', '*.txt', '--dir', owner.dir, '--json']),
      );
      const where = new Map(find.matches.map((m) => [m.path, m.snapshots]));
      expect(where.get(notes)).toEqual([a, b]);
      expect(where.get(join(src, 'sub', 'gone.txt'))).toEqual([a]);
      expect(where.get(join(src, 'added.txt'))).toEqual([b]);

      const check = await cli(['check', '--read-data', '--dir', owner.dir, '--json']);
      expect(check.code, check.stderr).toBe(0);
      const summary = json<{
        ok: boolean;
        snapshots: number;
        stripes: number;
        stripesRead: number;
        shardsRead: number;
      }>(check);
      expect(summary).toMatchObject({ ok: true, snapshots: 2 });
      expect(summary.stripesRead).toBe(summary.stripes);
      expect(summary.shardsRead).toBeGreaterThanOrEqual(3 * summary.stripes);
    },
    TIMEOUT,
  );

  it(
    'with the daemon stopped, the verbs open the group themselves (same answers, an old file restored)',
    async () => {
      const before = json<Snap[]>(await cli(['snapshots', '--dir', owner.dir, '--json']));
      await owner.stop();
      const after = await cli(['snapshots', '--dir', owner.dir, '--json']);
      expect(after.code, after.stdout + after.stderr).toBe(0);
      expect(json<Snap[]>(after)).toEqual(before);
      const notes = join(src, 'notes.txt');
      const target = join(root, 'restored-offline');
      const r = await cli([
        'restore',
        before[0]!.id,
        '--path',
        notes,
        '--target',
        target,
        '--dir',
        owner.dir,
      ]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(fs.readFileSync(join(target, notes), 'utf8')).toBe('version one\n');
      // The lock is released: the daemon starts again.
      await owner.start();
      expect(json<Snap[]>(await cli(['snapshots', '--dir', owner.dir, '--json']))).toEqual(before);
    },
    TIMEOUT,
  );
});

describe('usage errors', () => {
  it('exit 2, one JSON error under --json, and the verb typed in the message', async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'pb-usage-'));
    try {
      const unknown = await cli(['snapshots', '--bogus', '--dir', dir, '--json']);
      expect(unknown.code).toBe(2);
      expect(JSON.parse(unknown.stdout)).toEqual({
        error: { code: 'usage', message: "unknown option '--bogus'" },
      });
      expect(unknown.stderr).toBe('');
      const missing = await cli(['diff', 'latest', '--dir', dir]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/missing required argument 'to'/);
      const bad = await cli(['restore', '--overwrite', 'sometimes', '--target', dir, '--dir', dir, '--json']);
      expect(bad.code).toBe(2);
      expect(json<{ error: { code: string } }>(bad).error.code).toBe('usage');
      // No daemon: the message names the verb and the data directory, and how to start it.
      const down = await cli(['status', '--dir', dir]);
      expect(down.code).toBe(1);
      expect(down.stderr).toContain(`pb-node status: the pb-node daemon of ${dir} is not running`);
      expect(down.stderr).toContain(`pb-node start --dir ${dir}`);
      expect((await cli(['--version'])).code).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
