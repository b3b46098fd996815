/**
 * `/pb/shard/1`: put, get, has, list, delete and usage of shards on a member
 * (docs/protocols.md section 4). One request per stream; the request frame, then for a put the
 * shard bytes as one raw frame; one answer. Only current members may call it; a put is refused
 * with a reason (over the pledge, bad hash, not a member). A list may ask for each shard's
 * trailer details and filter by owner; a delete may name the member a shard migrated to, and the
 * holder's backend decides whether the caller may delete (the owner, or a planned migration).
 */
import type { Stream } from '@libp2p/interface';
import type { CborValue, ListedShardInfo } from '../../engine/index.ts';
import type { AccessPolicy } from './access.ts';
import { NetError } from './errors.ts';
import {
  FrameReader,
  fieldText,
  fieldUint,
  type Message,
  requireFieldCount,
  sendMessage,
  sendRaw,
} from './framing.ts';
import type { PbLibp2p } from './node.ts';
import { ReceiveBuffers } from './receive-buffers.ts';
import { Limiter, openStream, serveProtocol } from './serve.ts';

export const SHARD_PROTOCOL = '/pb/shard/1';
/** The largest shard on the wire (a 32 MiB shard is the design's large case). */
export const MAX_WIRE_SHARD_BYTES = 64 * 1024 * 1024;
export const MAX_SHARD_REQUEST_BYTES = 1024;
/** Ids per list answer; a client pages with `after`. */
export const MAX_LIST_IDS = 4096;
/** Ids per list answer with details (each row names its stripe and owner: bounded by the trailer's limits). */
export const MAX_LIST_DETAIL_IDS = 1024;
/** The owner filter of a list request: as written in shard trailers (at most 128 bytes). */
export const MAX_LIST_OWNER_CHARS = 128;
/** How long a body may wait for its turn on a slow link (a relayed 32 MiB shard takes seconds). */
export const BODY_QUEUE_WAIT_MS = 10 * 60 * 1000;
/** Bound on any answer frame: a detailed list page (1024 rows of at most ~530 bytes) fits. */
export const MAX_LIST_ANSWER_BYTES = 1024 * 1024;

export const SHARD_MSG = {
  put: 1,
  get: 2,
  has: 3,
  list: 4,
  delete: 5,
  usage: 6,
  getRange: 7,
  listVersion: 8,
  ok: 16,
  data: 17,
  hasAnswer: 18,
  listAnswer: 19,
  usageAnswer: 20,
  listVersionAnswer: 21,
} as const;

/** Bound on a list version's epoch (16 hex characters from pb). */
export const MAX_CATALOG_EPOCH_CHARS = 32;

/**
 * Which listing a holder would give now: equal versions, same rows (ages aside). `epoch` names
 * the holder's catalog since it was filled (a restart changes it), `changes` counts what was
 * stored or removed since.
 */
export interface CatalogVersion {
  readonly epoch: string;
  readonly changes: number;
}

const ID_RE = /^[0-9a-f]{64}$/;

function shardId(m: Message, i: number): string {
  const id = fieldText(m.fields, i, 'shard id', 64);
  if (!ID_RE.test(id)) throw new NetError('bad-message', 'a shard id is 64 lowercase hex characters');
  return id;
}

/** What a holder knows of one stored shard from its trailer (docs/protocols.md section 4). */
export type ShardInfo = ListedShardInfo;

export interface ListQuery {
  /** Ids greater than this ('' for the first page). */
  readonly after: string;
  readonly limit: number;
  /** Only shards whose trailer names this owner; null for every shard. */
  readonly owner: string | null;
}

export interface ListPage {
  readonly ids: string[];
  /** infos[i] for ids[i]; null for a shard without a readable pb trailer. */
  readonly infos: (ShardInfo | null)[];
  readonly more: boolean;
}

