/**
 * Packs sealed objects into stripes and stores them (docs/design.md §6).
 *
 * Objects are appended to the open stripe's buffer; when the next one would not fit in
 * `targetBytes`, the stripe is sealed: directory written, Reed-Solomon parity computed, the k+m
 * shard files built, placed with the engine's `chooseStripe` over the members other than the
 * owner, put to their stores and committed to the index in one transaction.
 *
 * A sealed stripe goes through three stages: prepare (directory, placement, Reed-Solomon, shard
 * files; one stripe at a time, in order), write (its k+m puts; up to WRITE_SETS stripes at once,
 * so the disk is kept busy while the next stripe is prepared) and commit (index transaction, in
 * stripe order, only after the stripe's own shards are durable).
 *
 * Memory is bounded and reused: STRIPE_SLOTS data areas (one fills while the other is being
 * prepared), one parity buffer (prepares are serial) and WRITE_SETS sets of k+m shard-file
 * buffers (one per stripe being written).
 */
import { chooseStripe, type PlacementPlan, stripeBaseId } from '../../engine/index.ts';
import type { ShardDirectory } from '../store/shard-store.ts';
import { CODEC_RAW, type Codec } from './codec.ts';
import { allSettledOrThrow } from './each-limit.ts';
import { encodeParity } from './erasure.ts';
import { assert, PipelineError } from './errors.ts';
import type { FileCacheRow, IndexDb, ObjectRow } from './index-db.ts';
import { reclaimShortLived } from './memory.ts';
import { buildShards, shardHeaderBytes } from './shard-format.ts';
import { directoryBytes, shardBytesFor, writeDirectory } from './stripe-layout.ts';

/** The largest object a stripe accepts (a maximal chunk plus its envelope fits with room). */
export const MAX_OBJECT_BYTES = 4 * 1024 * 1024 + 4096;

export const STRIPE_SLOTS = 2;
/** Stripes whose shards may be in flight to their stores at once. */
export const WRITE_SETS = 3;

/** A stripe's data area: one fills while the other is being prepared. */
interface Slot {
  area: Buffer;
}

export interface StripeWriterOptions {
  index: IndexDb;
  directory: ShardDirectory;
  owner: string;
  dataKey: Uint8Array;
  plan: PlacementPlan;
  k: number;
  m: number;
  targetBytes: number;
  nowMs: () => number;
  /** Called after each stripe is committed (tests use it to crash at chosen points). */
  onCommitted?: (seq: number) => void;
}

export interface StripeWriterStats {
  stripes: number;
  objectsStored: number;
  objectsDeduplicated: number;
  sealedBytesStored: number;
  shardBytesWritten: number;
}

interface PreparedStripe {
  seq: number;
  stripeId: string;
  members: string[];
  shardBytes: number;
  total: number;
  shards: { id: string; bytes: Buffer }[];
  files: Buffer[];
}

interface PendingObject {
  id: Buffer;
  kind: number;
  offset: number;
  sealedBytes: number;
  plainBytes: number;
  codec: Codec;
}

export class StripeWriter {
  private readonly o: StripeWriterOptions;
  private buf: Buffer | null = null;
  private slot: Slot | null = null;
  private readonly freeSlots: Slot[] = [];
  private slotsMade = 0;
  private readonly inFlightWrites = new Set<Promise<void>>();
  private parity: Buffer | null = null;
  private readonly freeFileSets: Buffer[][] = [];
  private fileSetsMade = 0;
  /** Resolved whenever a slot or a file set is freed (or a stripe fails). */
  private freed: (() => void)[] = [];
  private used = 0;
  private objects: PendingObject[] = [];
  private readonly pendingIds = new Set<string>();
  private failure: unknown = null;
  private readonly usedBytes: Record<string, number>;
  private openGeneration = 0;
  private committedGeneration = -1;
  private pendingFiles: { row: FileCacheRow; generation: number }[] = [];
  readonly stats: StripeWriterStats = {
    stripes: 0,
    objectsStored: 0,
    objectsDeduplicated: 0,
    sealedBytesStored: 0,
    shardBytesWritten: 0,
  };

  constructor(options: StripeWriterOptions) {
    assert(
      options.targetBytes >= MAX_OBJECT_BYTES + directoryBytes(1),
      'a stripe holds at least one maximal object',
    );
    assert(options.plan.shardsPerStripe === options.k + options.m, 'the placement plan is for k+m shards');
    this.o = options;
    this.usedBytes = options.index.usedBytesByMember();
  }

  /** Is this object stored already, or waiting in a stripe being written? */
  has(id: Buffer): boolean {
    return this.pendingIds.has(id.toString('hex')) || this.o.index.hasObject(id);
  }

  private addQueue: Promise<unknown> = Promise.resolve();

