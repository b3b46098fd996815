/**
 * A ShardStore that lives on another member, over `/pb/shard/1`. Same contract as a local store:
 * gets are verified against the id here too (a member never trusts the wire), remote refusals
 * arrive as ShardStoreErrors with the matching code (and the refusal reason in the message).
 * Requests in flight are bounded; retries are the caller's (a retrying layer wraps any store).
 */
import {
  isByteRange,
  type ListedShard,
  requireShardId,
  type ShardStore,
  ShardStoreError,
  type ShardStoreErrorCode,
} from '../store/shard-store.ts';
import { describeError, NetError } from './errors.ts';
import { fieldArray, fieldText, fieldUint } from './framing.ts';
import type { PbLibp2p } from './node.ts';
import { noteTransfer } from './peer-health.ts';
import { Limiter } from './serve.ts';
import {
  BODY_QUEUE_WAIT_MS,
  type CatalogVersion,
  decodeInfo,
  LIST_VERSION_UNSUPPORTED,
  MAX_CATALOG_EPOCH_CHARS,
  MAX_LIST_DETAIL_IDS,
  MAX_LIST_IDS,
  MAX_WIRE_SHARD_BYTES,
  RANGES_UNSUPPORTED,
  SHARD_MSG,
  type ShardInfo,
  shardRequest,
} from './shard-protocol.ts';

/** Bound on list pages one `list()` follows (4096 ids each: 16 M shards). */
const MAX_LIST_PAGES = 4096;

function toStoreError(error: unknown, peer: string, id?: string): ShardStoreError {
  if (error instanceof ShardStoreError) return error;
  if (error instanceof NetError) {
    const map: Partial<Record<string, ShardStoreErrorCode>> = {
      'not-found': 'not-found',
      corrupt: 'corrupt',
      'over-pledge': 'no-space',
      'no-space': 'no-space',
    };
    return new ShardStoreError(map[error.code] ?? 'io', `${error.code}: ${error.message}`, id, {
      cause: error,
    });
  }
  return new ShardStoreError('io', `/pb/shard/1 with ${peer}: ${describeError(error)}`, id, { cause: error });
}

/**
 * A member that does not serve an optional request: an older one does not know it ("unknown
 * shard request type"), a newer one without the store behind it answers `reason`
 * (RANGES_UNSUPPORTED, LIST_VERSION_UNSUPPORTED). The error as thrown or as a ShardStoreError's cause.
 */
function refusedAsUnsupported(error: unknown, reason: string): boolean {
  const cause = error instanceof ShardStoreError ? error.cause : error;
  return (
    cause instanceof NetError &&
    cause.remote &&
    cause.code === 'bad-message' &&
    (cause.message.includes(reason) || cause.message.includes('unknown shard request type'))
  );
}

/** Makes a sender wait before bytes go out (the member's upload cap and pause). */
/** Options of a detailed listing: its bound, and the interner of its stripe ids and owners. */
export interface ListOptions {
  readonly timeoutMs?: number;
  readonly intern?: (text: string) => string;
}

export interface UploadGate {
  take(bytes: number): Promise<void>;
}

export class RemoteShardStore implements ShardStore {
  private readonly limiter: Limiter;
  private readonly bodyLimiter = new Limiter(1, 1024);
  private readonly uploadGate: UploadGate | null;
  /** The member refused a range request (it predates them): whole shards from then on. */
  private wholeShardsOnly = false;

  constructor(
    private readonly node: PbLibp2p,
    readonly peer: string,
    options: { maxInFlight?: number; uploadGate?: UploadGate } = {},
  ) {
    this.limiter = new Limiter(options.maxInFlight ?? 4);
    this.uploadGate = options.uploadGate ?? null;
  }

  /** One request in the in-flight bound; its outcome noted for the peer's path health. */
  private async request<T>(id: string | undefined, fn: () => Promise<T>, bodyBytes = 0): Promise<T> {
    const release = await this.limiter.acquire(BODY_QUEUE_WAIT_MS);
    const startMs = performance.now();
    try {
      const out = await fn();
      const data = (out as { data?: unknown }).data;
      const bytes = data instanceof Uint8Array ? data.length : bodyBytes;
      noteTransfer(this.node, { peer: this.peer, bytes, ms: performance.now() - startMs, ok: true });
      return out;
    } catch (error) {
      const e = toStoreError(error, this.peer, id);
      // A refusal (a missing shard, a full pledge) is an answer: the path worked.
      const answered = e.code !== 'io' || (e.cause instanceof NetError && e.cause.remote);
      noteTransfer(this.node, {
        peer: this.peer,
        bytes: 0,
        ms: performance.now() - startMs,
        ok: answered,
        ...(answered ? {} : { error: e.message }),
      });
      throw e;
    } finally {
      release();
    }
  }

