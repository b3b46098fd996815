/**
 * A restore never overwrites silently (runtime/pipeline/restore-overwrite.ts), on real files:
 * the same file is left alone (and counted), a different one is skipped under `never`, replaced
 * under `if-newer` only when the snapshot's copy is newer, always under `always`; symlinks too;
 * a directory in the way is skipped. Include paths and a filter pick what is restored.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileGlob } from '../../engine/path-glob.ts';
import { backup } from '../../runtime/pipeline/backup.ts';
import { openRepository } from '../../runtime/pipeline/repository.ts';
import { restore } from '../../runtime/pipeline/restore.ts';
import { localConfig, tempDir } from './helpers.ts';

describe('restore overwrite policy', () => {
  it('never, if-newer, always; unchanged files and symlinks left alone; paths and globs pick', async () => {
    const root = tempDir('overwrite');
    const src = join(root, 'src');
    fs.mkdirSync(join(src, 'd'), { recursive: true });
    fs.writeFileSync(join(src, 'a.txt'), 'snapshot a\n');
    fs.writeFileSync(join(src, 'b.txt'), 'snapshot b\n');
    fs.writeFileSync(join(src, 'c.log'), 'snapshot c\n');
    fs.writeFileSync(join(src, 'd', 'e.txt'), 'snapshot e\n');
    fs.symlinkSync('a.txt', join(src, 'link'));
    for (const f of ['a.txt', 'b.txt', 'c.log', 'd/e.txt'])
      fs.utimesSync(join(src, f), 1_700_000_000, 1_700_000_000);
    const repo = await openRepository(localConfig(root, [src], { workers: 1 }));
    try {
      await backup(repo);
      const target = join(root, 't');
      const first = await restore(repo, { target, overwrite: 'never' });
      expect(first).toMatchObject({ files: 4, symlinks: 1, unchanged: 0, skipped: [] });
      const at = (p: string): string => join(target, src, p);

      // Again: everything is already there.
      const again = await restore(repo, { target, overwrite: 'never' });
      expect(again).toMatchObject({ files: 0, symlinks: 0, unchanged: 5, skipped: [] });

      // Edited on disk: a.txt older than the snapshot, b.txt newer; the link points elsewhere;
      // a directory stands where c.log was.
      fs.writeFileSync(at('a.txt'), 'edited, older\n');
      fs.utimesSync(at('a.txt'), 1_600_000_000, 1_600_000_000);
      fs.writeFileSync(at('b.txt'), 'edited, newer\n');
      fs.rmSync(at('link'));
      fs.symlinkSync('b.txt', at('link'));
      fs.rmSync(at('c.log'));
      fs.mkdirSync(at('c.log'));
      const never = await restore(repo, { target, overwrite: 'never' });
      expect(never.skipped.map((s) => s.path).sort()).toEqual(
        [at('a.txt'), at('b.txt'), at('c.log'), at('link')].sort(),
      );
      expect(never.skipped.find((s) => s.path === at('c.log'))?.reason).toMatch(/directory is in the way/);
      expect(never.unchanged).toBe(1);
      expect(fs.readFileSync(at('a.txt'), 'utf8')).toBe('edited, older\n');

      const ifNewer = await restore(repo, { target, overwrite: 'if-newer' });
      expect(fs.readFileSync(at('a.txt'), 'utf8')).toBe('snapshot a\n');
      expect(fs.readFileSync(at('b.txt'), 'utf8')).toBe('edited, newer\n');
      expect(ifNewer.skipped.map((s) => s.path)).toContain(at('b.txt'));
      expect(ifNewer.skipped.map((s) => s.path)).not.toContain(at('a.txt'));

      fs.rmdirSync(at('c.log'));
      const always = await restore(repo, { target, overwrite: 'always' });
      expect(always.skipped).toEqual([]);
      expect(fs.readFileSync(at('b.txt'), 'utf8')).toBe('snapshot b\n');
      expect(fs.readlinkSync(at('link'))).toBe('a.txt');

      // Two paths and a glob filter, into a fresh target.
      const picked = join(root, 'picked');
      const txt = compileGlob('*.txt');
      const some = await restore(repo, {
        target: picked,
        include: [join(src, 'd'), join(src, 'c.log'), join(src, 'a.txt')],
        filter: (p) => txt(p),
        overwrite: 'never',
      });
      expect(some.files).toBe(2);
      expect(fs.existsSync(join(picked, src, 'a.txt'))).toBe(true);
      expect(fs.existsSync(join(picked, src, 'd', 'e.txt'))).toBe(true);
      expect(fs.existsSync(join(picked, src, 'c.log'))).toBe(false);
      expect(fs.existsSync(join(picked, src, 'b.txt'))).toBe(false);
    } finally {
      repo.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);

  it('a hard link follows the policy: its names are skipped with its first, never linked to a different file', async () => {
    const root = tempDir('overwrite-links');
    const src = join(root, 'src');
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(join(src, 'one'), 'linked content\n');
    fs.linkSync(join(src, 'one'), join(src, 'two'));
    const repo = await openRepository(localConfig(root, [src], { workers: 1 }));
    try {
      await backup(repo);
      const target = join(root, 't');
      const at = (p: string): string => join(target, src, p);
      const first = await restore(repo, { target, overwrite: 'never' });
      expect(first).toMatchObject({ files: 2, hardlinks: 1, skipped: [] });
      expect(fs.statSync(at('one')).ino).toBe(fs.statSync(at('two')).ino);
      // The first name edited on disk, the second name gone: under `never` both stay as they are.
      fs.rmSync(at('two'));
      fs.rmSync(at('one'));
      fs.writeFileSync(at('one'), 'edited on disk\n');
      const never = await restore(repo, { target, overwrite: 'never' });
      expect(never.skipped.map((x) => x.path).sort()).toEqual([at('one'), at('two')].sort());
      expect(never.skipped.find((x) => x.path === at('two'))?.reason).toMatch(/hard link to .*skipped/);
      expect(fs.existsSync(at('two'))).toBe(false);
      expect(fs.readFileSync(at('one'), 'utf8')).toBe('edited on disk\n');
      // Under `always` both names come back as one file.
      await restore(repo, { target, overwrite: 'always' });
      expect(fs.readFileSync(at('two'), 'utf8')).toBe('linked content\n');
      expect(fs.statSync(at('one')).ino).toBe(fs.statSync(at('two')).ino);
    } finally {
      repo.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});