  /**
   * Add a sealed object unless it is known; resolves when it is in a stripe buffer. Calls are
   * serialised (batches of several files arrive at once; the open stripe has one writer).
   */
  add(
    id: Buffer,
    kind: number,
    sealed: Uint8Array | Uint8Array[],
    plainBytes: number,
    codec: Codec = CODEC_RAW,
  ): Promise<boolean> {
    const run = this.addQueue.then(() => this.addNow(id, kind, sealed, plainBytes, codec));
    this.addQueue = run.catch(() => undefined);
    return run;
  }

  private async addNow(
    id: Buffer,
    kind: number,
    sealedOrParts: Uint8Array | Uint8Array[],
    plainBytes: number,
    codec: Codec,
  ): Promise<boolean> {
    const parts = Array.isArray(sealedOrParts) ? sealedOrParts : [sealedOrParts];
    const sealed = { length: parts.reduce((n, p) => n + p.length, 0) };
    this.throwIfFailed();
    if (this.has(id)) {
      this.stats.objectsDeduplicated++;
      return false;
    }
    if (sealed.length > MAX_OBJECT_BYTES) {
      throw new PipelineError(
        'invalid-argument',
        `object of ${sealed.length} bytes exceeds ${MAX_OBJECT_BYTES}`,
      );
    }
    if (
      this.buf &&
      this.used + sealed.length + directoryBytes(this.objects.length + 1) > this.o.targetBytes
    ) {
      await this.sealOpen();
    }
    if (!this.buf) {
      this.slot = await this.takeSlot();
      this.buf = this.slot.area;
    }
    let at = this.used;
    for (const part of parts) {
      this.buf.set(part, at);
      at += part.length;
    }
    this.objects.push({ id, kind, offset: this.used, sealedBytes: sealed.length, plainBytes, codec });
    this.pendingIds.add(id.toString('hex'));
    this.used += sealed.length;
    return true;
  }

  /** Record a file's scan-cache row; it is committed with the stripe holding its last chunk. */
  addFileRow(row: FileCacheRow): void {
    this.pendingFiles.push({ row, generation: this.openGeneration });
  }

  /** Seal the open stripe (padded) and wait until every stripe is stored and committed. */
  async flush(): Promise<void> {
    await this.addQueue;
    if (this.objects.length > 0) await this.sealOpen();
    await this.waitInFlight();
    if (this.pendingFiles.length > 0) {
      this.o.index.upsertFiles(this.pendingFiles.map((f) => f.row));
      this.pendingFiles = [];
    }
  }