  async put(id: string, bytes: Uint8Array): Promise<void> {
    requireShardId(id);
    if (bytes.length > MAX_WIRE_SHARD_BYTES) {
      throw new ShardStoreError(
        'io',
        `shard ${id} is ${bytes.length} bytes, over ${MAX_WIRE_SHARD_BYTES} on the wire`,
        id,
      );
    }
    // Before a slot is taken: a paused or capped upload holds no stream open while it waits.
    if (this.uploadGate !== null) await this.uploadGate.take(bytes.length);
    await this.request(
      id,
      () =>
        shardRequest(this.node, this.peer, SHARD_MSG.put, [id, bytes.length], bytes, SHARD_MSG.ok, {
          bodyLimiter: this.bodyLimiter,
        }),
      bytes.length,
    );
  }

  async get(id: string): Promise<Uint8Array> {
    requireShardId(id);
    const { data, sha256 } = await this.request(id, () =>
      shardRequest(this.node, this.peer, SHARD_MSG.get, [id], null, SHARD_MSG.data),
    );
    if (data === null) throw new ShardStoreError('io', `no bytes for shard ${id}`, id);
    const actual = sha256; // hashed as the bytes arrived (FrameReader.readRawHashed)
    if (actual !== id) {
      throw new ShardStoreError('corrupt', `member ${this.peer} sent shard ${id} hashing to ${actual}`, id);
    }
    return data;
  }

  /**
   * Bytes [offset, offset + length) of the shard straight into `into` at `at`; the count copied
   * (less only at the shard's end). A range request: the member reads and sends those bytes only.
   * A member that cannot (an older one) says so once, and from then on it sends the whole shard
   * and the bytes outside the range are dropped as they arrive. UNVERIFIED (not hashed), as the
   * store contract says: a restore authenticates every object it opens and falls back to `get`.
   */
  async readInto(id: string, offset: number, into: Uint8Array, at: number, length: number): Promise<number> {
    requireShardId(id);
    if (!isByteRange(offset, length, MAX_WIRE_SHARD_BYTES))
      throw new ShardStoreError('io', `bad range ${offset}+${length} of shard ${id}`, id);
    if (!Number.isSafeInteger(at) || at < 0 || at + length > into.length)
      throw new ShardStoreError('io', `${length} bytes at ${at} do not fit a buffer of ${into.length}`, id);
    const whole = () =>
      shardRequest(this.node, this.peer, SHARD_MSG.get, [id], null, SHARD_MSG.data, {
        into: { bytes: into, at, skip: offset, take: length },
      });
    const ranged = async () => {
      if (this.wholeShardsOnly) return whole();
      try {
        return await shardRequest(
          this.node,
          this.peer,
          SHARD_MSG.getRange,
          [id, offset, length],
          null,
          SHARD_MSG.data,
          {
            into: { bytes: into, at, skip: 0, take: length },
          },
        );
      } catch (error) {
        if (!refusedAsUnsupported(error, RANGES_UNSUPPORTED)) throw error;
        this.wholeShardsOnly = true;
        return whole();
      }
    };
    const { copied } = await this.request(id, ranged, length);
    return copied;
  }

