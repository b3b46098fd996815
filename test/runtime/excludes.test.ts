/**
 * Excludes (docs/config.md "Excludes"): patterns, CACHEDIR.TAG and the data directory inside a
 * backed-up directory, through a real local backup and restore; and the patterns' meaning.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CACHEDIR_TAG_SIGNATURE, ExcludePatternError, excludeMatcher } from '../../engine/index.ts';
import { backup } from '../../runtime/pipeline/backup.ts';
import { PipelineError } from '../../runtime/pipeline/errors.ts';
import { openRepository, validateConfig } from '../../runtime/pipeline/repository.ts';
import { restore } from '../../runtime/pipeline/restore.ts';
import { localConfig, tempDir } from './helpers.ts';

function listed(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map(String).sort();
}

describe('exclude patterns', () => {
  it('match names at any depth, anchored paths exactly, ** across directories, dirs-only with /', () => {
    const m = excludeMatcher([
      '*.tmp',
      'node_modules',
      '/srv/a/raw',
      'build/out',
      '/home/*/.cache/**',
      'logs/',
    ]);
    expect(m.matches('/x/y/z.tmp', false)).toBe(true);
    expect(m.matches('/x/y/z.tmpx', false)).toBe(false);
    expect(m.matches('/p/node_modules', true)).toBe(true);
    expect(m.matches('/p/node_modules2', true)).toBe(false);
    expect(m.matches('/srv/a/raw', true)).toBe(true);
    expect(m.matches('/other/srv/a/raw', true)).toBe(false);
    expect(m.matches('/q/build/out', false)).toBe(true);
    expect(m.matches('/q/xbuild/out', false)).toBe(false);
    expect(m.matches('/home/me/.cache/a/b', false)).toBe(true);
    expect(m.matches('/home/me/x/.cache/a', false)).toBe(false);
    expect(m.matches('/var/logs', true)).toBe(true);
    expect(m.matches('/var/logs', false)).toBe(false);
    const sets = excludeMatcher(['file[0-9].txt', 'x[!a]y', 'a?c', '\\*lit']);
    expect(sets.matches('/d/file7.txt', false)).toBe(true);
    expect(sets.matches('/d/filex.txt', false)).toBe(false);
    expect(sets.matches('/d/xby', false)).toBe(true);
    expect(sets.matches('/d/xay', false)).toBe(false);
    expect(sets.matches('/d/abc', false)).toBe(true);
    expect(sets.matches('/d/a/c', false)).toBe(false);
    expect(sets.matches('/d/*lit', false)).toBe(true);
    expect(sets.matches('/d/xlit', false)).toBe(false);
  });

  it('a bad pattern is refused with its text', () => {
    for (const bad of ['', '/', 'a**b', '[abc', 'x\\']) {
      expect(() => excludeMatcher([bad])).toThrow(ExcludePatternError);
    }
    expect(() => excludeMatcher(['ok', '[oops'])).toThrow('exclude pattern "[oops"');
    expect(() => validateConfig({ ...localConfig(tempDir('exc-cfg'), ['/tmp']), exclude: ['[x'] })).toThrow(
      /config\.exclude: exclude pattern "\[x"/,
    );
  });
});

describe('excludes in a backup', () => {
  it('leaves out patterns, tagged cache contents (not the tag), and the data directory inside a source', async () => {
    const root = tempDir('exc');
    const src = join(root, 'src');
    fs.mkdirSync(join(src, 'deep/node_modules/pkg'), { recursive: true });
    fs.writeFileSync(join(src, 'deep/node_modules/pkg/index.js'), 'x');
    fs.writeFileSync(join(src, 'keep.txt'), 'keep');
    fs.writeFileSync(join(src, 'deep/scratch.tmp'), 'tmp');
    fs.writeFileSync(join(src, 'deep/kept.dat'), 'dat');
    fs.mkdirSync(join(src, 'cache/sub'), { recursive: true });
    fs.writeFileSync(join(src, 'cache/CACHEDIR.TAG'), `${CACHEDIR_TAG_SIGNATURE}\n# a cache\n`);
    fs.writeFileSync(join(src, 'cache/blob'), Buffer.alloc(100_000, 7));
    fs.writeFileSync(join(src, 'cache/sub/more'), 'more');
    fs.mkdirSync(join(src, 'notcache'));
    fs.writeFileSync(join(src, 'notcache/CACHEDIR.TAG'), 'Signature: not the right one');
    fs.writeFileSync(join(src, 'notcache/data'), 'data');
    fs.mkdirSync(join(src, 'run-excluded'));
    fs.writeFileSync(join(src, 'run-excluded/f'), 'f');
    // The repository's data directory inside the backed-up directory (named so no pattern hits it).
    const config = {
      ...localConfig(root, [src]),
      dataDir: join(src, 'pbdata'),
      exclude: ['*.tmp', 'node_modules/'],
    };
    fs.mkdirSync(config.dataDir);
    const repo = await openRepository(config);
    try {
      const summary = await backup(repo, { exclude: [`${src}/run-excluded`] });
      // node_modules, scratch.tmp, run-excluded, pbdata, and the tagged cache's blob and sub.
      expect(summary.scan.excluded).toBe(6);
      const target = join(root, 'restored');
      await restore(repo, { target });
      expect(listed(join(target, src))).toEqual(
        [
          'cache',
          'cache/CACHEDIR.TAG',
          'deep',
          'deep/kept.dat',
          'keep.txt',
          'notcache',
          'notcache/CACHEDIR.TAG',
          'notcache/data',
        ].sort(),
      );
      expect(fs.readFileSync(join(target, src, 'cache/CACHEDIR.TAG'), 'utf8')).toContain(
        CACHEDIR_TAG_SIGNATURE,
      );
      // A bad pattern of a run is an invalid-config error naming it, before anything is read.
      await expect(backup(repo, { exclude: ['a**'] })).rejects.toThrow(PipelineError);
    } finally {
      repo.close();
    }
  });

  it('a source that is the data directory, or inside it, is skipped with a warning', async () => {
    const root = tempDir('exc-root');
    const config = localConfig(root, []);
    fs.mkdirSync(join(config.dataDir, 'sub'), { recursive: true });
    fs.writeFileSync(join(config.dataDir, 'sub/f'), 'f');
    const repo = await openRepository({ ...config, sources: [config.dataDir, join(config.dataDir, 'sub')] });
    try {
      const summary = await backup(repo);
      expect(summary.scan.files).toBe(0);
      expect(summary.warnings).toEqual([
        `source ${config.dataDir} is (inside) the data directory, which is never backed up; skipped`,
        `source ${join(config.dataDir, 'sub')} is (inside) the data directory, which is never backed up; skipped`,
      ]);
    } finally {
      repo.close();
    }
  });
});
