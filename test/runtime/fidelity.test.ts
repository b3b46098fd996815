/**
 * Restore fidelity with real files (docs/formats.md section 4): hard links come back as hard
 * links, sparse files stay sparse (holes are not filled on disk: compared by allocated blocks),
 * FIFOs and sockets are skipped with a warning in the backup summary, and directory modes (also
 * read-only ones with contents) are kept.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backup } from '../../runtime/pipeline/backup.ts';
import { openRepository } from '../../runtime/pipeline/repository.ts';
import { restore } from '../../runtime/pipeline/restore.ts';
import { dataRuns, HOLE_BLOCK_BYTES } from '../../runtime/pipeline/restore-land.ts';
import { describeTree, detBytes, expectSameTree, localConfig, tempDir } from './helpers.ts';

const MiB = 1024 * 1024;

/** A file of data, a hole, data with a zero run inside, a hole, and data at the end. */
function writeSparse(path: string): void {
  const fd = fs.openSync(path, 'w');
  try {
    fs.writeSync(fd, detBytes('s1', 300_000), 0, 300_000, 0);
    const middle = Buffer.concat([detBytes('s2', 200_000), Buffer.alloc(2 * MiB), detBytes('s3', 200_000)]);
    fs.writeSync(fd, middle, 0, middle.length, 20 * MiB + 123);
    fs.writeSync(fd, detBytes('s4', 5000), 0, 5000, 60 * MiB);
  } finally {
    fs.closeSync(fd);
  }
}

describe('restore fidelity', () => {
  it('zero blocks are not written: runs of non-zero blocks aligned to file offsets', () => {
    const b = Buffer.alloc(5 * HOLE_BLOCK_BYTES);
    b[10] = 1; // block 0 (file offset 100 + 10)
    b[3 * HOLE_BLOCK_BYTES] = 1; // file offset 100 + 12288 is in block 3
    expect(dataRuns(b, 100)).toEqual([
      [0, HOLE_BLOCK_BYTES - 100],
      [3 * HOLE_BLOCK_BYTES - 100, 4 * HOLE_BLOCK_BYTES - 100],
    ]);
    expect(dataRuns(Buffer.alloc(3 * HOLE_BLOCK_BYTES), 0)).toEqual([]);
    expect(dataRuns(Buffer.alloc(10, 1), 5)).toEqual([[0, 10]]);
  });

  it('hard links, sparse files, special files and directory modes round trip', async () => {
    const root = tempDir('fidelity');
    const src = join(root, 'src');
    const tree = join(src, 'tree');
    fs.mkdirSync(join(tree, 'a'), { recursive: true });
    fs.mkdirSync(join(tree, 'b'));
    fs.writeFileSync(join(tree, 'a/h1'), detBytes('h', 100_000));
    fs.linkSync(join(tree, 'a/h1'), join(tree, 'a/h2'));
    fs.linkSync(join(tree, 'a/h1'), join(tree, 'b/h3'));
    fs.writeFileSync(join(tree, 'b/single'), 'one link');
    writeSparse(join(tree, 'sparse.img'));
    fs.mkdirSync(join(tree, 'x/y'), { recursive: true });
    fs.writeFileSync(join(tree, 'x/y/f'), 'f');
    fs.writeFileSync(join(tree, 'x/g'), 'g');
    fs.chmodSync(join(tree, 'x/y'), 0o750);
    fs.chmodSync(join(tree, 'x'), 0o511);
    fs.mkdirSync(join(tree, 'ro'));
    fs.writeFileSync(join(tree, 'ro/inside'), 'r');
    fs.chmodSync(join(tree, 'ro'), 0o555);
    fs.chmodSync(join(tree, 'b'), 0o700);
    const special = join(src, 'special');
    fs.mkdirSync(special);
    execFileSync('mkfifo', [join(special, 'fifo')]);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(join(special, 'sock'), resolve));
    const expected = describeTree(tree);
    const originalBlocks = fs.statSync(join(tree, 'sparse.img')).blocks;
    const repo = await openRepository(localConfig(root, [src]));
    try {
      const first = await backup(repo);
      expect(first.scan.special).toBe(2);
      expect(first.warnings).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/special\/fifo is a FIFO, not a file, directory or symlink; skipped$/),
          expect.stringMatching(/special\/sock is a socket, not a file, directory or symlink; skipped$/),
        ]),
      );
      // A second run takes the unchanged files from the scan cache: their links are kept too.
      const second = await backup(repo);
      expect(second.scan.filesUnchanged).toBe(first.scan.files);
      const target = join(root, 'restored');
      const summary = await restore(repo, { target });
      expect(summary.hardlinks).toBe(2);
      const out = join(target, tree);
      expectSameTree(describeTree(out), expected);
      const h1 = fs.statSync(join(out, 'a/h1'));
      expect(h1.nlink).toBe(3);
      expect(fs.statSync(join(out, 'a/h2')).ino).toBe(h1.ino);
      expect(fs.statSync(join(out, 'b/h3')).ino).toBe(h1.ino);
      expect(fs.statSync(join(out, 'b/single')).nlink).toBe(1);
      // Holes stay holes: the restored file takes no more blocks than the original (+ one block
      // of slack per region for a file system's rounding).
      const restoredBlocks = fs.statSync(join(out, 'sparse.img')).blocks;
      expect(restoredBlocks).toBeLessThanOrEqual(originalBlocks + 3 * 8);
      expect(restoredBlocks * 512).toBeLessThan(2 * MiB); // the 2 MiB zero run inside data too
      expect(fs.readdirSync(join(target, special))).toEqual([]);
      expect(fs.statSync(join(target, special)).mode & 0o7777).toBe(fs.statSync(special).mode & 0o7777);
    } finally {
      repo.close();
      server.close();
    }
  });
});
