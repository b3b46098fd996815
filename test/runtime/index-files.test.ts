/**
 * The scan cache's prune after gc (runtime/pipeline/index-files.ts): over many pages of rows, it
 * drops exactly the rows whose chunks are no longer objects, keeps the others readable, and
 * forgets the directories no row names any more.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type FileCacheRow, IndexDb, KIND_DATA } from '../../runtime/pipeline/index-db.ts';
import { tempDir } from './helpers.ts';

const id = (s: string): Buffer => createHash('sha256').update(s).digest();

describe('the scan cache prune', () => {
  it('pages through 25,000 rows: drops those naming a deleted object, keeps the rest', () => {
    const db = new IndexDb(join(tempDir('index-files'), 'index.sqlite'));
    try {
      const files = 25_000;
      const rows: FileCacheRow[] = [];
      for (let i = 0; i < files; i++) {
        rows.push({
          path: Buffer.from(`/home/a/dir${i % 50}/${i % 7 === 0 ? 'gone' : 'kept'}-${i}`),
          size: 100,
          mtimeNs: String(1_700_000_000_000_000_000n + BigInt(i)),
          ctimeNs: String(1_700_000_000_000_000_000n + BigInt(i)),
          ino: String(1000 + i),
          chunks: id(`chunk-${i}`),
        });
      }
      // A directory whose every file named deleted objects: its dirs row goes too.
      for (let j = 0; j < 10; j++)
        rows.push({
          ...rows[j + 1]!,
          path: Buffer.from(`/home/a/only-gone/f${j}`),
          chunks: id(`orphan-${j}`),
        });
      // The objects of the kept files exist; those of every 7th file do not (gc deleted them).
      const objects = rows
        .filter((_, i) => i % 7 !== 0 && i < files)
        .map((r, n) => ({
          id: r.chunks,
          kind: KIND_DATA,
          stripeSeq: 1,
          offset: n * 100,
          sealedBytes: 100,
          plainBytes: 100,
          codec: 0,
        }));
      db.commitStripe(
        { seq: 1, stripeId: 'x/1/0', k: 2, m: 1, shardBytes: 10, dataBytes: 10, createdMs: 1 },
        [0, 1, 2].map((idx) => ({ idx, shardId: `s${idx}`, member: 'm', fileBytes: 10 })),
        objects,
        rows,
      );
      const gone = rows.filter((_, i) => i % 7 === 0 || i >= files).length;
      expect(db.pruneFileCache()).toBe(gone);
      expect(db.getFile(rows[7]!.path)).toBeUndefined();
      expect(db.getFile(rows[8]!.path)).toMatchObject({ size: 100, ino: '1008', chunks: rows[8]!.chunks });
      expect(db.getFile(rows[files - 1]!.path)?.chunks.equals(rows[files - 1]!.chunks)).toBe(true);
      // A second prune finds nothing more.
      expect(db.pruneFileCache()).toBe(0);
      const count = (sql: string): number => (db.db.prepare(sql).get() as { n: number }).n;
      expect(count('SELECT COUNT(*) AS n FROM files')).toBe(rows.length - gone);
      expect(count('SELECT COUNT(*) AS n FROM dirs')).toBe(50);
    } finally {
      db.close();
    }
  });

  it('a directory looked up before it is known is found once its files are added', () => {
    const db = new IndexDb(join(tempDir('index-files'), 'index.sqlite'));
    try {
      const row: FileCacheRow = {
        path: Buffer.from('/home/a/new/file'),
        size: 100,
        mtimeNs: '1700000000000000000',
        ctimeNs: '1700000000000000000',
        ino: '7',
        chunks: id('chunk'),
      };
      // A first backup looks up every file of a directory the index does not know yet.
      expect(db.getFile(row.path)).toBeUndefined();
      expect(db.getFile(Buffer.from('/home/a/new/other'))).toBeUndefined();
      db.commitStripe(
        { seq: 1, stripeId: 'x/1/0', k: 2, m: 1, shardBytes: 10, dataBytes: 10, createdMs: 1 },
        [0, 1, 2].map((idx) => ({ idx, shardId: `s${idx}`, member: 'm', fileBytes: 10 })),
        [
          {
            id: row.chunks,
            kind: KIND_DATA,
            stripeSeq: 1,
            offset: 0,
            sealedBytes: 100,
            plainBytes: 100,
            codec: 0,
          },
        ],
        [row],
      );
      expect(db.getFile(row.path)).toMatchObject({ size: 100, ino: '7' });
      expect(db.getFile(Buffer.from('/home/a/new/other'))).toBeUndefined();
    } finally {
      db.close();
    }
  });
});