/** What the server side stores into: a PledgedShardStore in the daemon. */
export interface ShardBackend {
  /** `sha256` is the hash the network layer computed over exactly these bytes as they arrived. */
  putFrom(from: string, id: string, bytes: Uint8Array, sha256?: string): Promise<void>;
  get(id: string): Promise<Uint8Array>;
  has(id: string): Promise<boolean>;
  list(): Promise<string[]>;
  delete(id: string): Promise<void>;
  usage(): Promise<{ usedBytes: number; capacityBytes: number }>;
  /**
   * Up to `length` bytes of the shard from `offset` as stored, fewer only at its end. UNVERIFIED:
   * not hashed; the caller authenticates what it reads. Without it, a range request is refused
   * and the client gets the whole shard instead.
   */
  readRange?(id: string, offset: number, length: number): Promise<Uint8Array>;
  /** Paged listing with details and an owner filter (the daemon's shard catalog). */
  listPage?(query: ListQuery): Promise<ListPage>;
  /** The version of that listing; without it, a list version request is refused. */
  listVersion?(): Promise<CatalogVersion>;
  /**
   * An authorized delete: `from` asks, naming the member the shard migrated to (or null).
   * Throws a NetError('unauthorized') with the reason when refused. Without it, `delete` serves.
   */
  deleteFrom?(from: string, id: string, newHolder: string | null): Promise<void>;
}

/** Maps a store error to the wire: refusal reasons and store codes keep their meaning. */
export function storeErrorToNet(error: unknown): NetError {
  if (error instanceof NetError) return error;
  const e = error as { code?: string; reason?: string; message?: string };
  const text = e.message ?? String(error);
  switch (e.reason) {
    case 'over-pledge':
      return new NetError('over-pledge', text);
    case 'non-member':
      return new NetError('unauthorized', text);
    case 'bad-hash':
      return new NetError('corrupt', text);
  }
  switch (e.code) {
    case 'not-found':
      return new NetError('not-found', text);
    case 'corrupt':
      return new NetError('corrupt', text);
    case 'no-space':
      return new NetError('no-space', text);
    case 'invalid-id':
      return new NetError('bad-message', text);
  }
  return new NetError('internal', text);
}

export interface ShardServerOptions {
  maxConcurrent?: number;
  onError?: (protocol: string, remote: string, error: unknown) => void;
}

export async function serveShards(
  node: PbLibp2p,
  policy: () => AccessPolicy,
  backend: ShardBackend,
  options: ShardServerOptions = {},
): Promise<void> {
  // Shard bodies leave one at a time: the next get reads and verifies its shard while this one is
  // on the wire, instead of all of them sharing the link and finishing together.
  const bodyLimiter = new Limiter(1, 1024);
  const receiveBuffers = new ReceiveBuffers();
  await serveProtocol(
    node,
    SHARD_PROTOCOL,
    policy,
    async (stream, remote) => {
      const reader = new FrameReader(stream);
      const m = await reader.readMessage(MAX_SHARD_REQUEST_BYTES, 'a shard request');
      try {
        await answer(stream, reader, m, remote, backend, { bodyLimiter, receiveBuffers });
      } catch (error) {
        throw storeErrorToNet(error);
      }
      await stream.close();
    },
    { maxInboundStreams: 16, maxConcurrent: options.maxConcurrent ?? 8 },
    options.onError,
  );
}

