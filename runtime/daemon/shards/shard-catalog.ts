/**
 * What this member holds for others, shard by shard: each stored shard's trailer details (stripe,
 * owner, k, m, index, sizes, when stored), kept in memory beside the PledgedShardStore. Filled
 * once from the store (reading only each file's tail, where a pb shard keeps its trailer), then
 * kept up to date by every put and delete that goes through `CatalogBackend`.
 *
 * `CatalogBackend` is what the daemon serves over `/pb/shard/1`: the store plus paged, filtered,
 * detailed listing and authorized deletes (the caller supplies the check: delete-check.ts).
 */
import { randomBytes } from 'node:crypto';
import { type ListedShardInfo, ownerMemberId } from '../../../engine/index.ts';
import { NetError } from '../../net/errors.ts';
import type {
  CatalogVersion,
  ListPage,
  ListQuery,
  ShardBackend,
  ShardInfo,
} from '../../net/shard-protocol.ts';
import {
  decodeShard,
  decodeShardHeader,
  decodeShardTail,
  MAX_TRAILER_BYTES,
} from '../../pipeline/shard-format.ts';
import { type ShardStore, ShardStoreError } from '../../store/shard-store.ts';
import { StringPool } from '../../string-pool.ts';
import { OwnerDeletes } from './owner-deletes.ts';

/** Bound on shards one member's catalog tracks (a 4 TB pledge of 1 MiB shards). */
export const MAX_CATALOG_SHARDS = 4_000_000;
/** Bound on shards one audit reads (besides its byte budget). */
const MAX_AUDIT_SHARDS_PER_ROUND = 100_000;
/** Tail reads in flight while the catalog fills. */
const LOAD_CONCURRENCY = 8;

export interface CatalogStore extends ShardStore {
  putFrom(from: string, id: string, bytes: Uint8Array, sha256?: string): Promise<void>;
  /**
   * Bytes as stored, unverified (a range request: docs/protocols.md section 4), in a buffer no
   * larger than the shard holds from `offset`.
   */
  readRange(id: string, offset: number, length: number): Promise<Uint8Array>;
  readTail(
    id: string,
    maxBytes: number,
  ): Promise<{ tail: Uint8Array; fileBytes: number; storedAtMs: number } | null>;
  /** Moves a damaged shard aside (never served, listed or counted again); absent: nothing. */
  quarantine(id: string): Promise<void>;
}

/** A stored shard's details (a listing row's, without its age); `storedAtMs` on this member's clock. */
export type CatalogEntry = Omit<ListedShardInfo, 'ageMs'> & { readonly storedAtMs: number };

/** The trailer details of a whole shard file or of its tail (`fileBytes` = the whole file's size). */
export function entryFromTail(
  tail: Uint8Array,
  fileBytes: number,
  storedAtMs: number,
): Omit<CatalogEntry, 'owner' | 'stripeId'> & { owner: string; stripeId: string } {
  const header = decodeShardTail(tail, fileBytes);
  return {
    stripeId: header.stripeId,
    owner: header.owner,
    k: header.k,
    m: header.m,
    index: header.index,
    bodyBytes: header.bodyBytes,
    fileBytes,
    storedAtMs,
  };
}

export class ShardCatalog {
  /** null: a shard without a readable pb trailer. */
  private readonly entries = new Map<string, CatalogEntry | null>();
  private sorted: string[] | null = null;
  private loading: Promise<void> | null = null;
  private loaded = false;
  /** Deletes while the catalog fills (so a late tail read does not bring a deleted shard back). */
  private readonly deletedWhileLoading = new Set<string>();
  /** One string per owner and per stripe id (many shards share them). */
  private readonly strings = new StringPool(MAX_CATALOG_SHARDS);
  /** File bytes held per owner (the trailer's owner text); shards without a trailer not counted. */
  private readonly ownerBytes = new Map<string, number>();
  /** Names this catalog (this process's fill of it): a restart starts another count of changes. */
  private readonly epoch = randomBytes(8).toString('hex');
  /** Changes to what a listing shows (a shard stored, recorded or removed) since the fill began. */
  private changes = 0;

