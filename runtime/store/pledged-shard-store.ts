/**
 * A member's shard store for other members' shards: a DirShardStore (atomic writes, verified
 * reads) inside the pledge, with the pledge reserved on disk (reservation.ts).
 *
 * Accounting, always: `reservation = pledgeBytes - storedBytes - bytesBeingWritten`. A put first
 * takes its bytes out of the reservation (the space the shard is about to occupy), then writes;
 * a failed write gives them back. A delete gives the shard's bytes back to the reservation.
 *
 * Refusals carry a reason: `over-pledge` (the shard does not fit the pledge), `non-member` (the
 * sender is not a current member), `bad-hash` (the bytes do not hash to the id). Lowering the
 * pledge below what is stored is refused (`pledge-below-stored`) until shards move away; a
 * pledge whose reservation does not fit the free disk is refused (`no-room`), the old pledge kept.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { DirShardStore, MAX_SHARD_BYTES } from './dir-shard-store.ts';
import { sizeAndBytes } from './free-space.ts';
import { ensurePrivateDirAsync } from './private-mode.ts';
import { Reservation, ReservationError } from './reservation.ts';
import { requireShardId, type ShardStore, ShardStoreError } from './shard-store.ts';

export type RefusalReason = 'over-pledge' | 'non-member' | 'bad-hash' | 'pledge-below-stored' | 'no-room';

export class ShardRefusal extends ShardStoreError {
  readonly reason: RefusalReason;
  constructor(reason: RefusalReason, message: string, shardId?: string) {
    super(reason === 'bad-hash' ? 'corrupt' : reason === 'non-member' ? 'io' : 'no-space', message, shardId);
    this.name = 'ShardRefusal';
    this.reason = reason;
  }
}

export interface PledgedShardStoreOptions {
  pledgeBytes: number;
  /** fsync before a put resolves (default true). */
  durable?: boolean;
  /** Who is a current member (for `putFrom`). */
  isMember?: (memberId: string) => boolean;
  onWarning?: (text: string) => void;
}

export const RESERVATION_FILE = 'reservation';
/** Backstop on puts written at once (the shard protocol admits far fewer: 8 per member). */
const MAX_PUTS_IN_FLIGHT = 256;

/** A reservation that does not fit, as a refused pledge with the largest pledge that fits. */
function pledgeError(error: unknown, root: string, pledgeBytes: number, storedBytes: number): unknown {
  if (!(error instanceof ReservationError) || error.room === null) return error;
  const { freeBytes, heldBytes } = error.room;
  const held = heldBytes > 0 ? ` besides the ${sizeAndBytes(heldBytes)} its reservation already holds` : '';
  const stored = storedBytes > 0 ? ` and ${sizeAndBytes(storedBytes)} of shards` : '';
  return new ShardRefusal(
    'no-room',
    `cannot pledge ${sizeAndBytes(pledgeBytes)}: only ${sizeAndBytes(freeBytes)} free at ${root}${held}${stored}; pledge at most ${sizeAndBytes(storedBytes + heldBytes + freeBytes)} here, or free some space`,
  );
}

export class PledgedShardStore implements ShardStore {
  private pledge: number;
  /** Bytes of puts in progress (already out of the reservation, not yet in `stored`). */
  private writing = 0;
  private stored: number;
  private readonly sizes = new Map<string, number>();
  /** Puts being written, by shard id. */
  private readonly putting = new Map<string, Promise<void>>();
  /** Puts received from members since start, and those of shards already held (re-sends). */
  putsReceived = 0;
  putsAlreadyHeld = 0;

  private constructor(
    readonly root: string,
    private readonly dir: DirShardStore,
    readonly reservation: Reservation,
    pledgeBytes: number,
    storedBytes: number,
    private readonly isMember: (memberId: string) => boolean,
  ) {
    this.pledge = pledgeBytes;
    this.stored = storedBytes;
  }