  /** Wait for writes in flight without sealing (after a failure elsewhere). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inFlightWrites]);
  }

  private wakeWaiters(): void {
    const waiters = this.freed;
    this.freed = [];
    for (const wake of waiters) wake();
  }

  private waitForFree(): Promise<void> {
    return new Promise((resolve) => this.freed.push(resolve));
  }

  private maxShardBytes(): number {
    return Math.ceil(this.o.targetBytes / this.o.k / 8) * 8 + 8;
  }

  private async takeSlot(): Promise<Slot> {
    for (;;) {
      this.throwIfFailed();
      const free = this.freeSlots.pop();
      if (free) return free;
      if (this.slotsMade < STRIPE_SLOTS) {
        this.slotsMade++;
        return { area: Buffer.allocUnsafeSlow(this.o.k * this.maxShardBytes()) };
      }
      await this.waitForFree();
    }
  }

  private async takeFileSet(): Promise<Buffer[]> {
    for (;;) {
      this.throwIfFailed();
      const free = this.freeFileSets.pop();
      if (free) return free;
      if (this.fileSetsMade < WRITE_SETS) {
        this.fileSetsMade++;
        const { k, m, owner } = this.o;
        const fileBytes = shardHeaderBytes(256, Buffer.byteLength(owner), k, m) + this.maxShardBytes();
        return Array.from({ length: k + m }, () => Buffer.allocUnsafeSlow(fileBytes));
      }
      await this.waitForFree();
    }
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  private async waitInFlight(): Promise<void> {
    await Promise.allSettled([...this.inFlightWrites]);
    this.throwIfFailed();
  }

  private async sealOpen(): Promise<void> {
    const slot = this.slot;
    const objects = this.objects;
    const used = this.used;
    assert(slot && objects.length > 0, 'sealing a non-empty stripe');
    this.buf = null;
    this.slot = null;
    this.objects = [];
    this.used = 0;
    const generation = this.openGeneration++;
    // Prepares run one at a time in stripe order; commits too (the scan cache relies on it).
    const previousPrepare = this.lastPrepare;
    const previousCommit = this.lastCommit;
    let slotFreed = false;
    const freeSlot = (): void => {
      if (slotFreed) return;
      slotFreed = true;
      this.freeSlots.push(slot);
      this.wakeWaiters();
    };
    const prepared = (async () => {
      await previousPrepare;
      try {
        return await this.prepareStripe(slot, used, objects);
      } finally {
        freeSlot(); // the shard files hold copies: the area may fill again
      }
    })();
    const work: Promise<void> = (async () => {
      const stripe = await prepared;
      try {
        await this.putShards(stripe);
        await previousCommit;
        this.commit(stripe, objects, used, generation);
      } finally {
        this.freeFileSets.push(stripe.files);
        this.wakeWaiters();
      }
    })()
      .catch((error: unknown) => {
        this.failure ??= error;
        this.wakeWaiters();
        throw error;
      })
      .finally(() => {
        this.inFlightWrites.delete(work);
        freeSlot();
      });
    this.lastPrepare = prepared.then(
      () => undefined,
      () => undefined,
    );
    this.lastCommit = work;
    work.catch(() => undefined);
    this.inFlightWrites.add(work);
    reclaimShortLived(); // the sealed chunks just copied into this stripe are garbage now
    this.throwIfFailed();
  }

  private lastPrepare: Promise<void> = Promise.resolve();
  private lastCommit: Promise<void> = Promise.resolve();

  /** Directory, placement, parity and shard files of a sealed stripe. */
  private async prepareStripe(slot: Slot, used: number, objects: PendingObject[]): Promise<PreparedStripe> {
    this.throwIfFailed();
    const buf = slot.area;
    const { k, m, owner } = this.o;
    const total = used + directoryBytes(objects.length);
    const shardBytes = shardBytesFor(total, k);
    assert(buf.length >= k * shardBytes, 'the slot holds the padded stripe');
    const area = buf.subarray(0, k * shardBytes);
    area.fill(0, used, k * shardBytes - directoryBytes(objects.length));
    const files = await this.takeFileSet();
    try {
      const seq = this.o.index.allocateStripeSeq();
      // Trailer bytes: ids + hashes + fixed fields + checksum; placement only needs the order of magnitude.
      const fileBytesEstimate = shardBytes + 160 + 32 * (k + m) + 48;
      const { stripeId, members } = chooseStripe(
        this.o.plan,
        stripeBaseId(owner, seq),
        this.usedBytes,
        fileBytesEstimate,
      );
      writeDirectory(area, stripeId, this.o.dataKey, objects);
      this.parity ??= Buffer.allocUnsafeSlow(m * this.maxShardBytes());
      const parity = await encodeParity(k, m, area, shardBytes, this.parity);
      const bodies: Buffer[] = [];
      for (let i = 0; i < k; i++) bodies.push(area.subarray(i * shardBytes, (i + 1) * shardBytes));
      for (let i = 0; i < m; i++) bodies.push(parity.subarray(i * shardBytes, (i + 1) * shardBytes));
      const shards = buildShards(stripeId, owner, k, m, bodies, files);
      // Count the bytes at placement time, so the next stripes' placements see them.
      shards.forEach((sh, i) => {
        this.usedBytes[members[i]!] = (this.usedBytes[members[i]!] ?? 0) + sh.bytes.length;
      });
      return { seq, stripeId, members, shardBytes, total, shards, files };
    } catch (error) {
      this.freeFileSets.push(files);
      this.wakeWaiters();
      throw error;
    }
  }

  /**
   * Put every shard of a stripe and wait for all of them, even after one failed: a failed backup
   * returns only when no put is left running (the journal's settling reads what landed, and the
   * shard files are reused buffers).
   */
  private async putShards(stripe: PreparedStripe): Promise<void> {
    this.throwIfFailed();
    await allSettledOrThrow(
      stripe.shards.map((s, i) => this.o.directory.storeFor(stripe.members[i]!).put(s.id, s.bytes)),
    );
  }

  private commit(stripe: PreparedStripe, objects: PendingObject[], used: number, generation: number): void {
    this.throwIfFailed();
    const { k, m } = this.o;
    const { seq, stripeId, members, shardBytes, total, shards } = stripe;
    const ready = this.pendingFiles.filter((f) => f.generation <= generation);
    this.pendingFiles = this.pendingFiles.filter((f) => f.generation > generation);
    const rows: ObjectRow[] = objects.map((o) => ({ ...o, stripeSeq: seq }));
    this.o.index.commitStripe(
      { seq, stripeId, k, m, shardBytes, dataBytes: total, createdMs: this.o.nowMs() },
      shards.map((s, i) => ({ idx: i, shardId: s.id, member: members[i]!, fileBytes: s.bytes.length })),
      rows,
      ready.map((f) => f.row),
    );
    this.committedGeneration = generation;
    for (const o of objects) this.pendingIds.delete(o.id.toString('hex'));
    for (const s of shards) this.stats.shardBytesWritten += s.bytes.length;
    this.stats.stripes++;
    this.stats.objectsStored += objects.length;
    this.stats.sealedBytesStored += used;
    this.o.onCommitted?.(seq);
  }

  get committedThrough(): number {
    return this.committedGeneration;
  }
}