async function answer(
  stream: Stream,
  reader: FrameReader,
  m: Message,
  remote: string,
  backend: ShardBackend,
  { bodyLimiter, receiveBuffers }: { bodyLimiter: Limiter; receiveBuffers: ReceiveBuffers },
): Promise<void> {
  switch (m.type) {
    case SHARD_MSG.put: {
      requireFieldCount(m.fields, 2, 'put');
      const id = shardId(m, 0);
      const length = fieldUint(m.fields, 1, 'length', MAX_WIRE_SHARD_BYTES);
      const { bytes, sha256 } = await reader.readRawHashed(length, 'the shard bytes', receiveBuffers);
      try {
        if (bytes.length !== length)
          throw new NetError('bad-message', `put announced ${length} bytes, sent ${bytes.length}`);
        if (sha256 !== id) throw new NetError('corrupt', `shard ${id}: the bytes hash to ${sha256}`);
        await backend.putFrom(remote, id, bytes, sha256);
      } finally {
        receiveBuffers.give(bytes); // written (or refused): nothing reads it any more
      }
      await sendMessage(stream, SHARD_MSG.ok, []);
      return;
    }
    case SHARD_MSG.get: {
      requireFieldCount(m.fields, 1, 'get');
      await sendBody(stream, await backend.get(shardId(m, 0)), bodyLimiter);
      return;
    }
    case SHARD_MSG.getRange: {
      requireFieldCount(m.fields, 3, 'get range');
      const id = shardId(m, 0);
      const offset = fieldUint(m.fields, 1, 'offset', MAX_WIRE_SHARD_BYTES);
      const length = fieldUint(m.fields, 2, 'length', MAX_WIRE_SHARD_BYTES);
      if (backend.readRange === undefined) throw new NetError('bad-message', RANGES_UNSUPPORTED);
      const bytes = await backend.readRange(id, offset, length);
      if (bytes.length > length)
        throw new NetError('internal', `a range of ${length} bytes read ${bytes.length}`);
      await sendBody(stream, bytes, bodyLimiter);
      return;
    }
    case SHARD_MSG.has: {
      requireFieldCount(m.fields, 1, 'has');
      await sendMessage(stream, SHARD_MSG.hasAnswer, [(await backend.has(shardId(m, 0))) ? 1 : 0]);
      return;
    }
    case SHARD_MSG.list: {
      if (m.fields.length !== 2) requireFieldCount(m.fields, 4, 'list');
      const after = fieldText(m.fields, 0, 'after', 64);
      const detailed = m.fields.length === 4 && fieldUint(m.fields, 3, 'detail', 1) === 1;
      const owner = m.fields.length === 4 ? fieldText(m.fields, 2, 'owner', MAX_LIST_OWNER_CHARS) : '';
      const max = detailed ? MAX_LIST_DETAIL_IDS : MAX_LIST_IDS;
      const limit = Math.max(1, Math.min(max, fieldUint(m.fields, 1, 'limit', MAX_LIST_IDS)));
      if (backend.listPage !== undefined) {
        const page = await backend.listPage({ after, limit, owner: owner === '' ? null : owner });
        const fields: CborValue[] = [page.ids, page.more ? 1 : 0];
        if (detailed) fields.push(page.infos.map(encodeInfo));
        await sendMessage(stream, SHARD_MSG.listAnswer, fields);
        return;
      }
      if (detailed || owner !== '')
        throw new NetError(
          'bad-message',
          'this member keeps no shard details: list without owner and detail',
        );
      const all = (await backend.list()).filter((id) => id > after);
      await sendMessage(stream, SHARD_MSG.listAnswer, [all.slice(0, limit), all.length > limit ? 1 : 0]);
      return;
    }
    case SHARD_MSG.delete: {
      if (m.fields.length !== 1) requireFieldCount(m.fields, 2, 'delete');
      const id = shardId(m, 0);
      const newHolder =
        m.fields.length === 2 ? fieldText(m.fields, 1, 'new holder', MAX_LIST_OWNER_CHARS) : null;
      if (backend.deleteFrom !== undefined) await backend.deleteFrom(remote, id, newHolder);
      else await backend.delete(id);
      await sendMessage(stream, SHARD_MSG.ok, []);
      return;
    }
    case SHARD_MSG.listVersion: {
      requireFieldCount(m.fields, 0, 'list version');
      if (backend.listVersion === undefined) throw new NetError('bad-message', LIST_VERSION_UNSUPPORTED);
      const v = await backend.listVersion();
      await sendMessage(stream, SHARD_MSG.listVersionAnswer, [v.epoch, v.changes]);
      return;
    }
    case SHARD_MSG.usage: {
      requireFieldCount(m.fields, 0, 'usage');
      const u = await backend.usage();
      await sendMessage(stream, SHARD_MSG.usageAnswer, [u.usedBytes, u.capacityBytes]);
      return;
    }
    default:
      throw new NetError('bad-message', `unknown shard request type ${m.type}`);
  }
}

/** A data answer: its length, then the bytes, one body at a time on this member's links. */
async function sendBody(stream: Stream, bytes: Uint8Array, bodyLimiter: Limiter): Promise<void> {
  const release = await bodyLimiter.acquire(BODY_QUEUE_WAIT_MS);
  try {
    await sendMessage(stream, SHARD_MSG.data, [bytes.length]);
    await sendRaw(stream, bytes);
  } finally {
    release();
  }
}

/** Why a member without a catalog refuses a list version (a client then lists every round). */
export const LIST_VERSION_UNSUPPORTED = 'this member keeps no listing version: list its shards';

/** Why a member that keeps no byte ranges refuses one (a client then gets the whole shard). */
export const RANGES_UNSUPPORTED = 'this member does not read shard ranges: get the whole shard';

