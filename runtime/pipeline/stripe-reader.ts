/**
 * Reads a stripe's data area back: fetches the k data shards; any that is missing, corrupt or
 * unreachable is replaced by parity shards and rebuilt with Reed-Solomon from any k good ones.
 * Every shard is verified twice: by its store (SHA-256 of the file = its id) and here (trailer
 * checksum, stripe id, k, m, index, body hash).
 */
import { copyBytes } from '../copy-bytes.ts';
import type { ShardDirectory } from '../store/shard-store.ts';
import { AreaPool } from './area-pool.ts';
import { openObject } from './chunk-crypto.ts';
import { reconstructData } from './erasure.ts';
import { PipelineError } from './errors.ts';
import type { IndexDb, ShardRow, StripeRow } from './index-db.ts';
import { decodeShard } from './shard-format.ts';

export interface StripeReadReport {
  /** Shards that could not be used, each named once: "stripe/idx on member: reason". */
  badShards: string[];
  /** Stripes rebuilt from parity, each counted once. */
  rebuilt: number;
  /** Stripes read whole (k shards fetched and verified, or rebuilt). */
  read: number;
}

export class StripeReader {
  private readonly index: IndexDb;
  private readonly directory: ShardDirectory;
  private readonly cache = new Map<number, Promise<Buffer>>();
  private readonly cacheLimit: number;
  /** Stripe rows and shard rows for range reads, the latest few (a walk reads one stripe's trees at a time). */
  private readonly layouts = new Map<number, { stripe: StripeRow; shards: ShardRow[] } | null>();
  readonly report: StripeReadReport = { badShards: [], rebuilt: 0, read: 0 };
  /**
   * Stripes found with a bad or missing data shard. A stripe is counted and its bad shards named
   * once, however often it is read (a restore's tree walk and its files may read one stripe after
   * it left the cache), and it is read verified from then on, without trying its shards unverified
   * again. Bounded by the stripes one restore reads.
   */
  private readonly damaged = new Set<number>();
  private readonly namedBad = new Set<string>();

  /** Cached areas read without verifying their shards (`trustObjects`). */
  private readonly unverified = new Set<number>();
  /** Areas of unverified reads, reused (area-pool.ts). */
  private readonly pool = new AreaPool();
  /**
   * Leases (`withArea`) per load, cached or not: a load's area goes back to the pool only when it
   * is neither cached nor leased, so no reader ever sees it refilled under its feet.
   */
  private readonly leases = new Map<Promise<Buffer>, number>();

  /**
   * `trustObjects` (a restore): a stripe whose data shards' stores can read into a buffer
   * (`ShardStore.readInto`) is read straight into its area, unverified; its reader authenticates
   * every object it opens and, when one fails, asks for `verified` (the shards hashed and checked,
   * rebuilt from parity when one is bad). A restore verifies every byte it writes either way; it
   * no longer hashes every shard and joins them in a second buffer first (on the real tree a
   * sixth of the main thread's time).
   */
  constructor(
    index: IndexDb,
    directory: ShardDirectory,
    cacheStripes = 2,
    private readonly trustObjects = false,
  ) {
    this.index = index;
    this.directory = directory;
    this.cacheLimit = cacheStripes;
  }

  /** Starts reading the stripe into the cache (read it with withArea). */
  prefetch(seq: number): void {
    this.area(seq).catch(() => undefined); // its reader will see the failure
  }

  /** The stripe's data area (k x shardBytes): verified, rebuilt if needed, unless `trustObjects`. */
  private area(seq: number): Promise<Buffer> {
    const hit = this.cache.get(seq);
    if (hit) {
      this.cache.delete(seq);
      this.cache.set(seq, hit);
      return hit;
    }
    const work = this.trustObjects ? this.loadTrusting(seq) : this.load(seq);
    return this.remember(seq, work);
  }

