/**
 * The scan cache in the owner's index (docs/formats.md, "Index", schema version 3): one `files`
 * row per file read whole, keyed by (directory id, name) with the directory's path once in `dirs`,
 * the stat numbers as INTEGERs (ctime as its difference from mtime, the inode as the signed
 * 64-bit integer with the same bits) and the chunk ids. Rows go in inside the index's
 * transactions (index-db.ts); this module only knows the two tables.
 */
import type Database from 'better-sqlite3';

export interface FileCacheRow {
  path: Buffer;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  chunks: Buffer;
}

/** The stat numbers of a scan-cache row, as decimal strings (what file-reader.ts compares). */
export interface FileStatRow {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
}

const SLASH = 0x2f;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A path cut after its last '/': the directory keeps the slash, so dir + name is the path. */
export function splitPath(path: Buffer): { dir: Buffer; name: Buffer } {
  const at = path.lastIndexOf(SLASH);
  return { dir: path.subarray(0, at + 1), name: path.subarray(at + 1) };
}

/** The stored integers of a row, or null when one does not fit SQLite's signed 64 bits. */
export function encodeStat(row: FileStatRow): { mtime: bigint; ctimeDelta: bigint; ino: bigint } | null {
  const mtime = BigInt(row.mtimeNs);
  const ctimeDelta = BigInt(row.ctimeNs) - mtime;
  const ino = BigInt(row.ino);
  if (mtime < INT64_MIN || mtime > INT64_MAX || ctimeDelta < INT64_MIN || ctimeDelta > INT64_MAX) return null;
  if (ino < 0n || ino >= 2n ** 64n) return null;
  return { mtime, ctimeDelta, ino: BigInt.asIntN(64, ino) };
}

/** A row as read with safe integers (BigInt) back to the strings the scanner compares. */
export function decodeStat(r: {
  size: bigint;
  mtime_ns: bigint;
  ctime_delta_ns: bigint;
  ino: bigint;
}): FileStatRow {
  return {
    size: Number(r.size),
    mtimeNs: r.mtime_ns.toString(),
    ctimeNs: (r.mtime_ns + r.ctime_delta_ns).toString(),
    ino: BigInt.asUintN(64, r.ino).toString(),
  };
}

type StoredRow = { size: bigint; mtime_ns: bigint; ctime_delta_ns: bigint; ino: bigint; chunks: Buffer };

/**
 * A scan-cache row names each chunk by the first CHUNK_REF_BYTES of its 32-byte id. A ref is
 * resolved to the one object whose id starts with it, and the file is read again unless every ref
 * names exactly one object and their plain sizes add up to the file's size; gc prunes the rows of
 * objects it deletes. A wrong hit would need two keyed 256-bit ids equal in their first 128 bits.
 */
export const CHUNK_REF_BYTES = 16;
const ID_BYTES = 32;

/** The refs of a list of whole chunk ids (32 bytes each). */
export function chunkRefs(ids: Buffer): Buffer {
  const n = ids.length / ID_BYTES;
  const out = Buffer.allocUnsafe(n * CHUNK_REF_BYTES);
  for (let i = 0; i < n; i++)
    ids.copy(out, i * CHUNK_REF_BYTES, i * ID_BYTES, i * ID_BYTES + CHUNK_REF_BYTES);
  return out;
}

/** Scan-cache rows one step of `prune` reads. */
const PRUNE_PAGE_ROWS = 10_000;

/** Directory ids FileCache keeps in memory (cleared when full). */
const DIR_IDS_KEPT = 256;
/** A remembered directory the index does not know (ids start at 1). */
const ABSENT_DIR = 0;