/** A list row on the wire: `[stripeId, owner, k, m, index, bodyBytes, fileBytes, ageMs]` or `[]`. */
export function encodeInfo(info: ShardInfo | null): CborValue {
  if (info === null) return [];
  return [
    info.stripeId,
    info.owner,
    info.k,
    info.m,
    info.index,
    info.bodyBytes,
    info.fileBytes,
    Math.max(0, Math.floor(info.ageMs)),
  ];
}

/**
 * Decodes a list row defensively (a member's answer is never trusted): null for `[]`. `intern`
 * may map the stripe id and owner to one shared string each (a kept listing holds many rows).
 */
export function decodeInfo(row: CborValue, intern: (text: string) => string = (t) => t): ShardInfo | null {
  if (!Array.isArray(row)) throw new NetError('bad-message', 'a list row must be a list');
  if (row.length === 0) return null;
  if (row.length !== 8) throw new NetError('bad-message', `a list row has 8 fields, got ${row.length}`);
  const stripeId = fieldText(row, 0, 'stripe id', 256);
  const owner = fieldText(row, 1, 'owner', MAX_LIST_OWNER_CHARS);
  if (stripeId.length === 0 || owner.length === 0)
    throw new NetError('bad-message', 'a list row needs a stripe id and an owner');
  const k = fieldUint(row, 2, 'k', 24);
  const m = fieldUint(row, 3, 'm', 6);
  const index = fieldUint(row, 4, 'index', 29);
  if (k < 1 || m < 1 || index >= k + m)
    throw new NetError('bad-message', `a list row has k=${k} m=${m} index=${index}`);
  const bodyBytes = fieldUint(row, 5, 'body bytes', MAX_WIRE_SHARD_BYTES);
  const fileBytes = fieldUint(row, 6, 'file bytes', MAX_WIRE_SHARD_BYTES);
  if (bodyBytes === 0 || fileBytes < bodyBytes)
    throw new NetError('bad-message', `a list row has ${bodyBytes} body bytes in a ${fileBytes}-byte file`);
  const ageMs = fieldUint(row, 7, 'age');
  return { stripeId: intern(stripeId), owner: intern(owner), k, m, index, bodyBytes, fileBytes, ageMs };
}

/** Where a data answer's bytes [skip, skip + take) go (unhashed: the caller authenticates them). */
export interface DataTarget {
  readonly bytes: Uint8Array;
  readonly at: number;
  readonly skip: number;
  readonly take: number;
}

/**
 * One request/answer exchange on a fresh stream. A data answer is hashed as it arrives, or,
 * with `into`, copied in part into the caller's buffer and not hashed.
 */
export async function shardRequest(
  node: PbLibp2p,
  peer: string,
  type: number,
  fields: (string | number | string[])[],
  body: Uint8Array | null,
  answerType: number,
  options: { timeoutMs?: number; bodyLimiter?: Limiter; into?: DataTarget } = {},
): Promise<{ message: Message; data: Uint8Array | null; sha256: string | null; copied: number }> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const stream = await openStream(node, peer, SHARD_PROTOCOL);
  try {
    await sendMessage(stream, type, fields);
    if (body !== null) {
      // One body on the wire at a time per peer: the member verifies and fsyncs shard i while
      // shard i+1 arrives (a pipeline), instead of all bodies finishing together.
      const release = options.bodyLimiter ? await options.bodyLimiter.acquire(BODY_QUEUE_WAIT_MS) : () => {};
      try {
        await sendRaw(stream, body);
      } finally {
        release();
      }
    }
    const reader = new FrameReader(stream, timeoutMs);
    const message = await reader.readMessage(MAX_LIST_ANSWER_BYTES, 'a shard answer');
    if (message.type !== answerType) {
      throw new NetError('bad-message', `expected answer type ${answerType}, got ${message.type}`);
    }
    let data: Uint8Array | null = null;
    let sha256: string | null = null;
    let copied = 0;
    const into = options.into;
    if (message.type === SHARD_MSG.data) {
      const length = fieldUint(message.fields, 0, 'length', MAX_WIRE_SHARD_BYTES);
      if (into === undefined)
        ({ bytes: data, sha256 } = await reader.readRawHashed(length, 'the shard bytes'));
      else
        copied = await reader.readRawInto(
          length,
          into.bytes,
          into.at,
          into.skip,
          into.take,
          'the shard bytes',
        );
    }
    await stream.close().catch(() => undefined);
    return { message, data, sha256, copied };
  } catch (error) {
    stream.abort(error as Error);
    throw error;
  }
}