  /**
   * Runs `use` on the stripe's area (the verified one when `verified`); the area is not reused
   * before `use` has settled. Callers that keep the area past an await must read it this way.
   */
  async withArea<T>(seq: number, use: (area: Buffer) => T | Promise<T>, verified = false): Promise<T> {
    const work = verified ? this.verified(seq) : this.area(seq);
    this.leases.set(work, (this.leases.get(work) ?? 0) + 1);
    try {
      return await use(await work);
    } finally {
      const left = this.leases.get(work)! - 1;
      if (left > 0) this.leases.set(work, left);
      else {
        this.leases.delete(work);
        this.recycle(work);
      }
    }
  }

  /** Whether the stripe's cached area (if any) came from verified shards. */
  isVerified(seq: number): boolean {
    return !this.unverified.has(seq);
  }

  /** The stripe's area from verified shards (rebuilt if needed), read again if the cached one is not. */
  private verified(seq: number): Promise<Buffer> {
    if (this.cache.has(seq) && !this.unverified.has(seq)) return this.area(seq);
    this.drop(seq);
    return this.remember(seq, this.load(seq));
  }

  /** Forgets a cached stripe; its area goes back to the pool unless it is leased. */
  private drop(seq: number): void {
    const work = this.cache.get(seq);
    this.cache.delete(seq);
    this.unverified.delete(seq);
    if (work !== undefined) this.recycle(work);
  }

  /** Gives a load's area back to the pool once it is neither cached nor leased. */
  private recycle(work: Promise<Buffer>): void {
    if (this.leases.has(work)) return;
    for (const cached of this.cache.values()) if (cached === work) return;
    work.then(
      (area) => this.pool.give(area),
      () => undefined,
    );
  }

  private remember(seq: number, work: Promise<Buffer>): Promise<Buffer> {
    this.cache.set(seq, work);
    work.catch(() => {
      if (this.cache.get(seq) === work) this.drop(seq);
    });
    while (this.cache.size > this.cacheLimit) this.drop(this.cache.keys().next().value!);
    return work;
  }

  /** The k data shards read straight into the area, unverified; the verified read when that fails. */
  private async loadTrusting(seq: number): Promise<Buffer> {
    const layout = this.damaged.has(seq) ? null : this.layoutOf(seq);
    if (layout === null) return this.load(seq);
    const { k, shardBytes } = layout.stripe;
    // Shared memory: the restore workers read the objects where they are (open-pool.ts).
    const area = this.pool.take(k * shardBytes);
    const readAll = async (idx: number): Promise<boolean> => {
      const s = layout.shards.find((x) => x.idx === idx);
      const store = s === undefined ? undefined : this.directory.storeFor(s.member);
      if (store?.readInto === undefined) return false;
      return (await store.readInto(s!.shardId, 0, area, idx * shardBytes, shardBytes)) === shardBytes;
    };
    const read = await Promise.all(Array.from({ length: k }, (_, idx) => readAll(idx).catch(() => false)));
    if (!read.every(Boolean)) {
      this.pool.give(area); // every read has settled: nothing writes into it any more
      return this.load(seq);
    }
    this.report.read++;
    this.unverified.add(seq);
    return area;
  }

  /**
   * The bytes [offset, offset + length) of the stripe's data area, read from the one data shard
   * that holds them without reading the stripe. UNVERIFIED: the caller authenticates them. Null
   * when the area is cached (use it), when the range crosses shards, when the shard's store cannot
   * read ranges, or when the read fails (the stripe read says why).
   */
  rangeOf(seq: number, offset: number, length: number): Buffer | null {
    const at = this.rangeShard(seq, offset, length);
    return at === null ? null : this.readSyncAt(at, length);
  }