export class FileCache {
  private readonly stmts;
  /** Directory ids looked up or added lately (the scanner reads a few directories at once). */
  private readonly dirIds = new Map<string, number>();
  /** The largest directory id in use; null until read (and after a rollback). */
  private maxDirId: number | null = null;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      dirId: db.prepare<[Buffer], { id: number }>('SELECT id FROM dirs WHERE path = ?'),
      maxDirId: db.prepare<[], { m: number | null }>('SELECT MAX(id) AS m FROM dirs'),
      addDir: db.prepare<[Buffer, number]>('INSERT INTO dirs (path, id) VALUES (?, ?)'),
      upsert: db.prepare(
        `INSERT INTO files (dir, name, size, mtime_ns, ctime_delta_ns, ino, chunks) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(dir, name) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
         ctime_delta_ns = excluded.ctime_delta_ns, ino = excluded.ino, chunks = excluded.chunks`,
      ),
      get: db
        .prepare<[number, Buffer], StoredRow>(
          'SELECT size, mtime_ns, ctime_delta_ns, ino, chunks FROM files WHERE dir = ? AND name = ?',
        )
        .safeIntegers(true),
      resolve: db
        .prepare<[Buffer, Buffer], [Buffer, number]>(
          'SELECT id, plain_bytes FROM objects WHERE id BETWEEN ? AND ? LIMIT 2',
        )
        .raw(true),
    };
  }

  /** Forget the remembered directory ids (after a rolled-back transaction or a prune). */
  reset(): void {
    this.dirIds.clear();
    this.maxDirId = null;
  }

  /**
   * The directory's id (added when `add` and absent). A directory the index does not know is
   * remembered as such too (ABSENT_DIR): a first backup looks up every file of a new directory.
   */
  private dirId(dir: Buffer, add: boolean): number | undefined {
    const key = dir.toString('latin1');
    const known = this.dirIds.get(key);
    if (known !== undefined && known !== ABSENT_DIR) return known;
    if (known === ABSENT_DIR && !add) return undefined;
    let id = known === ABSENT_DIR ? undefined : this.stmts.dirId.get(dir)?.id;
    if (id === undefined && add) {
      this.maxDirId ??= this.stmts.maxDirId.get()?.m ?? 0;
      id = ++this.maxDirId;
      this.stmts.addDir.run(dir, id);
    }
    if (this.dirIds.size >= DIR_IDS_KEPT) this.dirIds.clear();
    this.dirIds.set(key, id ?? ABSENT_DIR);
    return id;
  }

  /**
   * Inside the caller's transaction, in path order (a directory's rows next to each other).
   * `chunks` holds whole ids; the row keeps their refs.
   */
  upsertAll(files: readonly FileCacheRow[]): void {
    const sorted = files.length > 1 ? [...files].sort((a, b) => Buffer.compare(a.path, b.path)) : files;
    for (const f of sorted) this.upsert(f);
  }

  /** A row whose numbers do not fit is left out (the file is read again next time). */
  private upsert(f: FileCacheRow): void {
    const stat = encodeStat(f);
    if (stat === null || f.chunks.length % ID_BYTES !== 0) return;
    const { dir, name } = splitPath(f.path);
    const id = this.dirId(dir, true)!;
    this.stmts.upsert.run(id, name, f.size, stat.mtime, stat.ctimeDelta, stat.ino, chunkRefs(f.chunks));
  }

  /** The whole ids of a row's refs, or null when one is unknown or ambiguous or the sizes differ. */
  private resolve(refs: Buffer, size: number): Buffer | null {
    if (refs.length % CHUNK_REF_BYTES !== 0) return null;
    const n = refs.length / CHUNK_REF_BYTES;
    const out = Buffer.alloc(n * ID_BYTES);
    const lo = Buffer.alloc(ID_BYTES, 0);
    const hi = Buffer.alloc(ID_BYTES, 0xff);
    let plain = 0;
    for (let i = 0; i < n; i++) {
      refs.copy(lo, 0, i * CHUNK_REF_BYTES, (i + 1) * CHUNK_REF_BYTES);
      refs.copy(hi, 0, i * CHUNK_REF_BYTES, (i + 1) * CHUNK_REF_BYTES);
      const found = this.stmts.resolve.all(lo, hi);
      if (found.length !== 1) return null;
      found[0]![0].copy(out, i * ID_BYTES);
      plain += found[0]![1];
    }
    return plain === size ? out : null;
  }

  /** A file's row with its chunks' whole ids; undefined when absent or when a ref does not resolve. */
  get(path: Buffer): FileCacheRow | undefined {
    const { dir, name } = splitPath(path);
    const id = this.dirId(dir, false);
    if (id === undefined) return undefined;
    const row = this.stmts.get.get(id, name);
    if (row === undefined) return undefined;
    const stat = decodeStat(row);
    const chunks = this.resolve(row.chunks, stat.size);
    return chunks === null ? undefined : { path, ...stat, chunks };
  }

  /**
   * Drop rows whose refs no longer resolve (after gc), then directories no row names. Rows are
   * read PRUNE_PAGE_ROWS at a time in key order, each page's deletes in one transaction, so the
   * memory used stays bounded however many files the index knows.
   */
  prune(): number {
    const page = this.db.prepare<
      [number, Buffer, number],
      { dir: number; name: Buffer; size: number; chunks: Buffer }
    >('SELECT dir, name, size, chunks FROM files WHERE (dir, name) > (?, ?) ORDER BY dir, name LIMIT ?');
    const del = this.db.prepare<[number, Buffer]>('DELETE FROM files WHERE dir = ? AND name = ?');
    let pruned = 0;
    this.reset();
    let after: { dir: number; name: Buffer } = { dir: -1, name: Buffer.alloc(0) };
    for (;;) {
      const rows = page.all(after.dir, after.name, PRUNE_PAGE_ROWS);
      if (rows.length === 0) break;
      this.db.transaction(() => {
        for (const r of rows) {
          if (this.resolve(r.chunks, r.size) !== null) continue;
          del.run(r.dir, r.name);
          pruned++;
        }
      })();
      const last = rows.at(-1)!;
      after = { dir: last.dir, name: last.name };
    }
    this.db.exec('DELETE FROM dirs WHERE id NOT IN (SELECT dir FROM files)');
    return pruned;
  }
}