  constructor(
    private readonly store: CatalogStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** Fills the catalog from the store once; later calls wait for the same fill. */
  load(): Promise<void> {
    this.loading ??= this.fill().then(
      () => {
        this.loaded = true;
        this.deletedWhileLoading.clear();
      },
      (error: unknown) => {
        this.loading = null; // the next call tries again
        throw error;
      },
    );
    return this.loading;
  }

  private async fill(): Promise<void> {
    const ids = await this.store.list();
    if (ids.length > MAX_CATALOG_SHARDS)
      throw new Error(`${ids.length} shards stored: more than the catalog's ${MAX_CATALOG_SHARDS}`);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++]!;
        if (this.entries.has(id) || this.deletedWhileLoading.has(id)) continue;
        const read = await this.store.readTail(id, MAX_TRAILER_BYTES);
        if (read === null || this.entries.has(id) || this.deletedWhileLoading.has(id)) continue;
        this.set(id, this.decode(read.tail, read.fileBytes, read.storedAtMs));
      }
    };
    await Promise.all(Array.from({ length: LOAD_CONCURRENCY }, worker));
  }

  private decode(tail: Uint8Array, fileBytes: number, storedAtMs: number): CatalogEntry | null {
    try {
      const e = entryFromTail(tail, fileBytes, storedAtMs);
      return { ...e, owner: this.strings.intern(e.owner), stripeId: this.strings.intern(e.stripeId) };
    } catch {
      return null; // not a pb shard (or a damaged trailer): listed without details
    }
  }

  private set(id: string, entry: CatalogEntry | null): void {
    if (!this.entries.has(id)) {
      if (this.entries.size >= MAX_CATALOG_SHARDS)
        throw new Error(`the shard catalog is full (${MAX_CATALOG_SHARDS} shards)`);
      this.sorted = null;
    }
    this.count(this.entries.get(id), -1);
    this.entries.set(id, entry);
    this.count(entry, 1);
    this.changes++;
  }

  private count(entry: CatalogEntry | null | undefined, sign: 1 | -1): void {
    if (entry === null || entry === undefined) return;
    const n = (this.ownerBytes.get(entry.owner) ?? 0) + sign * entry.fileBytes;
    if (n < 0) throw new Error(`shard catalog: bytes held for ${entry.owner} went below zero`);
    if (n === 0) this.ownerBytes.delete(entry.owner);
    else this.ownerBytes.set(entry.owner, n);
  }

  /**
   * Bytes of shard files held for owners that `isMember` does not name (removed members, or a
   * trailer naming no member id); null until the catalog has read every shard's trailer.
   */
  bytesForNonMembers(isMember: (memberId: string) => boolean): number | null {
    if (!this.loaded) return null;
    let bytes = 0;
    for (const [ownerText, n] of this.ownerBytes) {
      const id = ownerMemberId(ownerText);
      if (id === null || !isMember(id)) bytes += n;
    }
    return bytes;
  }

  /** After a put of these exact bytes (whole shard file). */
  added(id: string, bytes: Uint8Array): void {
    this.deletedWhileLoading.delete(id);
    this.set(id, this.decode(bytes, bytes.length, this.now()));
  }

  /** A shard found stored (its file's tail read by the caller). */
  recordTail(id: string, tail: Uint8Array, fileBytes: number, storedAtMs: number): void {
    this.set(id, this.decode(tail, fileBytes, storedAtMs));
  }

  removed(id: string): void {
    if (!this.loaded) this.deletedWhileLoading.add(id);
    this.count(this.entries.get(id), -1);
    if (this.entries.delete(id)) {
      this.sorted = null;
      this.changes++;
    }
  }

  /**
   * Which listing this catalog would give now (docs/protocols.md §4, list version): equal
   * versions, same rows (their ages aside). Only meaningful once loaded.
   */
  version(): CatalogVersion {
    return { epoch: this.epoch, changes: this.changes };
  }

  /** The details of a held shard; null without a pb trailer; undefined when not held. */
  info(id: string): CatalogEntry | null | undefined {
    return this.entries.get(id);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The first held id greater than `after` (wrapping to the smallest), or null when empty. */
  nextAfter(after: string): string | null {
    const ids = this.sortedIds();
    if (ids.length === 0) return null;
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ids[mid]! <= after) lo = mid + 1;
      else hi = mid;
    }
    return ids[lo < ids.length ? lo : 0]!;
  }

  /** Every held shard (after `load`), in id order. */
  *all(): IterableIterator<{ id: string; entry: CatalogEntry | null }> {
    for (const id of this.sortedIds()) {
      const entry = this.entries.get(id);
      if (entry !== undefined) yield { id, entry };
    }
  }

  private sortedIds(): string[] {
    this.sorted ??= [...this.entries.keys()].sort();
    return this.sorted;
  }

  /** One page of ids greater than `after` (only `owner`'s when given), with details. */
  page(query: ListQuery): ListPage {
    const ids = this.sortedIds();
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ids[mid]! <= query.after) lo = mid + 1;
      else hi = mid;
    }
    const now = this.now();
    const out: string[] = [];
    const infos: (ShardInfo | null)[] = [];
    for (let i = lo; i < ids.length; i++) {
      const id = ids[i]!;
      const e = this.entries.get(id)!;
      if (query.owner !== null && (e === null || e.owner !== query.owner)) continue;
      if (out.length === query.limit) return { ids: out, infos, more: true };
      out.push(id);
      infos.push(e === null ? null : toInfo(e, now));
    }
    return { ids: out, infos, more: false };
  }
}