  static async open(root: string, options: PledgedShardStoreOptions): Promise<PledgedShardStore> {
    const { pledgeBytes } = options;
    if (!Number.isSafeInteger(pledgeBytes) || pledgeBytes < 0) {
      throw new ShardStoreError('io', `a pledge is a whole number of bytes >= 0, got ${pledgeBytes}`);
    }
    await ensurePrivateDirAsync(root);
    const dir = await DirShardStore.open(join(root, 'store'), {
      capacityBytes: Number.MAX_SAFE_INTEGER,
      durable: options.durable ?? true,
      verifyPuts: false, // put() below hashes once before anything is written
    });
    const { usedBytes } = await dir.usage();
    const warn = options.onWarning ?? ((t: string) => process.stderr.write(`warning: ${t}\n`));
    if (usedBytes > pledgeBytes) {
      warn(
        `${usedBytes} bytes of shards are stored, more than the pledge of ${pledgeBytes}: no reservation until shards move away`,
      );
    }
    let reservation: Reservation;
    try {
      reservation = await Reservation.open(
        join(root, RESERVATION_FILE),
        Math.max(0, pledgeBytes - usedBytes),
        warn,
      );
    } catch (error) {
      throw pledgeError(error, root, pledgeBytes, usedBytes);
    }
    return new PledgedShardStore(
      root,
      dir,
      reservation,
      pledgeBytes,
      usedBytes,
      options.isMember ?? (() => true),
    );
  }

  get pledgeBytes(): number {
    return this.pledge;
  }

  /** Changes the pledge; refused below what is stored (or being written). */
  async setPledge(pledgeBytes: number): Promise<void> {
    if (!Number.isSafeInteger(pledgeBytes) || pledgeBytes < 0) {
      throw new ShardStoreError('io', `a pledge is a whole number of bytes >= 0, got ${pledgeBytes}`);
    }
    const held = this.stored + this.writing;
    if (pledgeBytes < held) {
      throw new ShardRefusal(
        'pledge-below-stored',
        `cannot lower the pledge to ${pledgeBytes} bytes: ${held} bytes of shards are stored here; move shards away first`,
      );
    }
    // A lower pledge holds for puts at once; a higher one only once its space is reserved. On
    // failure the old pledge stays, and so does the old reservation (Reservation undoes it).
    const old = this.pledge;
    if (pledgeBytes < old) this.pledge = pledgeBytes;
    try {
      await this.reservation.resize(pledgeBytes - held);
    } catch (error) {
      this.pledge = old;
      throw pledgeError(error, this.root, pledgeBytes, held);
    }
    this.pledge = pledgeBytes;
  }

  /** A put from a member of the group (`from`); refused for anyone else. */
  /** `sha256`: the hash of these exact bytes if the caller already computed it (as they arrived). */
  async putFrom(from: string, id: string, bytes: Uint8Array, sha256?: string): Promise<void> {
    if (!this.isMember(from)) {
      throw new ShardRefusal('non-member', `${from} is not a member of this group: shard refused`, id);
    }
    this.putsReceived++;
    return this.putHashed(id, bytes, sha256);
  }

  put(id: string, bytes: Uint8Array): Promise<void> {
    return this.putHashed(id, bytes);
  }

  private putHashed(id: string, bytes: Uint8Array, sha256?: string): Promise<void> {
    // A second put of a shard still being written waits for the first: counted once.
    const pending = this.putting.get(id);
    if (pending !== undefined) {
      this.putsAlreadyHeld++;
      return pending;
    }
    if (this.putting.size >= MAX_PUTS_IN_FLIGHT)
      return Promise.reject(
        new ShardStoreError('io', `over ${MAX_PUTS_IN_FLIGHT} puts in flight on ${this.root}`, id),
      );
    const work = this.putOnce(id, bytes, sha256).finally(() => this.putting.delete(id));
    this.putting.set(id, work);
    return work;
  }

