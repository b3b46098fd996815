/**
 * The owner's index schema (docs/formats.md, "Index") and the upgrade of older indexes to it.
 * Version 3 keeps a tiny file's share small: the scan cache keys files by (directory id, name)
 * with INTEGER stat numbers, and `objects` has no second index by stripe (gc and check find a
 * stripe's objects in one pass over `objects`). Versions 1 and 2 are upgraded in place, in one
 * transaction: a crash during the upgrade leaves the old index as it was.
 */
import type Database from 'better-sqlite3';
import { PipelineError } from './errors.ts';
import { chunkRefs, encodeStat, splitPath } from './index-files.ts';

export const INDEX_SCHEMA_VERSION = 3;

const OBJECTS = `(
  id BLOB PRIMARY KEY,
  kind INTEGER NOT NULL,
  stripe_seq INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  sealed_bytes INTEGER NOT NULL,
  plain_bytes INTEGER NOT NULL,
  codec INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID`;

const FILES = `(
  dir INTEGER NOT NULL,
  name BLOB NOT NULL,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  ctime_delta_ns INTEGER NOT NULL,
  ino INTEGER NOT NULL,
  chunks BLOB NOT NULL,
  PRIMARY KEY (dir, name)
) WITHOUT ROWID`;

const DIRS = '(path BLOB PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID';

/** Tables every version has in the same shape. */
const COMMON = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stripes (
  seq INTEGER PRIMARY KEY,
  stripe_id TEXT NOT NULL UNIQUE,
  k INTEGER NOT NULL,
  m INTEGER NOT NULL,
  shard_bytes INTEGER NOT NULL,
  data_bytes INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS shards (
  stripe_seq INTEGER NOT NULL REFERENCES stripes(seq),
  idx INTEGER NOT NULL,
  shard_id TEXT NOT NULL,
  member TEXT NOT NULL,
  file_bytes INTEGER NOT NULL,
  PRIMARY KEY (stripe_seq, idx)
);
CREATE INDEX IF NOT EXISTS shards_by_member ON shards(member);
CREATE TABLE IF NOT EXISTS snapshots (
  id BLOB PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  files INTEGER NOT NULL,
  bytes INTEGER NOT NULL
) WITHOUT ROWID;
`;

const CURRENT = `${COMMON}
CREATE TABLE IF NOT EXISTS objects ${OBJECTS};
CREATE TABLE IF NOT EXISTS dirs ${DIRS};
CREATE TABLE IF NOT EXISTS files ${FILES};
`;

function versionOf(db: Database.Database): string | undefined {
  const meta = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta'").get();
  if (meta === undefined) return undefined;
  return db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").get()
    ?.value;
}

function setVersion(db: Database.Database): void {
  db.prepare(
    "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
  ).run(String(INDEX_SCHEMA_VERSION));
}

const UPGRADE_PAGE_ROWS = 4096;

type OldFileRow = {
  path: Buffer;
  size: number;
  mtime_ns: string;
  ctime_ns: string;
  ino: string;
  chunks: Buffer;
};

/** Version 1 or 2 to 3, inside the caller's transaction. */
function upgrade(db: Database.Database, from: string): void {
  if (from === '1') db.exec('ALTER TABLE objects ADD COLUMN codec INTEGER NOT NULL DEFAULT 0');
  // objects: the same rows, without objects_by_stripe and the foreign key that needed it.
  db.exec(`CREATE TABLE objects_v3 ${OBJECTS};
    INSERT INTO objects_v3 SELECT id, kind, stripe_seq, offset, sealed_bytes, plain_bytes, codec FROM objects;
    DROP INDEX IF EXISTS objects_by_stripe;
    DROP TABLE objects;
    ALTER TABLE objects_v3 RENAME TO objects;
    CREATE TABLE dirs ${DIRS};
    CREATE TABLE files_v3 ${FILES};`);
  const dirId = db.prepare<[Buffer], { id: number }>('SELECT id FROM dirs WHERE path = ?');
  const addDir = db.prepare<[Buffer, number]>('INSERT INTO dirs (path, id) VALUES (?, ?)');
  const put = db.prepare('INSERT OR REPLACE INTO files_v3 VALUES (?, ?, ?, ?, ?, ?, ?)');
  let dirs = 0;
  const copy = (r: OldFileRow): void => {
    const stat =
      /^-?\d{1,20}$/.test(r.mtime_ns) && /^-?\d{1,20}$/.test(r.ctime_ns) && /^\d{1,20}$/.test(r.ino)
        ? encodeStat({ size: r.size, mtimeNs: r.mtime_ns, ctimeNs: r.ctime_ns, ino: r.ino })
        : null;
    // A row that does not decode is only a cache entry: the file is read again.
    if (stat === null || !Buffer.isBuffer(r.chunks) || r.chunks.length % 32 !== 0) return;
    const { dir, name } = splitPath(r.path);
    let id = dirId.get(dir)?.id;
    if (id === undefined) {
      id = ++dirs;
      addDir.run(dir, id);
    }
    put.run(id, name, r.size, stat.mtime, stat.ctimeDelta, stat.ino, chunkRefs(r.chunks));
  };
  // Pages of UPGRADE_PAGE_ROWS: bounded memory (and no write runs inside an open iteration).
  const page = db.prepare<[Buffer, number], OldFileRow>(
    'SELECT path, size, mtime_ns, ctime_ns, ino, chunks FROM files WHERE path > ? ORDER BY path LIMIT ?',
  );
  let rows = page.all(Buffer.alloc(0), UPGRADE_PAGE_ROWS);
  while (rows.length > 0) {
    for (const r of rows) copy(r);
    rows = page.all(rows.at(-1)!.path, UPGRADE_PAGE_ROWS);
  }
  db.exec('DROP TABLE files; ALTER TABLE files_v3 RENAME TO files;');
}

/**
 * Creates the schema in an empty file or upgrades an older one (one transaction; a space-reclaiming
 * VACUUM after an upgrade). A version this code does not know is refused, naming both.
 */
export function openSchema(db: Database.Database, path: string): void {
  const version = versionOf(db);
  const current = String(INDEX_SCHEMA_VERSION);
  if (version === current) return;
  if (version !== undefined && version !== '1' && version !== '2')
    throw new PipelineError(
      'invalid-config',
      `index ${path} has schema version ${version}, this pb reads ${current}`,
    );
  const fresh =
    db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'objects'").get() === undefined;
  db.transaction(() => {
    if (version !== undefined && !fresh) upgrade(db, version);
    db.exec(CURRENT);
    setVersion(db);
  })();
  if (version !== undefined && !fresh) db.exec('VACUUM');
}
