/**
 * Browsing and checking a repository (runtime/pipeline/browse.ts, check.ts) on real files in
 * local mode: ls of roots, directories and files; find across snapshots; diff with added,
 * removed, content, type and metadata changes; check finds nothing on a whole repository, and
 * with --read-data names a deleted and a corrupted shard (the structure check alone reads no
 * data shard).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backup } from '../../runtime/pipeline/backup.ts';
import {
  browseReader,
  diffSnapshots,
  findPaths,
  listPath,
  snapshotList,
} from '../../runtime/pipeline/browse.ts';
import { checkRepository } from '../../runtime/pipeline/check.ts';
import { openRepository } from '../../runtime/pipeline/repository.ts';
import { detBytes, localConfig, tempDir } from './helpers.ts';

describe('browse and check', () => {
  it('ls, find, diff and check (with damaged shards found by --read-data)', async () => {
    const root = tempDir('browse');
    const src = join(root, 'src');
    fs.mkdirSync(join(src, 'docs'), { recursive: true });
    fs.writeFileSync(join(src, 'docs', 'a.md'), 'first\n');
    fs.writeFileSync(join(src, 'docs', 'b.md'), 'stays\n');
    fs.writeFileSync(join(src, 'big.bin'), detBytes('big', 2 * 1024 * 1024));
    fs.writeFileSync(join(src, 'will-be-dir'), 'a file first\n');
    fs.writeFileSync(join(src, 'touched'), 'same bytes\n');
    fs.symlinkSync('docs/a.md', join(src, 'link'));
    const repo = await openRepository(localConfig(root, [src], { workers: 1 }));
    try {
      await backup(repo);
      fs.writeFileSync(join(src, 'docs', 'a.md'), 'second\n');
      fs.rmSync(join(src, 'will-be-dir'));
      fs.mkdirSync(join(src, 'will-be-dir'));
      fs.writeFileSync(join(src, 'new.md'), 'new\n');
      fs.utimesSync(join(src, 'touched'), 1_600_000_000, 1_600_000_000);
      fs.rmSync(join(src, 'link'));
      await backup(repo);
      const [a, b] = snapshotList(repo).map((s) => s.id) as [string, string];
      const reader = browseReader(repo);

      expect((await listPath(repo, reader, 'latest')).entries.map((e) => e.path)).toEqual([src]);
      const docs = await listPath(repo, reader, a.slice(0, 6), join(src, 'docs'));
      expect(docs.entries.map((e) => [e.path, e.type, e.size])).toEqual([
        [join(src, 'docs', 'a.md'), 'file', 6],
        [join(src, 'docs', 'b.md'), 'file', 6],
      ]);
      expect((await listPath(repo, reader, a, join(src, 'link'))).entries[0]).toMatchObject({
        type: 'symlink',
        target: 'docs/a.md',
      });
      await expect(listPath(repo, reader, b, join(src, 'link'))).rejects.toThrow(/is not in snapshot/);
      await expect(listPath(repo, reader, b, 'relative')).rejects.toThrow(/not absolute/);

      const found = await findPaths(repo, reader, '*.md');
      expect(found.matches.map((m) => [m.path, m.snapshots])).toEqual([
        [join(src, 'docs', 'a.md'), [a, b]],
        [join(src, 'docs', 'b.md'), [a, b]],
        [join(src, 'new.md'), [b]],
      ]);

      const diff = await diffSnapshots(repo, reader, a, b);
      expect(diff.added.map((x) => x.path)).toEqual([join(src, 'new.md')]);
      expect(diff.removed.map((x) => x.path)).toEqual([join(src, 'link')]);
      expect(diff.changed.map((c) => [c.path, c.what]).sort()).toEqual(
        [
          [join(src, 'docs', 'a.md'), 'content'],
          [join(src, 'touched'), 'metadata'],
          [join(src, 'will-be-dir'), 'type'],
        ].sort(),
      );
      expect((await diffSnapshots(repo, reader, b, b)).changed).toEqual([]);

      const whole = await checkRepository(repo, browseReader(repo), { readData: true });
      expect(whole).toMatchObject({ ok: true, snapshots: 2, problemCount: 0 });
      expect(whole.stripesRead).toBe(whole.stripes);

      // Damage two shards of the stripe holding big.bin's first chunk.
      const big = (await listPath(repo, reader, b, join(src, 'big.bin'))).entries[0]!;
      expect(big.size).toBe(2 * 1024 * 1024);
      const seqs = repo.index.allStripeSeqs();
      const shards = seqs.flatMap((seq) => repo.index.getShards(seq).map((s) => ({ seq, ...s })));
      const [gone, bad] = [shards[0]!, shards[1]!];
      const fileOf = (id: string, member: string): string => {
        const dir = join(root, 'members', member, 'shards', id.slice(0, 2));
        return join(dir, id);
      };
      fs.rmSync(fileOf(gone.shardId, gone.member));
      const badFile = fileOf(bad.shardId, bad.member);
      const bytes = fs.readFileSync(badFile);
      bytes[10] = bytes[10]! ^ 0xff;
      fs.writeFileSync(badFile, bytes);
      const structure = await checkRepository(repo, browseReader(repo));
      expect(structure.ok).toBe(true);
      const damaged = await checkRepository(repo, browseReader(repo), { readData: true });
      expect(damaged.ok).toBe(false);
      expect(damaged.problemCount).toBe(2);
      expect(damaged.problems.join('\n')).toContain(`shard ${gone.idx} on ${gone.member}`);
      expect(damaged.problems.join('\n')).toContain(`shard ${bad.idx} on ${bad.member}`);
      await expect(
        checkRepository(repo, browseReader(repo), { readData: true, subsetPercent: 0 }),
      ).rejects.toThrow(/percentage/);
    } finally {
      repo.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});