function toInfo(e: CatalogEntry, nowMs: number): ShardInfo {
  return {
    stripeId: e.stripeId,
    owner: e.owner,
    k: e.k,
    m: e.m,
    index: e.index,
    bodyBytes: e.bodyBytes,
    fileBytes: e.fileBytes,
    ageMs: Math.max(0, nowMs - e.storedAtMs),
  };
}

/**
 * Decides a delete asked by another member (`from`) of a shard with these details; throws a
 * NetError('unauthorized') with the reason when refused.
 */
export type DeleteCheck = (
  from: string,
  id: string,
  entry: CatalogEntry,
  newHolder: string | null,
) => Promise<void>;

/** The daemon's `/pb/shard/1` backend: the store, its catalog, authorized deletes. */
export class CatalogBackend implements ShardBackend {
  /** Audit counters since start (and shards found damaged on a get). */
  readonly health = { auditedShards: 0, auditedBytes: 0, corruptFound: 0 };
  private auditCursor = '';

  constructor(
    readonly store: CatalogStore,
    readonly catalog: ShardCatalog,
    private readonly checkDelete: DeleteCheck,
    private readonly onDamaged: (line: string) => void = () => undefined,
    readonly ownerDeletes = new OwnerDeletes(),
  ) {}

  /**
   * Stores a shard put by `from`. A shard of a stripe its owner lately deleted here is refused
   * `gone` unless the owner itself puts it (a repair that read the stripe before the prune).
   */
  async putFrom(from: string, id: string, bytes: Uint8Array, sha256?: string): Promise<void> {
    const stripe = stripeOwnerOf(bytes);
    if (stripe !== null) {
      if (ownerMemberId(stripe.owner) === from) this.ownerDeletes.forgetStripe(stripe.stripeId);
      else {
        const agoMs = this.ownerDeletes.stripeDeletedAgoMs(stripe.stripeId);
        if (agoMs !== null)
          throw new NetError(
            'gone',
            `shard ${id}: its owner deleted stripe ${stripe.stripeId} here ${Math.round(agoMs / 1000)} s ago; only the owner may store it again`,
          );
      }
    }
    await this.store.putFrom(from, id, bytes, sha256);
    this.catalog.added(id, bytes);
  }

  /** A held shard, verified; a damaged one is quarantined (and the error passed on). */
  async get(id: string): Promise<Uint8Array> {
    let bytes: Uint8Array;
    try {
      bytes = await this.store.get(id);
    } catch (error) {
      if (error instanceof ShardStoreError && (error.code === 'corrupt' || error.code === 'not-found')) {
        this.throwIfOwnerDeleted(id, error);
        await this.damaged(id, error.message, error.code === 'not-found');
      }
      throw error;
    }
    return bytes;
  }

  /**
   * Bytes of a held shard as stored, for a range request (docs/protocols.md section 4): not hashed
   * (the reader authenticates the objects it opens and gets the whole, verified shard when one
   * fails), so nothing is quarantined here; the audit and verified gets find damage. A shard its
   * owner deleted answers `gone`, as a get does.
   */
  async readRange(id: string, offset: number, length: number): Promise<Uint8Array> {
    try {
      return await this.store.readRange(id, offset, length);
    } catch (error) {
      this.throwIfOwnerDeleted(id, error);
      throw error;
    }
  }

  /** A shard missing because its owner deleted it here answers `gone` (owner-deletes.ts). */
  private throwIfOwnerDeleted(id: string, error: unknown): void {
    if (!(error instanceof ShardStoreError) || error.code !== 'not-found') return;
    const stripeId = this.ownerDeletes.deletedShardStripe(id);
    if (stripeId !== null)
      throw new NetError('gone', `shard ${id}: its owner deleted it (stripe ${stripeId})`);
  }