  async has(id: string): Promise<boolean> {
    requireShardId(id);
    const { message } = await this.request(id, () =>
      shardRequest(this.node, this.peer, SHARD_MSG.has, [id], null, SHARD_MSG.hasAnswer),
    );
    return fieldUint(message.fields, 0, 'has', 1) === 1;
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    let after = '';
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const { message } = await this.request(undefined, () =>
        shardRequest(this.node, this.peer, SHARD_MSG.list, [after, MAX_LIST_IDS], null, SHARD_MSG.listAnswer),
      );
      const ids = fieldArray(message.fields, 0, 'ids', MAX_LIST_IDS);
      for (const id of ids) {
        if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id) || id <= after) {
          throw new ShardStoreError('io', `member ${this.peer} sent a bad or unsorted shard id in a list`);
        }
        out.push(id);
        after = id;
      }
      if (fieldUint(message.fields, 1, 'more', 1) === 0) return out;
    }
    throw new ShardStoreError('io', `member ${this.peer} listed more than ${MAX_LIST_PAGES} pages`);
  }

  /**
   * Every shard with its trailer details (paged, at most MAX_LIST_PAGES pages of 1024), only
   * those whose trailer names `owner` when given. Rows are checked before they are returned.
   */
  async listDetailed(
    owner: string | null = null,
    options: ListOptions = {},
  ): Promise<{ id: string; info: ShardInfo | null }[]> {
    const out: { id: string; info: ShardInfo | null }[] = [];
    await this.listEach(owner, (row) => out.push(row), options);
    return out;
  }

  /**
   * `listDetailed`, each row handed to `visit` as its page arrives (a caller that keeps rows in
   * its own form never holds the whole listing as objects). On an error some rows may have been
   * visited: the caller drops what it built.
   */
  async listEach(
    owner: string | null,
    visit: (row: { id: string; info: ShardInfo | null }) => void,
    options: ListOptions = {},
  ): Promise<void> {
    let after = '';
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const { message } = await this.request(undefined, () =>
        shardRequest(
          this.node,
          this.peer,
          SHARD_MSG.list,
          [after, MAX_LIST_DETAIL_IDS, owner ?? '', 1],
          null,
          SHARD_MSG.listAnswer,
          options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs },
        ),
      );
      const ids = fieldArray(message.fields, 0, 'ids', MAX_LIST_DETAIL_IDS);
      const rows = fieldArray(message.fields, 2, 'rows', MAX_LIST_DETAIL_IDS);
      if (rows.length !== ids.length)
        throw new ShardStoreError(
          'io',
          `member ${this.peer} sent ${ids.length} ids with ${rows.length} rows`,
        );
      for (const [i, id] of ids.entries()) {
        if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id) || id <= after) {
          throw new ShardStoreError('io', `member ${this.peer} sent a bad or unsorted shard id in a list`);
        }
        let info: ShardInfo | null;
        try {
          info = decodeInfo(rows[i]!, options.intern);
        } catch (error) {
          throw toStoreError(error, this.peer, id);
        }
        if (owner !== null && (info === null || info.owner !== owner))
          throw new ShardStoreError('io', `member ${this.peer} listed shard ${id} of another owner`);
        visit({ id, info });
        after = id;
      }
      if (fieldUint(message.fields, 1, 'more', 1) === 0) return;
    }
    throw new ShardStoreError('io', `member ${this.peer} listed more than ${MAX_LIST_PAGES} pages`);
  }

  /**
   * The version of the member's detailed listing (docs/protocols.md §4): the same version, the
   * same rows, their ages aside. Null from a member that keeps none (an older one does not know
   * the request): its listing must be asked whole.
   */
  async listVersion(options: { timeoutMs?: number } = {}): Promise<CatalogVersion | null> {
    try {
      const { message } = await this.request(undefined, () =>
        shardRequest(
          this.node,
          this.peer,
          SHARD_MSG.listVersion,
          [],
          null,
          SHARD_MSG.listVersionAnswer,
          options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs },
        ),
      );
      const epoch = fieldText(message.fields, 0, 'epoch', MAX_CATALOG_EPOCH_CHARS);
      if (epoch.length === 0) throw new NetError('bad-message', 'a list version needs an epoch');
      return { epoch, changes: fieldUint(message.fields, 1, 'changes') };
    } catch (error) {
      if (refusedAsUnsupported(error, LIST_VERSION_UNSUPPORTED)) return null;
      throw toStoreError(error, this.peer);
    }
  }

  /** `owner`'s shards with their trailers' fields (listDetailed without the rows lacking one). */
  async listOwned(owner: string): Promise<ListedShard[]> {
    const out: ListedShard[] = [];
    for (const { id, info } of await this.listDetailed(owner)) {
      if (info === null) continue;
      out.push({
        id,
        stripeId: info.stripeId,
        k: info.k,
        m: info.m,
        index: info.index,
        bodyBytes: info.bodyBytes,
      });
    }
    return out;
  }

  /** Delete as the owner (or of a shard without a pb trailer). */
  async delete(id: string): Promise<void> {
    requireShardId(id);
    await this.request(id, () =>
      shardRequest(this.node, this.peer, SHARD_MSG.delete, [id], null, SHARD_MSG.ok),
    );
  }

  /**
   * The last step of a migration: ask the old holder to delete its copy, naming the member that
   * now holds the shard (and acknowledged it). The holder re-checks with the engine and asks
   * `newHolder` whether it has the shard; a refusal arrives with the holder's reason.
   */
  async deleteMigrated(id: string, newHolder: string): Promise<void> {
    requireShardId(id);
    await this.request(id, () =>
      shardRequest(this.node, this.peer, SHARD_MSG.delete, [id, newHolder], null, SHARD_MSG.ok),
    );
  }

  async usage(): Promise<{ usedBytes: number; capacityBytes: number }> {
    const { message } = await this.request(undefined, () =>
      shardRequest(this.node, this.peer, SHARD_MSG.usage, [], null, SHARD_MSG.usageAnswer),
    );
    return {
      usedBytes: fieldUint(message.fields, 0, 'usedBytes'),
      capacityBytes: fieldUint(message.fields, 1, 'capacityBytes'),
    };
  }
}
