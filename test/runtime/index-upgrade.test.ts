/**
 * The owner's index schema 3 (docs/formats.md, "Index"): a version 2 index (the schema before it,
 * written here with version 2's own SQL from the rows of a real backup) is upgraded in place when
 * the repository opens, and the scan cache, the objects and the snapshots it held keep working:
 * a re-run backup reads no file again, and restore, check and gc work.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { backup } from '../../runtime/pipeline/backup.ts';
import { browseReader } from '../../runtime/pipeline/browse.ts';
import { checkRepository } from '../../runtime/pipeline/check.ts';
import type { FileCacheRow } from '../../runtime/pipeline/index-db.ts';
import { INDEX_SCHEMA_VERSION } from '../../runtime/pipeline/index-db.ts';
import { IndexReader } from '../../runtime/pipeline/index-reader.ts';
import { openRepository } from '../../runtime/pipeline/repository.ts';
import { restore } from '../../runtime/pipeline/restore.ts';
import { collectGarbage } from '../../runtime/pipeline/retention.ts';
import { describeTree, detBytes, expectSameTree, localConfig, tempDir } from './helpers.ts';

/** Version 2's schema, as index-db.ts created it before version 3. */
const V2_SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE stripes (seq INTEGER PRIMARY KEY, stripe_id TEXT NOT NULL UNIQUE, k INTEGER NOT NULL,
  m INTEGER NOT NULL, shard_bytes INTEGER NOT NULL, data_bytes INTEGER NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE shards (stripe_seq INTEGER NOT NULL REFERENCES stripes(seq), idx INTEGER NOT NULL,
  shard_id TEXT NOT NULL, member TEXT NOT NULL, file_bytes INTEGER NOT NULL, PRIMARY KEY (stripe_seq, idx));
CREATE INDEX shards_by_member ON shards(member);
CREATE TABLE objects (id BLOB PRIMARY KEY, kind INTEGER NOT NULL,
  stripe_seq INTEGER NOT NULL REFERENCES stripes(seq), offset INTEGER NOT NULL,
  sealed_bytes INTEGER NOT NULL, plain_bytes INTEGER NOT NULL, codec INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE INDEX objects_by_stripe ON objects(stripe_seq);
CREATE TABLE snapshots (id BLOB PRIMARY KEY, time_ms INTEGER NOT NULL, files INTEGER NOT NULL,
  bytes INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE files (path BLOB PRIMARY KEY, size INTEGER NOT NULL, mtime_ns TEXT NOT NULL,
  ctime_ns TEXT NOT NULL, ino TEXT NOT NULL, chunks BLOB NOT NULL) WITHOUT ROWID;
`;

const TABLES = ['meta', 'stripes', 'shards', 'objects', 'snapshots'] as const;

/** The source tree; paths as raw bytes (one name is not UTF-8). */
function writeSource(src: string): Buffer[] {
  const paths: Buffer[] = [];
  const put = (rel: Buffer, bytes: Buffer): void => {
    const path = Buffer.concat([Buffer.from(`${src}/`), rel]);
    fs.mkdirSync(join(path.toString(), '..'), { recursive: true });
    fs.writeFileSync(path, bytes);
    paths.push(path);
  };
  for (let d = 0; d < 6; d++)
    for (let f = 0; f < 25; f++)
      put(Buffer.from(`d${d}/sub/f${f}.txt`), Buffer.from(`tiny file ${d}/${f}\n`.repeat(f + 1)));
  put(Buffer.from('top.bin'), detBytes('index-upgrade big', 3 * 1024 * 1024)); // several chunks
  put(Buffer.from('empty'), Buffer.alloc(0));
  put(Buffer.from([0x6f, 0x64, 0x64, 0xff, 0x20, 0x2e, 0x74]), Buffer.from('a name that is not UTF-8'));
  return paths;
}

/** Rewrites the data directory's index as version 2 would have held the same backup. */
function downgradeToV2(dataDir: string, rows: Record<string, unknown[]>, files: FileCacheRow[]): void {
  for (const f of fs.readdirSync(dataDir)) if (f.startsWith('index.sqlite')) fs.rmSync(join(dataDir, f));
  const db = new Database(join(dataDir, 'index.sqlite'));
  try {
    db.pragma('journal_mode = WAL');
    db.exec(V2_SCHEMA);
    db.transaction(() => {
      for (const table of TABLES)
        for (const row of rows[table]!) {
          const r = row as Record<string, unknown>;
          const cols = Object.keys(r);
          db.prepare(
            `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
          ).run(
            ...cols.map((c) =>
              table === 'meta' && r.key === 'schema_version' && c === 'value' ? '2' : r[c],
            ),
          );
        }
      const put = db.prepare('INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)');
      for (const f of files) put.run(f.path, f.size, f.mtimeNs, f.ctimeNs, f.ino, f.chunks);
    })();
  } finally {
    db.close();
  }
}