  /**
   * Re-reads and verifies up to `maxBytes` of held shards (at least one), round-robin over the
   * catalog from where the last audit stopped: SHA-256 = id (the store), then the body against
   * its trailer's hash. A damaged or vanished shard is quarantined and drops out of the catalog,
   * so the next repair round sees its stripe short of it.
   */
  async audit(maxBytes: number): Promise<{ shards: number; bytes: number; corrupt: number }> {
    await this.catalog.load();
    const out = { shards: 0, bytes: 0, corrupt: 0 };
    if (maxBytes <= 0) return out;
    const limit = Math.min(this.catalog.size, MAX_AUDIT_SHARDS_PER_ROUND);
    while (out.shards < limit && out.bytes < maxBytes) {
      const id = this.catalog.nextAfter(this.auditCursor);
      if (id === null) break;
      this.auditCursor = id;
      const entry = this.catalog.info(id);
      out.shards++;
      this.health.auditedShards++;
      let bytes: Uint8Array;
      try {
        bytes = await this.store.get(id);
      } catch (error) {
        if (!(error instanceof ShardStoreError) || (error.code !== 'corrupt' && error.code !== 'not-found'))
          throw error;
        out.corrupt++;
        await this.damaged(id, error.message, error.code === 'not-found');
        continue;
      }
      out.bytes += bytes.length;
      this.health.auditedBytes += bytes.length;
      if (entry === null || entry === undefined) continue; // not a pb shard: its hash is all there is
      try {
        const { header } = decodeShard(bytes, true);
        if (header.stripeId !== entry.stripeId || header.index !== entry.index)
          throw new Error('the trailer differs from the catalog');
      } catch (error) {
        out.corrupt++;
        await this.damaged(id, `shard ${id}: ${(error as Error).message}`, false);
      }
    }
    return out;
  }

  private async damaged(id: string, reason: string, missing: boolean): Promise<void> {
    if (this.catalog.info(id) === undefined && missing) return; // already gone, already counted
    this.health.corruptFound++;
    if (!missing) await this.store.quarantine(id);
    else await this.store.delete(id); // its accounting
    this.catalog.removed(id);
    this.onDamaged(
      `shard ${id} ${missing ? 'vanished from the disk' : 'is damaged, quarantined'}: ${reason.slice(0, 200)}`,
    );
  }

  has(id: string): Promise<boolean> {
    return this.store.has(id);
  }

  list(): Promise<string[]> {
    return this.store.list();
  }

  /** A local delete (this member's own decision, already checked). */
  async delete(id: string): Promise<void> {
    await this.store.delete(id);
    this.catalog.removed(id);
  }

  usage(): Promise<{ usedBytes: number; capacityBytes: number }> {
    return this.store.usage();
  }

  async listPage(query: ListQuery): Promise<ListPage> {
    await this.catalog.load();
    return this.catalog.page(query);
  }

  async listVersion(): Promise<CatalogVersion> {
    await this.catalog.load();
    return this.catalog.version();
  }

  /**
   * A delete asked by `from`: absent is not an error; a shard without a pb trailer may be deleted
   * by any member (it belongs to nobody); a pb shard only as `checkDelete` allows.
   */
  async deleteFrom(from: string, id: string, newHolder: string | null): Promise<void> {
    await this.catalog.load();
    let entry = this.catalog.info(id);
    if (entry === undefined) {
      // Stored after the catalog's fill and not yet recorded (a put finishing): read it now.
      const read = await this.store.readTail(id, MAX_TRAILER_BYTES);
      if (read === null) return;
      this.catalog.recordTail(id, read.tail, read.fileBytes, read.storedAtMs);
      entry = this.catalog.info(id) ?? null;
    }
    if (entry !== null) await this.checkDelete(from, id, entry, newHolder);
    await this.delete(id);
    if (entry !== null && newHolder === null && ownerMemberId(entry.owner) === from)
      this.ownerDeletes.record(entry.stripeId, id);
  }
}

/** The stripe and owner a shard's trailer names, or null (not a pb shard). */
function stripeOwnerOf(bytes: Uint8Array): { stripeId: string; owner: string } | null {
  try {
    const { header } = decodeShardHeader(bytes);
    return { stripeId: header.stripeId, owner: header.owner };
  } catch {
    return null;
  }
}

export function refuseDelete(id: string, reason: string): NetError {
  return new NetError('unauthorized', `delete of shard ${id} refused: ${reason}`);
}
