/**
 * A restore a window at a time (runtime/pipeline/restore.ts, WINDOW_ENTRIES): the walk pauses
 * while the files gathered so far are restored, so a restore's memory does not grow with the
 * snapshot's file count. With a window of a few entries, a tree of many directories is restored
 * exactly: hard links whose names fall in different windows, symlinks, the overwrite policy and
 * the summary's counts as with one window; and files are written before the walk has seen every
 * directory.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backup } from '../../runtime/pipeline/backup.ts';
import { openRepository, type Repository } from '../../runtime/pipeline/repository.ts';
import { restore } from '../../runtime/pipeline/restore.ts';
import { describeTree, detBytes, expectSameTree, localConfig, tempDir } from './helpers.ts';

const DIRS = 12;
const FILES_PER_DIR = 5;

/** Where directory d goes: three chains of four, each below the one before (g0/d0/d3/d6/d9...). */
function dirOf(src: string, d: number): string {
  const chain: string[] = [];
  for (let i = d % 3; i <= d; i += 3) chain.push(`d${i}`);
  return join(src, `g${d % 3}`, ...chain);
}

/** Directories of dirOf below `dir`, counted. */
function countDirs(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .reduce((n, e) => n + (e.name.startsWith('d') ? 1 : 0) + countDirs(join(dir, e.name)), 0);
}

/**
 * DIRS directories of FILES_PER_DIR files and a symlink, in chains (a directory is walked only
 * after its parent), one file linked from three of them.
 */
function makeSource(root: string): string {
  const src = join(root, 'src');
  for (let d = 0; d < DIRS; d++) {
    const dir = dirOf(src, d);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < FILES_PER_DIR; f++)
      fs.writeFileSync(join(dir, `f${f}`), detBytes(`window ${d}/${f}`, 100 + 997 * f));
    fs.symlinkSync(`f${d % FILES_PER_DIR}`, join(dir, 'link'));
  }
  fs.writeFileSync(join(dirOf(src, 0), 'shared'), detBytes('shared', 5000));
  fs.linkSync(join(dirOf(src, 0), 'shared'), join(dirOf(src, 7), 'shared-again'));
  fs.linkSync(join(dirOf(src, 0), 'shared'), join(dirOf(src, 11), 'shared-third'));
  return src;
}

/** The source backed up into a fresh repository; `test` runs with it, then the repository closes. */
async function withBackup(
  label: string,
  test: (repo: Repository, root: string, src: string) => Promise<void>,
): Promise<void> {
  const root = tempDir(label);
  const src = makeSource(root);
  const repo = await openRepository(localConfig(root, [src]));
  try {
    await backup(repo);
    await test(repo, root, src);
  } finally {
    repo.close();
  }
}

describe('a restore a window at a time', () => {
  it('restores exactly with a window of four entries, and writes before the walk has ended', async () => {
    await withBackup('window', async (repo, root, src) => {
      const target = join(root, 'out');
      const dirsAtFirstProgress: number[] = [];
      let last = { bytesWritten: -1, bytesTotal: -1, files: -1 };
      const summary = await restore(repo, {
        target,
        windowEntries: 4,
        onProgress: (p) => {
          if (dirsAtFirstProgress.length === 0) dirsAtFirstProgress.push(countDirs(join(target, src)));
          last = { ...p };
        },
      });
      // The last report is exact: the estimate while walking (the snapshot's bytes, hard links
      // counted per name) gives way to the bytes restored.
      expect(last).toEqual({ bytesWritten: summary.bytes, bytesTotal: summary.bytes, files: summary.files });
      expectSameTree(describeTree(join(target, src)), describeTree(src));
      expect(summary.files).toBe(DIRS * FILES_PER_DIR + 3);
      expect(summary.hardlinks).toBe(2);
      expect(summary.symlinks).toBe(DIRS);
      const out = join(target, src);
      const shared = fs.statSync(join(dirOf(out, 0), 'shared'));
      expect(shared.nlink).toBe(3);
      expect(fs.statSync(join(dirOf(out, 11), 'shared-third')).ino).toBe(shared.ino);
      // The first files were written while directories below were still to be walked (a
      // directory is made in the window after its parent was walked).
      expect(dirsAtFirstProgress).toHaveLength(1);
      expect(dirsAtFirstProgress[0]).toBeLessThan(DIRS);
    });
  });

  it('keeps the overwrite policy across windows: a skipped first name skips its hard links', async () => {
    await withBackup('window-policy', async (repo, root, src) => {
      const target = join(root, 'out');
      await restore(repo, { target });
      // A different file where the linked file's first name goes, and where a late file goes.
      const out = join(target, src);
      fs.writeFileSync(join(dirOf(out, 0), 'shared'), 'something else');
      fs.writeFileSync(join(dirOf(out, 11), 'f4'), 'also else');
      fs.rmSync(join(dirOf(out, 7), 'shared-again'));
      fs.rmSync(join(dirOf(out, 11), 'shared-third'));
      const summary = await restore(repo, { target, overwrite: 'never', windowEntries: 3 });
      expect(summary.skipped.map((s) => s.path).sort()).toEqual(
        [
          join(dirOf(out, 0), 'shared'),
          join(dirOf(out, 7), 'shared-again'),
          join(dirOf(out, 11), 'f4'),
          join(dirOf(out, 11), 'shared-third'),
        ].sort(),
      );
      expect(summary.unchanged).toBe(DIRS * FILES_PER_DIR - 1 + DIRS);
      expect(fs.readFileSync(join(dirOf(out, 11), 'f4'), 'utf8')).toBe('also else');
      expect(fs.existsSync(join(dirOf(out, 7), 'shared-again'))).toBe(false);
    });
  });

  it('refuses a window that is not a positive whole number', async () => {
    await withBackup('window-bad', async (repo, root) => {
      await expect(restore(repo, { target: join(root, 'out'), windowEntries: 0 })).rejects.toThrow(
        /restore window of 0 entries/,
      );
    });
  });
});
