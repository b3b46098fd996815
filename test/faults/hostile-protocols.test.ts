/**
 * Hostile input, protocols: the real handlers of `/pb/shard/1`, `/pb/head/1`, `/pb/group/1` and
 * `/pb/join/1` (registered through serveProtocol, as the daemon does) read generated and mutated
 * client conversations (valid request frames flipped, cut, spliced; random bytes) from an
 * in-memory stream, and `parseMessage` (the framing every protocol shares) reads hostile frames.
 * Allowed: an answer, or an error frame from a typed error (NetError, or the backend's typed
 * store/engine error). Never an untyped throw (TypeError, RangeError...), and never a state
 * change that a valid request could not make: the shard store holds only bytes whose SHA-256 is
 * their id, the head store only heads that verify, the op log only ops that verify.
 * CI: FUZZ_RUNS (5k) per protocol; `pnpm test:faults --long`: 100k.
 *
 * The in-memory stream is the one test double here: it carries bytes like a libp2p stream
 * (async iteration in, `send` out). Real sockets are used by the refusal tests (refusals.test.ts).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Connection, Stream } from '@libp2p/interface';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeHead,
  decodeOp,
  EngineError,
  encodeSyncMessage,
  inviteTokenHash,
  OpLog,
  signHead,
  syncIndex,
  syncStart,
} from '../../engine/index.ts';
import { nodeEd25519Verifier } from '../../runtime/crypto/ed25519.ts';
import { HeadStore } from '../../runtime/daemon/shards/head-store.ts';
import type { AccessPolicy } from '../../runtime/net/access.ts';
import { NET_ERROR_CODES, NetError } from '../../runtime/net/errors.ts';
import { encodeMessage, parseMessage } from '../../runtime/net/framing.ts';
import { GROUP_MSG, serveGroupSync } from '../../runtime/net/group-sync.ts';
import { HEAD_MSG, serveHeads } from '../../runtime/net/head-protocol.ts';
import { JOIN_MSG, serveJoin } from '../../runtime/net/join.ts';
import type { PbLibp2p } from '../../runtime/net/node.ts';
import { SHARD_MSG, type ShardBackend, serveShards } from '../../runtime/net/shard-protocol.ts';
import { ShardStoreError } from '../../runtime/store/shard-store.ts';
import { createOp, idOf, keysOf, opOn, T0, tokenOf } from '../engine/group/helpers.ts';
import { tempDir } from '../runtime/helpers.ts';
import { FUZZ_RUNS, scaledTimeoutMs } from './_counts.ts';
import { hostileBytes } from './_mutate.ts';

const PEER = '12D3KooWJ5r1K6z1nAr5ycBnC1NLyWkvsmkPjwiGWrHFBm8ykmHc';
const OPEN: AccessPolicy = { mayConnect: () => true, mayUse: () => true, mayRelay: () => false };
const TIMEOUT = scaledTimeoutMs(180_000, 3_600_000);
const verify = nodeEd25519Verifier();
const root = tempDir('faults-protocols');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

type Handler = (stream: Stream, connection: Connection) => Promise<void>;

/** A node that only records the handler a serve* function registers. */
async function handlerOf(register: (node: PbLibp2p) => Promise<void>): Promise<Handler> {
  let handler: Handler | null = null;
  const node = {
    handle: async (_p: string, h: Handler) => {
      handler = h;
    },
  } as unknown as PbLibp2p;
  await register(node);
  if (handler === null) throw new Error('nothing registered');
  return handler;
}

/** An in-memory stream: yields `input` in the given pieces, records what the handler sends. */
function memoryStream(input: Uint8Array, cuts: readonly number[]) {
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    const to = Math.min(input.length, c);
    if (to > at) pieces.push(input.subarray(at, to));
    at = Math.max(at, to);
  }
  if (at < input.length) pieces.push(input.subarray(at));
  const sent: Uint8Array[] = [];
  const stream = {
    status: 'open',
    send(bytes: Uint8Array | { subarray(): Uint8Array }) {
      sent.push(bytes instanceof Uint8Array ? bytes : bytes.subarray());
      return true;
    },
    onDrain: async () => undefined,
    close: async () => {
      stream.status = 'closed';
    },
    abort: () => {
      stream.status = 'aborted';
    },
    async *[Symbol.asyncIterator]() {
      for (const p of pieces) yield p;
    },
  };
  return { stream: stream as unknown as Stream, sent };
}

const connection = { remotePeer: { toString: () => PEER } } as unknown as Connection;

/** The error frame the handler sent last, if any: its code must be one the protocol defines. */
function lastErrorCode(sent: readonly Uint8Array[]): string | null {
  const all = Buffer.concat(sent);
  let at = 0;
  let code: string | null = null;
  while (at + 4 <= all.length) {
    const length = all.readUInt32BE(at);
    const frame = all.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    try {
      parseMessage(frame);
    } catch (e) {
      if (e instanceof NetError && e.remote) code = e.code;
    }
  }
  return code;
}

