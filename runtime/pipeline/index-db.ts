/**
 * The owner's index (docs/formats.md, "Index"): SQLite via better-sqlite3, WAL mode.
 * Stripes are committed one transaction each, together with their objects and the scan-cache
 * rows of files whose chunks are now all stored, so a crash at any point leaves a consistent
 * index that the next run resumes from. Everything here can be rebuilt from the stripes.
 */
import Database from 'better-sqlite3';
import { prepareSqliteFile } from '../store/private-mode.ts';
import { assert, PipelineError } from './errors.ts';
import { FileCache, type FileCacheRow } from './index-files.ts';
import { openSchema } from './index-schema.ts';
import { ObjectFilter } from './object-filter.ts';

export type { FileCacheRow } from './index-files.ts';
export { INDEX_SCHEMA_VERSION } from './index-schema.ts';

/** Misses after which hasObject builds its filter (about 10 ms of SQLite questions). */
export const OBJECT_FILTER_AFTER_MISSES = 1024;

export const KIND_DATA = 0;
export const KIND_TREE = 1;
export const KIND_SNAPSHOT = 2;

export interface ObjectRow {
  id: Buffer;
  kind: number;
  stripeSeq: number;
  offset: number;
  sealedBytes: number;
  plainBytes: number;
  /** codec.ts: 0 raw, 1 zstd. */
  codec: number;
}

export interface ShardRow {
  idx: number;
  shardId: string;
  member: string;
  fileBytes: number;
}

export interface StripeRow {
  seq: number;
  stripeId: string;
  k: number;
  m: number;
  shardBytes: number;
  dataBytes: number;
  createdMs: number;
}

export interface SnapshotRow {
  id: Buffer;
  timeMs: number;
  files: number;
  bytes: number;
}

export class IndexDb {
  readonly db: Database.Database;
  private readonly stmts;
  private readonly fileCache: FileCache;
  /** Built after enough misses (hasObject); null before. */
  private objectFilter: ObjectFilter | null = null;
  private objectMisses = 0;