  /**
   * rangeOf for any store: a store that reads ranges only asynchronously (a member over the
   * network: a range request, docs/protocols.md section 4) is asked for the bytes. Null in the
   * same cases as rangeOf, and when the store reads no ranges or returns fewer bytes.
   */
  async rangeOfAsync(seq: number, offset: number, length: number): Promise<Buffer | null> {
    const at = this.rangeShard(seq, offset, length);
    if (at === null) return null;
    try {
      const store = this.directory.storeFor(at.shard.member);
      if (store.readRangeSync !== undefined) return this.readSyncAt(at, length);
      if (store.readInto === undefined) return null;
      const bytes = Buffer.allocUnsafe(length);
      const n = await store.readInto(at.shard.shardId, at.from, bytes, 0, length);
      return n === length ? bytes : null;
    } catch {
      return null;
    }
  }

  /** `length` bytes at `at` from a store that reads ranges synchronously; null otherwise or on failure. */
  private readSyncAt(at: { shard: ShardRow; from: number }, length: number): Buffer | null {
    try {
      const bytes = this.directory
        .storeFor(at.shard.member)
        .readRangeSync?.(at.shard.shardId, at.from, length);
      return bytes === undefined ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch {
      return null;
    }
  }

  /** The data shard that holds [offset, offset + length) of the stripe's area, and where in it. */
  private rangeShard(seq: number, offset: number, length: number): { shard: ShardRow; from: number } | null {
    if (this.cache.has(seq) || length <= 0) return null;
    const layout = this.layoutOf(seq);
    if (layout === null) return null;
    const { shardBytes, k } = layout.stripe;
    const idx = Math.floor(offset / shardBytes);
    if (offset < 0 || idx >= k || Math.floor((offset + length - 1) / shardBytes) !== idx) return null;
    const shard = layout.shards.find((s) => s.idx === idx);
    return shard === undefined ? null : { shard, from: offset - idx * shardBytes };
  }

  private layoutOf(seq: number): { stripe: StripeRow; shards: ShardRow[] } | null {
    let layout = this.layouts.get(seq);
    if (layout === undefined) {
      const stripe = this.index.getStripe(seq);
      layout = stripe === undefined ? null : { stripe, shards: this.index.getShards(seq) };
      this.layouts.set(seq, layout);
      if (this.layouts.size > 64) this.layouts.delete(this.layouts.keys().next().value!);
    }
    return layout;
  }

  private async fetchBody(
    stripe: StripeRow,
    idx: number,
    shardId: string,
    member: string,
  ): Promise<Buffer | null> {
    try {
      const bytes = await this.directory.storeFor(member).get(shardId);
      // The store verified SHA-256(file) = the id our index recorded: the body is what we wrote.
      const { header, body } = decodeShard(bytes, false);
      if (
        header.stripeId !== stripe.stripeId ||
        header.k !== stripe.k ||
        header.m !== stripe.m ||
        header.index !== idx ||
        header.bodyBytes !== stripe.shardBytes
      ) {
        throw new PipelineError('corrupt', 'header does not match the index');
      }
      return body;
    } catch (error) {
      const shard = `${stripe.stripeId}/${idx}`;
      if (!this.namedBad.has(shard)) {
        this.namedBad.add(shard);
        this.report.badShards.push(`${shard} on ${member}: ${(error as Error).message}`);
      }
      return null;
    }
  }

  private async load(seq: number): Promise<Buffer> {
    this.report.read++;
    const stripe = this.index.getStripe(seq);
    if (!stripe) throw new PipelineError('not-found', `stripe ${seq} is not in the index`);
    const shards = this.index.getShards(seq);
    const { k, m } = stripe;
    const bodies: (Buffer | null)[] = new Array(k + m).fill(null);
    await Promise.all(
      shards
        .filter((s) => s.idx < k)
        .map(async (s) => {
          bodies[s.idx] = await this.fetchBody(stripe, s.idx, s.shardId, s.member);
        }),
    );
    let good = bodies.filter(Boolean).length;
    if (good === k) {
      // Into a pooled, shared area: the restore workers read it where it is (no copy for them,
      // and no 16 MiB of fresh heap per stripe for the collector).
      const area = this.pool.take(k * stripe.shardBytes);
      for (let i = 0; i < k; i++) copyBytes(area, i * stripe.shardBytes, bodies[i]!);
      return area;
    }
    for (const s of shards.filter((x) => x.idx >= k)) {
      if (good >= k) break;
      const body = await this.fetchBody(stripe, s.idx, s.shardId, s.member);
      if (body) {
        bodies[s.idx] = body;
        good++;
      }
    }
    if (good < k) {
      throw new PipelineError(
        'unrecoverable',
        `stripe ${stripe.stripeId} cannot be read: only ${good} of ${k + m} shards are good and ${k} are needed`,
      );
    }
    if (!this.damaged.has(seq)) {
      this.damaged.add(seq);
      this.report.rebuilt++;
    }
    return reconstructData(k, m, bodies, stripe.shardBytes);
  }
}

/** Reads and verifies objects (chunks, tree pieces, snapshots) by id. */
export class ObjectReader {
  readonly stripes: StripeReader;
  private readonly index: IndexDb;
  private readonly keys: { dataKey: Uint8Array; chunkIdKey: Uint8Array };