  private async putOnce(id: string, bytes: Uint8Array, sha256?: string): Promise<void> {
    requireShardId(id);
    if (!(bytes instanceof Uint8Array))
      throw new ShardStoreError('io', 'shard bytes must be a Uint8Array', id);
    if (bytes.length > MAX_SHARD_BYTES) {
      throw new ShardRefusal(
        'over-pledge',
        `shard ${id} is ${bytes.length} bytes, over the largest shard (${MAX_SHARD_BYTES})`,
        id,
      );
    }
    const actual = sha256 ?? createHash('sha256').update(bytes).digest('hex');
    if (actual !== id) throw new ShardRefusal('bad-hash', `shard ${id}: the bytes hash to ${actual}`, id);
    if (this.sizes.has(id) || (await this.dir.has(id))) {
      this.putsAlreadyHeld++;
      return; // idempotent
    }
    const n = bytes.length;
    if (this.stored + this.writing + n > this.pledge) {
      throw new ShardRefusal(
        'over-pledge',
        `shard ${id} (${n} bytes) does not fit the pledge: ${this.stored + this.writing} of ${this.pledge} bytes held`,
        id,
      );
    }
    this.writing += n;
    try {
      await this.reservation.shrinkBy(n);
      try {
        await this.dir.put(id, bytes);
      } catch (error) {
        await this.reservation.growBy(n);
        throw error;
      }
      this.stored += n;
      this.sizes.set(id, n);
    } finally {
      this.writing -= n;
    }
  }

  get(id: string): Promise<Uint8Array> {
    return this.dir.get(id);
  }

  has(id: string): Promise<boolean> {
    return this.dir.has(id);
  }

  /** See DirShardStore.readRange: bytes as stored, unverified, allocated as the file holds them. */
  readRange(id: string, offset: number, length: number): Promise<Buffer> {
    return this.dir.readRange(id, offset, length);
  }

  list(): Promise<string[]> {
    return this.dir.list();
  }

  /** See DirShardStore.readTail: metadata only, unverified. */
  readTail(id: string, maxBytes: number): ReturnType<DirShardStore['readTail']> {
    return this.dir.readTail(id, maxBytes);
  }

  async delete(id: string): Promise<void> {
    requireShardId(id);
    // The bytes this very delete freed: a difference of usage before and after would also count
    // a put or another delete finishing meanwhile (two concurrent deletes each subtracted both).
    const freed = await this.dir.remove(id);
    this.sizes.delete(id);
    if (freed > 0) {
      this.stored -= freed;
      const room = this.pledge - this.stored - this.writing;
      if (room > this.reservation.bytes) await this.reservation.resize(room);
    }
  }

  /** A damaged shard leaves the store for `store/quarantine/` (DirShardStore.quarantine). */
  async quarantine(id: string): Promise<void> {
    const freed = await this.dir.quarantine(id);
    this.sizes.delete(id);
    if (freed > 0) {
      this.stored -= freed;
      const room = this.pledge - this.stored - this.writing;
      if (room > this.reservation.bytes) await this.reservation.resize(room);
    }
  }

  async usage(): Promise<{ usedBytes: number; capacityBytes: number }> {
    return { usedBytes: this.stored, capacityBytes: this.pledge };
  }

  /** Pledge, stored bytes and the reservation as the filesystem sees it. */
  async report(): Promise<{
    pledgeBytes: number;
    storedBytes: number;
    reservationBytes: number;
    reservationAllocatedBytes: number;
    reservationMode: string;
    putsReceived: number;
    putsAlreadyHeld: number;
  }> {
    return {
      pledgeBytes: this.pledge,
      storedBytes: this.stored,
      reservationBytes: this.reservation.bytes,
      reservationAllocatedBytes: await this.reservation.allocatedBytes(),
      reservationMode: this.reservation.mode,
      putsReceived: this.putsReceived,
      putsAlreadyHeld: this.putsAlreadyHeld,
    };
  }
}
