/**
 * Small files travel in batches: one worker message reads many, synchronously (chunk-pool.ts,
 * file-reader.ts readAndSealSmallFile). The batched path must give the streaming path's chunks
 * and change detection, and a backup of many small files must restore exactly.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backup } from '../../runtime/pipeline/backup.ts';
import {
  readAndSealFile,
  readAndSealSmallFile,
  type SealedChunk,
  SMALL_FILE_BYTES,
} from '../../runtime/pipeline/file-reader.ts';
import { type LocalConfig, openRepository, type Repository } from '../../runtime/pipeline/repository.ts';
import { restore } from '../../runtime/pipeline/restore.ts';
import { describeTree, detBytes, expectSameTree, localConfig, tempDir } from './helpers.ts';

const keys = { dataKey: new Uint8Array(32).fill(7), chunkIdKey: new Uint8Array(32).fill(9) };

async function withRepo<T>(config: LocalConfig, fn: (repo: Repository) => Promise<T>): Promise<T> {
  const repo = await openRepository(config);
  try {
    return await fn(repo);
  } finally {
    repo.close();
  }
}

describe('small files', () => {
  it('the batched reader gives the streaming reader’s chunk ids and file facts', async () => {
    const dir = tempDir('small-reader');
    for (const size of [0, 1, 100, SMALL_FILE_BYTES, 3 * SMALL_FILE_BYTES]) {
      const file = join(dir, `f${size}`);
      fs.writeFileSync(file, detBytes(`s${size}`, size));
      const streamed: SealedChunk[] = [];
      const expected = await readAndSealFile(Buffer.from(file), keys, async (c) => {
        streamed.push(...c);
      });
      const got = readAndSealSmallFile(Buffer.from(file), keys);
      if (!('result' in got)) throw new Error(`read failed: ${got.error.message}`);
      expect(got.result).toEqual(expected);
      expect(got.chunks.map((c) => [Buffer.from(c.id).toString('hex'), c.plainBytes])).toEqual(
        streamed.map((c) => [Buffer.from(c.id).toString('hex'), c.plainBytes]),
      );
    }
  });

  it('a file that grew far past its scanned size is reported changed; a vanished one is an error', () => {
    const dir = tempDir('small-grew');
    const file = join(dir, 'grew.log');
    fs.writeFileSync(file, detBytes('grew', 8 * SMALL_FILE_BYTES));
    const got = readAndSealSmallFile(Buffer.from(file), keys);
    expect('result' in got && got.result.changed).toBe(true);
    const gone = readAndSealSmallFile(Buffer.from(join(dir, 'gone')), keys);
    expect(gone).toMatchObject({ error: { code: 'ENOENT' } });
  });

  it('3000 small files in 30 folders back up in batches, restore exactly, and re-run unread', async () => {
    const root = tempDir('small-backup');
    const src = join(root, 'src');
    for (let d = 0; d < 30; d++) {
      fs.mkdirSync(join(src, `d${d}`, 'sub'), { recursive: true });
      for (let f = 0; f < 100; f++) {
        const where = f % 10 === 0 ? join(src, `d${d}`, 'sub') : join(src, `d${d}`);
        fs.writeFileSync(join(where, `f${f}.txt`), `file ${d}/${f} ${'x'.repeat((d * 100 + f) % 700)}`);
      }
    }
    fs.writeFileSync(join(src, 'big.bin'), detBytes('big', 2 * 1024 * 1024));
    const config = localConfig(root, [src], { workers: 2 });
    const first = await withRepo(config, (repo) => backup(repo));
    expect(first.scan).toMatchObject({ files: 3001, filesRead: 3001, dirs: 61 });
    expect(first.warnings).toEqual([]);
    const target = join(root, 'restored');
    await withRepo(config, (repo) => restore(repo, { target }));
    expectSameTree(
      describeTree(join(target, src), { hashContent: true }),
      describeTree(src, { hashContent: true }),
    );
    const again = await withRepo(config, (repo) => backup(repo));
    expect(again.scan).toMatchObject({ files: 3001, filesRead: 0, filesUnchanged: 3001 });
    fs.appendFileSync(join(src, 'd7', 'f3.txt'), ' changed');
    const third = await withRepo(config, (repo) => backup(repo));
    expect(third.scan).toMatchObject({ filesRead: 1, filesUnchanged: 3000 });
  }, 120_000);
});