  constructor(
    index: IndexDb,
    directory: ShardDirectory,
    keys: { dataKey: Uint8Array; chunkIdKey: Uint8Array },
    cacheStripes = 2,
    /** StripeReader's `trustObjects` (a restore). */
    trustObjects = false,
  ) {
    this.index = index;
    this.keys = keys;
    this.stripes = new StripeReader(index, directory, cacheStripes, trustObjects);
  }

  /** Open an object found in a stripe area (tag and id verified). */
  openIn(area: Buffer, id: Buffer, offset: number, sealedBytes: number, codec: number): Buffer {
    if (offset + sealedBytes > area.length)
      throw new PipelineError('corrupt', `object ${id.toString('hex')} lies outside its stripe`);
    return openObject(
      this.keys.dataKey,
      this.keys.chunkIdKey,
      id,
      area.subarray(offset, offset + sealedBytes),
      codec,
    );
  }

  /**
   * Opens an object by reading its bytes alone (`StripeReader.rangeOf`), authenticated as any;
   * null when they cannot be read so or do not authenticate (the caller then reads the stripe,
   * whose shards are verified, and rebuilt when one is bad).
   */
  openRange(seq: number, id: Buffer, offset: number, sealedBytes: number, codec: number): Buffer | null {
    return this.openSealed(id, this.stripes.rangeOf(seq, offset, sealedBytes), codec);
  }

  /** openRange for any store: a member over the network is asked for the object's bytes only. */
  async openRangeAsync(
    seq: number,
    id: Buffer,
    offset: number,
    sealedBytes: number,
    codec: number,
  ): Promise<Buffer | null> {
    return this.openSealed(id, await this.stripes.rangeOfAsync(seq, offset, sealedBytes), codec);
  }

  /** Bytes read alone, opened (tag and id checked); null when there are none or they fail. */
  private openSealed(id: Buffer, sealed: Buffer | null, codec: number): Buffer | null {
    if (sealed === null) return null;
    try {
      return openObject(this.keys.dataKey, this.keys.chunkIdKey, id, sealed, codec);
    } catch {
      return null;
    }
  }

  async read(id: Buffer): Promise<Buffer> {
    const row = this.index.getObject(id);
    if (!row) throw new PipelineError('not-found', `object ${id.toString('hex')} is not in the index`);
    const opened = await this.openRangeAsync(row.stripeSeq, id, row.offset, row.sealedBytes, row.codec);
    if (opened !== null) return opened;
    const seq = row.stripeSeq;
    const open = (area: Buffer): Buffer => this.openIn(area, id, row.offset, row.sealedBytes, row.codec);
    try {
      return await this.stripes.withArea(seq, open);
    } catch (error) {
      if (this.stripes.isVerified(seq)) throw error;
      return await this.stripes.withArea(seq, open, true);
    }
  }

  /** The concatenated plaintexts of a list of objects (a chunked tree). */
  async readAll(ids: readonly Buffer[]): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (const id of ids) parts.push(await this.read(id));
    return Buffer.concat(parts);
  }
}