const tally = new Map<string, { runs: number; refused: number }>();
function count(name: string, refused: boolean): void {
  const t = tally.get(name) ?? { runs: 0, refused: 0 };
  t.runs++;
  if (refused) t.refused++;
  tally.set(name, t);
}

/** Errors the handler may report: the network's and the backends' typed errors. */
const typed = (e: unknown) =>
  e instanceof NetError || e instanceof EngineError || e instanceof ShardStoreError;

async function drive(
  name: string,
  handler: Handler,
  input: Uint8Array,
  cuts: readonly number[],
  errors: unknown[],
): Promise<void> {
  errors.length = 0;
  const { stream, sent } = memoryStream(input, cuts);
  await handler(stream, connection); // serveProtocol's wrapper: resolves, never rejects
  for (const e of errors) {
    if (!typed(e))
      throw new Error(`${name}: untyped ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
  }
  const code = lastErrorCode(sent);
  if (code !== null) expect(NET_ERROR_CODES).toContain(code);
  count(name, errors.length > 0);
}

const raw = (bytes: Uint8Array) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
};

const cutsArb = fc.array(fc.nat(2000), { maxLength: 3 });

describe('hostile protocol input: typed errors only, no crash, no state change', () => {
  it('the framing: parseMessage', () => {
    const corpus = [
      encodeMessage(1, ['a', 2, new Uint8Array(3), [new Uint8Array(1)]]).subarray(4),
      encodeMessage(0, ['unauthorized', 'no']).subarray(4),
      encodeMessage(9, []).subarray(4),
    ];
    fc.assert(
      fc.property(hostileBytes(corpus), (b) => {
        try {
          parseMessage(b);
          count('framing', false);
        } catch (e) {
          if (!(e instanceof NetError)) throw e;
          count('framing', true);
        }
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it(
    '/pb/shard/1: put, get, has, list, delete, usage',
    async () => {
      const held = new Map<string, Buffer>();
      const backend: ShardBackend = {
        putFrom: async (_from, id, bytes) => {
          held.set(id, Buffer.from(bytes));
        },
        get: async (id) => {
          const b = held.get(id);
          if (!b) throw new ShardStoreError('not-found', `no shard ${id}`);
          return b;
        },
        has: async (id) => held.has(id),
        list: async () => [...held.keys()].sort(),
        delete: async (id) => {
          held.delete(id);
        },
        usage: async () => ({
          usedBytes: [...held.values()].reduce((n, b) => n + b.length, 0),
          capacityBytes: 1e9,
        }),
      };
      const errors: unknown[] = [];
      const handler = await handlerOf((node) =>
        serveShards(node, () => OPEN, backend, { onError: (_p, _r, e) => errors.push(e) }),
      );
      const body = Buffer.from('shard body bytes: never stored unless they hash to their id');
      const id = createHash('sha256').update(body).digest('hex');
      const corpus = [
        Buffer.concat([encodeMessage(SHARD_MSG.put, [id, body.length]), raw(body)]),
        encodeMessage(SHARD_MSG.get, [id]),
        encodeMessage(SHARD_MSG.has, [id]),
        encodeMessage(SHARD_MSG.list, ['', 100]),
        encodeMessage(SHARD_MSG.delete, [id]),
        encodeMessage(SHARD_MSG.usage, []),
      ];
      await fc.assert(
        fc.asyncProperty(hostileBytes(corpus), cutsArb, async (b, cuts) => {
          await drive('shard', handler, b, cuts, errors);
          for (const [k, v] of held) expect(createHash('sha256').update(v).digest('hex')).toBe(k);
        }),
        { numRuns: FUZZ_RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    '/pb/head/1: get and put',
    async () => {
      const dir = join(root, 'heads');
      const store = new HeadStore(
        dir,
        () => true,
        () => undefined,
      );
      const errors: unknown[] = [];
      const handler = await handlerOf((node) =>
        serveHeads(
          node,
          () => OPEN,
          store,
          (_p, _r, e) => errors.push(e),
        ),
      );
      const heads = [
        signHead(keysOf(1), 5, Buffer.from('head body')),
        signHead(keysOf(2), 1, new Uint8Array(0)),
      ];
      const corpus = [
        ...heads.map((h) => encodeMessage(HEAD_MSG.put, [h.bytes])),
        encodeMessage(HEAD_MSG.get, [heads[0]!.owner]),
      ];
      await fc.assert(
        fc.asyncProperty(hostileBytes(corpus), cutsArb, async (b, cuts) => {
          await drive('head', handler, b, cuts, errors);
        }),
        { numRuns: FUZZ_RUNS },
      );
      // What the store kept on disk: only heads that verify, each under its owner's name.
      for (const f of fs.readdirSync(dir)) {
        const h = decodeHead(fs.readFileSync(join(dir, f)), verify);
        expect(f).toBe(`${h.owner}.head`);
      }
    },
    TIMEOUT,
  );

  it(
    '/pb/group/1: steps and ops frames',
    async () => {
      const create = createOp(1);
      const ops = [create];
      for (let i = 0; i < 4; i++) ops.push(opOn(ops, 1, { kind: 'pledge', pledgeBytes: 1000 + i }));
      const log = new OpLog({ verify });
      log.add(ops[0]!.bytes);
      log.add(ops[1]!.bytes);
      const errors: unknown[] = [];
      const handler = await handlerOf((node) =>
        serveGroupSync(
          node,
          () => OPEN,
          {
            index: () => syncIndex(log.hashes()),
            opBytes: (h) => log.get(h)?.bytes,
            receive: async (_p, received) => {
              let added = 0;
              for (const bytes of received) if (log.add(bytes).status === 'added') added++;
              return added;
            },
          },
          (_p, _r, e) => errors.push(e),
        ),
      );
      const clientIndex = syncIndex(ops.map((o) => o.hash));
      const corpus = [
        Buffer.concat([
          encodeMessage(GROUP_MSG.ops, [ops.slice(2).map((o) => o.bytes)]),
          encodeMessage(GROUP_MSG.step, [encodeSyncMessage(syncStart(clientIndex))]),
        ]),
        encodeMessage(GROUP_MSG.step, [encodeSyncMessage(syncStart(syncIndex([])))]),
        encodeMessage(GROUP_MSG.step, [new Uint8Array(0)]),
      ];
      const valid = new Set(ops.map((o) => o.hash));
      await fc.assert(
        fc.asyncProperty(hostileBytes(corpus), cutsArb, async (b, cuts) => {
          await drive('group', handler, b, cuts, errors);
        }),
        { numRuns: FUZZ_RUNS },
      );
      // The log grew only by ops that verify (the valid ones the corpus carried).
      for (const h of log.hashes()) expect(valid.has(h)).toBe(true);
    },
    TIMEOUT,
  );

  it(
    '/pb/join/1: hello and request',
    async () => {
      const { token } = tokenOf('join-fuzz');
      const tokenBytes = Buffer.from(token, 'hex');
      const ops = [createOp(1)];
      const request = opOn(ops, 2, {
        kind: 'request',
        name: 'bob',
        addresses: ['/ip4/127.0.0.1/tcp/1'],
        token,
      });
      let accepted = 0;
      const errors: unknown[] = [];
      const handler = await handlerOf((node) =>
        serveJoin(
          node,
          () => OPEN,
          {
            admitHello: (_c, t) => {
              if (inviteTokenHash(Buffer.from(t).toString('hex')) !== inviteTokenHash(token))
                throw new NetError('invalid-invite', 'unknown invite');
              return { groupId: ops[0]!.hash, clock: 2, parents: [ops[0]!.hash], ops: [] };
            },
            acceptRequest: async (_c, _t, bytes) => {
              const op = decodeOp(bytes, { verify }); // typed GroupError on anything bad
              if (op.hash !== request.hash)
                throw new NetError('invalid-invite', 'not the request this invite allows');
              accepted++;
              return op.hash;
            },
            attemptFailed: () => undefined,
            outcome: () => 'rejected',
            allOps: () => ops.map((o) => o.bytes),
            finished: () => undefined,
          },
          (_p, _r, e) => errors.push(e),
        ),
      );
      const corpus = [
        Buffer.concat([
          encodeMessage(JOIN_MSG.hello, [tokenBytes, 1000]),
          encodeMessage(JOIN_MSG.request, [request.bytes]),
        ]),
        encodeMessage(JOIN_MSG.hello, [new Uint8Array(32), 5]),
      ];
      await fc.assert(
        fc.asyncProperty(hostileBytes(corpus), cutsArb, async (b, cuts) => {
          await drive('join', handler, b, cuts, errors);
        }),
        { numRuns: FUZZ_RUNS },
      );
      expect(idOf(2)).toBe(request.author);
      console.log(`join: ${accepted} hostile conversations carried the one valid request intact`);
    },
    TIMEOUT,
  );

  afterAll(() => {
    const lines = [...tally].map(([k, v]) => `${k}: ${v.runs} conversations, ${v.refused} refused (typed)`);
    console.log(`hostile protocols (FUZZ_RUNS=${FUZZ_RUNS}, T0=${T0}):\n  ${lines.join('\n  ')}`);
  });
});
