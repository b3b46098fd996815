/**
 * Where shards live. One interface for every kind of store (docs/design.md §7; restic's backend
 * habit): a local directory now, a networked member later, and verifying or retrying layers that
 * wrap either.
 *
 * A shard id is 64 lowercase hex characters: the SHA-256 of the complete shard bytes (header and
 * body). A store never serves bytes whose hash differs from the id asked for.
 */

export type ShardStoreErrorCode = 'not-found' | 'corrupt' | 'no-space' | 'invalid-id' | 'io';

export class ShardStoreError extends Error {
  readonly code: ShardStoreErrorCode;
  readonly shardId: string | undefined;
  constructor(code: ShardStoreErrorCode, message: string, shardId?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ShardStoreError';
    this.code = code;
    this.shardId = shardId;
  }
}

export interface ShardStore {
  /** Store `bytes` under `id` (= SHA-256 of bytes). Idempotent; durable when it resolves. */
  put(id: string, bytes: Uint8Array): Promise<void>;
  /** The shard's bytes, verified against `id`; 'not-found' or 'corrupt' otherwise. */
  get(id: string): Promise<Uint8Array>;
  has(id: string): Promise<boolean>;
  /** Every shard id held, sorted. */
  list(): Promise<string[]>;
  /** Remove a shard; deleting an absent shard is not an error. */
  delete(id: string): Promise<void>;
  usage(): Promise<{ usedBytes: number; capacityBytes: number }>;
  /**
   * Optional (a member over the network): `owner`'s shards with the fields of their trailers as
   * the holder read them. Unverified: a hint of what to fetch, never trusted as data.
   */
  listOwned?(owner: string): Promise<ListedShard[]>;
  /**
   * Optional (a store on a local disk): `length` bytes of the shard from `offset`, read at once
   * with synchronous calls (a few microseconds, where a thread-pool round trip costs tens).
   * UNVERIFIED: the shard is not hashed; the caller authenticates what it reads (an object's tag
   * and id) and falls back to `get`. Throws a ShardStoreError ('not-found', 'corrupt' for a short
   * read, 'io').
   */
  readRangeSync?(id: string, offset: number, length: number): Uint8Array;
  /**
   * Optional (a store on a local disk): reads up to `length` bytes of the shard from `offset`
   * into `into` at `at`, and resolves to the count read (less only at the file's end).
   * UNVERIFIED, like readRangeSync: a restore reads a stripe's data shards so, straight into the
   * stripe's buffer, and authenticates every object it opens; it reads them again with `get`
   * when one fails. Throws a ShardStoreError ('not-found', 'io').
   */
  readInto?(id: string, offset: number, into: Uint8Array, at: number, length: number): Promise<number>;
  /**
   * Optional (a store on a local disk): the last `maxBytes` bytes of a shard (its trailer), its
   * size and when it was stored; null when absent. UNVERIFIED: metadata only, as a listing is.
   */
  readTail?(
    id: string,
    maxBytes: number,
  ): Promise<{ tail: Uint8Array; fileBytes: number; storedAtMs: number } | null>;
}

/** One row of `listOwned`: a shard id and its trailer's fields as its holder reports them. */
export interface ListedShard {
  readonly id: string;
  readonly stripeId: string;
  readonly k: number;
  readonly m: number;
  readonly index: number;
  readonly bodyBytes: number;
}

/** Resolves a member id to the store that holds that member's shards. */
export interface ShardDirectory {
  /** Member ids this directory can reach, sorted. */
  members(): string[];
  storeFor(memberId: string): ShardStore;
}

export const SHARD_ID_PATTERN = /^[0-9a-f]{64}$/;

export function isShardId(id: unknown): id is string {
  return typeof id === 'string' && SHARD_ID_PATTERN.test(id);
}

/** Whether [offset, offset + length) is a range of whole bytes inside the first `maxBytes`. */
export function isByteRange(offset: number, length: number, maxBytes: number): boolean {
  return (
    Number.isSafeInteger(offset) &&
    offset >= 0 &&
    Number.isSafeInteger(length) &&
    length >= 0 &&
    offset + length <= maxBytes
  );
}

export function requireShardId(id: unknown): string {
  if (!isShardId(id)) {
    throw new ShardStoreError(
      'invalid-id',
      `a shard id is 64 lowercase hex characters (SHA-256), got ${JSON.stringify(String(id)).slice(0, 80)}`,
    );
  }
  return id;
}
