/**
 * A read-only view of the owner's index (docs/formats.md, "Index") for readers beside the
 * pipeline: status reads it while a backup writes it (WAL: readers never block the writer). The
 * schema is index-db.ts's; every query of another module into the index lives here, next to it.
 */
import * as fs from 'node:fs';
import Database from 'better-sqlite3';
import { decodeStat, type FileStatRow, splitPath } from './index-files.ts';
import { INDEX_SCHEMA_VERSION } from './index-schema.ts';

/**
 * Index schemas this reader understands: the current one, and 1 and 2 (the pipeline upgrades
 * them the next time it opens the index), whose scan cache is keyed by the whole path with the
 * stat numbers as text; the other queries read what all three have in the same shape.
 */
export const READABLE_INDEX_SCHEMAS: readonly string[] = ['1', '2', String(INDEX_SCHEMA_VERSION)];

export interface StripeShapeRow {
  readonly seq: number;
  readonly k: number;
  readonly m: number;
  readonly shardBytes: number;
}

export interface IndexShardRow {
  readonly seq: number;
  readonly idx: number;
  readonly shardId: string;
  readonly member: string;
  readonly createdMs: number;
}

/** The scan-cache row of a file (what the pending check compares with the disk). */
export type IndexFileRow = Readonly<FileStatRow>;

export class IndexReader {
  private db: Database.Database | null = null;
  private version = '';
  /** Prepared once: the pending check asks for one row per file. */
  private fileStmt: ((path: Buffer) => IndexFileRow | undefined) | null = null;

  constructor(readonly path: string) {}

  /** The database, opened on first use; null while no index exists yet. */
  private open(): Database.Database | null {
    if (this.db !== null) return this.db;
    if (!fs.existsSync(this.path)) return null;
    const db = new Database(this.path, { readonly: true, fileMustExist: true });
    const version = db
      .prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'")
      .get()?.value;
    if (version === undefined || !READABLE_INDEX_SCHEMAS.includes(version)) {
      db.close();
      throw new Error(
        `the index ${this.path} has schema ${String(version)}; this reader reads ${READABLE_INDEX_SCHEMAS.join(' and ')}`,
      );
    }
    this.db = db;
    this.version = version;
    return db;
  }

  /** Every stripe's code and shard size. */
  stripeShapes(): StripeShapeRow[] {
    const db = this.open();
    if (db === null) return [];
    return db
      .prepare<[], { seq: number; k: number; m: number; shard_bytes: number }>(
        'SELECT seq, k, m, shard_bytes FROM stripes',
      )
      .all()
      .map((r) => ({ seq: r.seq, k: r.k, m: r.m, shardBytes: r.shard_bytes }));
  }

  /** Every shard row (where the owner put each shard), by stripe and index. */
  shardRows(): IndexShardRow[] {
    const db = this.open();
    if (db === null) return [];
    return db
      .prepare<[], { seq: number; idx: number; shard_id: string; member: string; created_ms: number }>(
        `SELECT stripe_seq AS seq, idx, shard_id, member, created_ms FROM shards
           JOIN stripes ON stripes.seq = shards.stripe_seq ORDER BY stripe_seq, idx`,
      )
      .all()
      .map((r) => ({
        seq: r.seq,
        idx: r.idx,
        shardId: r.shard_id,
        member: r.member,
        createdMs: r.created_ms,
      }));
  }

  lastSnapshot(): { id: string; atMs: number; files: number; bytes: number } | null {
    const db = this.open();
    if (db === null) return null;
    const r = db
      .prepare<[], { id: Buffer; time_ms: number; files: number; bytes: number }>(
        'SELECT id, time_ms, files, bytes FROM snapshots ORDER BY time_ms DESC, id DESC LIMIT 1',
      )
      .get();
    return r === undefined
      ? null
      : { id: r.id.toString('hex'), atMs: r.time_ms, files: r.files, bytes: r.bytes };
  }

  /** The newest `limit` stripe commits (time, data bytes), newest first. */
  recentCommits(limit: number): { atMs: number; dataBytes: number }[] {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`recentCommits: bad limit ${limit}`);
    const db = this.open();
    if (db === null) return [];
    return db
      .prepare<[number], { created_ms: number; data_bytes: number }>(
        'SELECT created_ms, data_bytes FROM stripes ORDER BY created_ms DESC LIMIT ?',
      )
      .all(limit)
      .map((r) => ({ atMs: r.created_ms, dataBytes: r.data_bytes }));
  }

  /** The scan-cache row of a file; the index upgraded under an open reader is opened again. */
  fileRow(path: Buffer): IndexFileRow | undefined {
    try {
      return this.fileLookup()?.(path);
    } catch (error) {
      if (this.version === String(INDEX_SCHEMA_VERSION)) throw error;
      this.close();
      return this.fileLookup()?.(path);
    }
  }

  private fileLookup(): ((path: Buffer) => IndexFileRow | undefined) | null {
    const db = this.open();
    if (db === null) return null;
    if (this.fileStmt !== null) return this.fileStmt;
    if (this.version !== String(INDEX_SCHEMA_VERSION)) {
      const old = db.prepare<[Buffer], { size: number; mtime_ns: string; ctime_ns: string; ino: string }>(
        'SELECT size, mtime_ns, ctime_ns, ino FROM files WHERE path = ?',
      );
      this.fileStmt = (path) => {
        const r = old.get(path);
        return r === undefined
          ? undefined
          : { size: r.size, mtimeNs: r.mtime_ns, ctimeNs: r.ctime_ns, ino: r.ino };
      };
    } else {
      const stmt = db
        .prepare<[Buffer, Buffer], { size: bigint; mtime_ns: bigint; ctime_delta_ns: bigint; ino: bigint }>(
          `SELECT f.size, f.mtime_ns, f.ctime_delta_ns, f.ino FROM dirs d JOIN files f ON f.dir = d.id
           WHERE d.path = ? AND f.name = ?`,
        )
        .safeIntegers(true);
      this.fileStmt = (path) => {
        const { dir, name } = splitPath(path);
        const r = stmt.get(dir, name);
        return r === undefined ? undefined : decodeStat(r);
      };
    }
    return this.fileStmt;
  }

  close(): void {
    this.fileStmt = null;
    this.db?.close();
    this.db = null;
  }
}