describe('index schema upgrade', () => {
  it('a version 2 index is upgraded in place: the re-run backup hits the scan cache, restore, check and gc work', async () => {
    const root = tempDir('index-upgrade');
    const src = join(root, 'src');
    const paths = writeSource(src);
    const config = localConfig(root, [src]);
    const first = await openRepository(config);
    let rows: Record<string, unknown[]>;
    let files: FileCacheRow[];
    try {
      await backup(first, { nowMs: () => Date.UTC(2026, 0, 1) });
      rows = Object.fromEntries(TABLES.map((t) => [t, first.index.db.prepare(`SELECT * FROM ${t}`).all()]));
      files = paths.map((p) => first.index.getFile(p)!);
    } finally {
      first.close();
    }
    // Every file has its row, with whole 32-byte chunk ids, as version 2 kept them.
    expect(files.every((f) => f !== undefined && f.chunks.length % 32 === 0)).toBe(true);
    expect(files.find((f) => f.size > 1024 * 1024)!.chunks.length).toBeGreaterThan(32);
    downgradeToV2(config.dataDir, rows, files);

    // A status reader beside the pipeline reads the version 2 cache, and the version 3 one after.
    const reader = new IndexReader(join(config.dataDir, 'index.sqlite'));
    expect(reader.fileRow(paths[0]!)?.size).toBe(files[0]!.size);

    const repo = await openRepository(config);
    try {
      expect(repo.index.getMeta('schema_version')).toBe(String(INDEX_SCHEMA_VERSION));
      const names = repo.index.db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type IN ('table', 'index')")
        .all()
        .map((r) => r.name);
      expect(names).not.toContain('objects_by_stripe');
      expect(names).not.toContain('files_v3');
      expect(names).toContain('dirs');
      expect(repo.index.db.prepare('SELECT COUNT(*) AS n FROM files').get()).toEqual({ n: paths.length });
      expect(repo.index.db.prepare('SELECT COUNT(*) AS n FROM objects').get()).toEqual({
        n: rows.objects!.length,
      });
      for (const [i, p] of paths.entries()) expect(repo.index.getFile(p)).toEqual(files[i]);
      expect(reader.fileRow(paths[1]!)).toEqual({
        size: files[1]!.size,
        mtimeNs: files[1]!.mtimeNs,
        ctimeNs: files[1]!.ctimeNs,
        ino: files[1]!.ino,
      });

      const again = await backup(repo, { nowMs: () => Date.UTC(2026, 0, 2) });
      expect(again.scan.files).toBe(paths.length);
      expect(again.scan.filesUnchanged).toBe(paths.length);
      expect(again.scan.filesRead).toBe(0);

      await restore(repo, { target: join(root, 'out') });
      expectSameTree(
        describeTree(join(root, 'out', src), { hashContent: true }),
        describeTree(src, { hashContent: true }),
      );
      const checked = await checkRepository(repo, browseReader(repo), { readData: true });
      expect(checked.problems).toEqual([]);
      expect(checked.stripesRead).toBe(checked.stripes);

      // A changed file, the snapshots that held its old chunks forgotten, gc: the cache still hits.
      const big = paths.find((p) => p.toString().endsWith('top.bin'))!;
      fs.writeFileSync(big, detBytes('index-upgrade big, changed', 3 * 1024 * 1024));
      await backup(repo, { nowMs: () => Date.UTC(2026, 0, 3) });
      repo.index.deleteSnapshots(
        repo.index
          .listSnapshots()
          .slice(0, 2)
          .map((s) => s.id),
      );
      const gc = await collectGarbage(repo);
      expect(gc.stripesDeleted + gc.partlyLiveStripes).toBeGreaterThan(0);
      expect(repo.index.getFile(big)?.size).toBe(3 * 1024 * 1024);
      const last = await backup(repo, { nowMs: () => Date.UTC(2026, 0, 4) });
      expect(last.scan.filesUnchanged).toBe(paths.length);
      await restore(repo, { target: join(root, 'out-2') });
      expectSameTree(
        describeTree(join(root, 'out-2', src), { hashContent: true }),
        describeTree(src, { hashContent: true }),
      );
    } finally {
      reader.close();
      repo.close();
    }
    fs.rmSync(root, { recursive: true, force: true });
  });
});