  constructor(path: string) {
    try {
      prepareSqliteFile(path);
      this.db = new Database(path);
    } catch (error) {
      throw new PipelineError('io', `cannot open the index ${path}: ${String(error)}`, { cause: error });
    }
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      openSchema(this.db, path);
    } catch (error) {
      IndexDb.refuse(this.db, path, error);
    }
    const db = this.db;
    // A schema page that is not pb's (a column renamed) fails here: refused like a damaged file.
    this.stmts = IndexDb.guard(db, path, () => ({
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      ),
      hasObject: db.prepare<[Buffer], number>('SELECT 1 FROM objects WHERE id = ?').pluck(true),
      objectIds: db.prepare<[], Buffer>('SELECT id FROM objects').pluck(true),
      getObject: db.prepare<
        [Buffer],
        {
          kind: number;
          stripe_seq: number;
          offset: number;
          sealed_bytes: number;
          plain_bytes: number;
          codec: number;
        }
      >('SELECT kind, stripe_seq, offset, sealed_bytes, plain_bytes, codec FROM objects WHERE id = ?'),
      insertStripe: db.prepare(
        'INSERT INTO stripes (seq, stripe_id, k, m, shard_bytes, data_bytes, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      insertShard: db.prepare(
        'INSERT INTO shards (stripe_seq, idx, shard_id, member, file_bytes) VALUES (?, ?, ?, ?, ?)',
      ),
      insertObject: db.prepare(
        'INSERT OR IGNORE INTO objects (id, kind, stripe_seq, offset, sealed_bytes, plain_bytes, codec) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      getStripe: db.prepare<
        [number],
        {
          seq: number;
          stripe_id: string;
          k: number;
          m: number;
          shard_bytes: number;
          data_bytes: number;
          created_ms: number;
        }
      >('SELECT * FROM stripes WHERE seq = ?'),
      getShards: db.prepare<[number], { idx: number; shard_id: string; member: string; file_bytes: number }>(
        'SELECT idx, shard_id, member, file_bytes FROM shards WHERE stripe_seq = ? ORDER BY idx',
      ),
      insertSnapshot: db.prepare(
        'INSERT OR IGNORE INTO snapshots (id, time_ms, files, bytes) VALUES (?, ?, ?, ?)',
      ),
    }));
    this.fileCache = IndexDb.guard(db, path, () => new FileCache(db));
  }

  private static guard<T>(db: Database.Database, path: string, prepare: () => T): T {
    try {
      return prepare();
    } catch (error) {
      IndexDb.refuse(db, path, error);
    }
  }

  /** A damaged file (not a database, a schema that is not pb's) or a failing disk: a typed error. */
  private static refuse(db: Database.Database, path: string, error: unknown): never {
    db.close();
    if (error instanceof PipelineError) throw error;
    const code = String((error as { code?: unknown }).code ?? '');
    if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_ERROR')
      throw new PipelineError('corrupt', `the index ${path} is damaged or not pb's: ${String(error)}`, {
        cause: error,
      });
    throw new PipelineError('io', `cannot open the index ${path}: ${String(error)}`, { cause: error });
  }

  close(): void {
    this.db.close();
  }

  getMeta(key: string): string | undefined {
    return (
      this.stmts
        ? this.stmts.getMeta.get(key)
        : this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(key)
    )?.value;
  }

  setMeta(key: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  private seqNext = 0;
  private seqEnd = 0;

  /**
   * A stripe sequence number never handed out before, durably (so a stripe id is never reused,
   * even after a crash between writing shards and committing them). Reserved in blocks of
   * SEQ_BLOCK to spare a commit per stripe; a crash skips the rest of a block (gaps are fine).
   */
  allocateStripeSeq(): number {
    if (this.seqNext >= this.seqEnd) {
      const SEQ_BLOCK = 64;
      this.db.transaction(() => {
        const fromMeta = Number(this.stmts.getMeta.get('next_stripe_seq')?.value ?? '1');
        const maxRow = this.db.prepare<[], { m: number | null }>('SELECT MAX(seq) AS m FROM stripes').get();
        this.seqNext = Math.max(fromMeta, (maxRow?.m ?? 0) + 1);
        this.seqEnd = this.seqNext + SEQ_BLOCK;
        this.stmts.setMeta.run('next_stripe_seq', String(this.seqEnd));
      })();
    }
    return this.seqNext++;
  }

  /**
   * Is this object in the index? After OBJECT_FILTER_AFTER_MISSES misses (a backup of many new
   * objects) a Bloom filter of every id answers "absent" without SQLite (object-filter.ts); it
   * learns each id committed here afterwards.
   */
  hasObject(id: Buffer): boolean {
    if (this.objectFilter !== null && !this.objectFilter.mayHave(id)) return false;
    const found = this.stmts.hasObject.get(id) !== undefined;
    if (!found && this.objectFilter === null && ++this.objectMisses >= OBJECT_FILTER_AFTER_MISSES) {
      const filter = new ObjectFilter();
      for (const known of this.stmts.objectIds.iterate()) filter.add(known);
      this.objectFilter = filter;
    }
    return found;
  }

  /**
   * Runs `read` (synchronous lookups) in one read transaction: SQLite then takes its read lock
   * once, not once per statement (each is two fcntl locks and an fstat: a restore of 13,600
   * files made 48,000 such calls). Nested in a transaction, it is a savepoint.
   */
  readTogether<T>(read: () => T): T {
    return this.db.transaction(read)();
  }

  getObject(id: Buffer): ObjectRow | undefined {
    const row = this.stmts.getObject.get(id);
    if (!row) return undefined;
    return {
      id,
      kind: row.kind,
      stripeSeq: row.stripe_seq,
      offset: row.offset,
      sealedBytes: row.sealed_bytes,
      plainBytes: row.plain_bytes,
      codec: row.codec,
    };
  }

  /** One transaction: the stripe, its shards, its objects and the files now fully stored. */
  commitStripe(stripe: StripeRow, shards: ShardRow[], objects: ObjectRow[], files: FileCacheRow[]): void {
    assert(shards.length === stripe.k + stripe.m, 'a stripe commits k+m shards');
    this.inTransaction(() => {
      this.stmts.insertStripe.run(
        stripe.seq,
        stripe.stripeId,
        stripe.k,
        stripe.m,
        stripe.shardBytes,
        stripe.dataBytes,
        stripe.createdMs,
      );
      for (const s of shards) this.stmts.insertShard.run(stripe.seq, s.idx, s.shardId, s.member, s.fileBytes);
      for (const o of objects) {
        this.objectFilter?.add(o.id); // before the insert: a rollback leaves only a false "maybe"
        this.stmts.insertObject.run(o.id, o.kind, stripe.seq, o.offset, o.sealedBytes, o.plainBytes, o.codec);
      }
      this.fileCache.upsertAll(files);
    });
  }

  upsertFiles(files: FileCacheRow[]): void {
    this.inTransaction(() => this.fileCache.upsertAll(files));
  }

  /** A transaction that adds scan-cache rows: a rollback also forgets the directory ids it made. */
  private inTransaction(body: () => void): void {
    try {
      this.db.transaction(body)();
    } catch (error) {
      this.fileCache.reset();
      throw error;
    }
  }

  getFile(path: Buffer): FileCacheRow | undefined {
    return this.fileCache.get(path);
  }

  getStripe(seq: number): StripeRow | undefined {
    const r = this.stmts.getStripe.get(seq);
    if (!r) return undefined;
    return {
      seq: r.seq,
      stripeId: r.stripe_id,
      k: r.k,
      m: r.m,
      shardBytes: r.shard_bytes,
      dataBytes: r.data_bytes,
      createdMs: r.created_ms,
    };
  }

  getShards(seq: number): ShardRow[] {
    return this.stmts.getShards
      .all(seq)
      .map((r) => ({ idx: r.idx, shardId: r.shard_id, member: r.member, fileBytes: r.file_bytes }));
  }

  /** Bytes of shard files per member, for placement's best-of-two. */
  usedBytesByMember(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.db
      .prepare<[], { member: string; used: number }>(
        'SELECT member, SUM(file_bytes) AS used FROM shards GROUP BY member',
      )
      .all()) {
      out[r.member] = r.used;
    }
    return out;
  }

  /** Record a snapshot and make it the head, in one transaction. */
  addSnapshot(row: SnapshotRow, headBytes: Buffer): void {
    this.db.transaction(() => {
      this.stmts.insertSnapshot.run(row.id, row.timeMs, row.files, row.bytes);
      this.stmts.setMeta.run('head', headBytes.toString('base64'));
    })();
  }

  listSnapshots(): SnapshotRow[] {
    return this.db
      .prepare<[], { id: Buffer; time_ms: number; files: number; bytes: number }>(
        'SELECT * FROM snapshots ORDER BY time_ms, id',
      )
      .all()
      .map((r) => ({ id: r.id, timeMs: r.time_ms, files: r.files, bytes: r.bytes }));
  }

  deleteSnapshots(ids: Buffer[]): void {
    const stmt = this.db.prepare('DELETE FROM snapshots WHERE id = ?');
    this.db.transaction(() => {
      for (const id of ids) stmt.run(id);
    })();
  }

  allStripeSeqs(): number[] {
    return this.db
      .prepare<[], { seq: number }>('SELECT seq FROM stripes ORDER BY seq')
      .all()
      .map((r) => r.seq);
  }

  /**
   * The object ids of each of `seqs`, in one pass over `objects` (schema 3 has no index by stripe:
   * it cost as much per object as the objects themselves). A stripe with no objects maps to [].
   */
  objectIdsOfStripes(seqs: readonly number[]): Map<number, Buffer[]> {
    const out = new Map<number, Buffer[]>(seqs.map((seq) => [seq, []]));
    const stmt = this.db.prepare<[], { id: Buffer; stripe_seq: number }>(
      'SELECT id, stripe_seq FROM objects',
    );
    for (const r of stmt.iterate()) out.get(r.stripe_seq)?.push(r.id);
    return out;
  }

  /** Per stripe that has objects: how many, and how many `isLive` accepts (one pass). */
  liveObjectCounts(isLive: (id: Buffer) => boolean): Map<number, { objects: number; live: number }> {
    const out = new Map<number, { objects: number; live: number }>();
    const stmt = this.db.prepare<[], { id: Buffer; stripe_seq: number }>(
      'SELECT id, stripe_seq FROM objects',
    );
    for (const r of stmt.iterate()) {
      const c = out.get(r.stripe_seq) ?? { objects: 0, live: 0 };
      out.set(r.stripe_seq, c);
      c.objects++;
      if (isLive(r.id)) c.live++;
    }
    return out;
  }

  /** Forgets the stripes, their shards and their objects, in one transaction (one pass over objects). */
  deleteStripes(seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    const list = JSON.stringify(seqs);
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM objects WHERE stripe_seq IN (SELECT value FROM json_each(?))').run(list);
      const shards = this.db.prepare('DELETE FROM shards WHERE stripe_seq = ?');
      const stripes = this.db.prepare('DELETE FROM stripes WHERE seq = ?');
      for (const seq of seqs) {
        shards.run(seq);
        stripes.run(seq);
      }
    })();
  }

  allShardIds(): Set<string> {
    return new Set(
      this.db
        .prepare<[], { shard_id: string }>('SELECT shard_id FROM shards')
        .all()
        .map((r) => r.shard_id),
    );
  }

  /** Every shard row: where the index believes each shard is (the owner's view). */
  shardLocations(): { seq: number; idx: number; shardId: string; member: string }[] {
    return this.db
      .prepare<[], { stripe_seq: number; idx: number; shard_id: string; member: string }>(
        'SELECT stripe_seq, idx, shard_id, member FROM shards ORDER BY stripe_seq, idx',
      )
      .all()
      .map((r) => ({ seq: r.stripe_seq, idx: r.idx, shardId: r.shard_id, member: r.member }));
  }

  /** Records that shard `idx` of stripe `seq` (id `shardId`) is now held by `member`. */
  moveShard(seq: number, idx: number, shardId: string, member: string): void {
    const r = this.db
      .prepare('UPDATE shards SET member = ? WHERE stripe_seq = ? AND idx = ? AND shard_id = ?')
      .run(member, seq, idx, shardId);
    if (r.changes !== 1)
      throw new PipelineError('not-found', `no shard ${shardId} at ${seq}/${idx} in the index to move`);
  }

  /** Drop scan-cache rows that name an object no longer stored (after gc). */
  pruneFileCache(): number {
    return this.fileCache.prune();
  }
}
