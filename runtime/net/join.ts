/**
 * `/pb/join/1`: a candidate holding an invite asks to join; the inviter's operator decides
 * (docs/protocols.md section 3). The one protocol a non-member may open, and only with a valid
 * token. Frames: candidate `hello(token)`; inviter `ops`... then `log(groupId)`; candidate
 * `request(op)`; inviter `waiting` every few seconds until its operator decides, then `ops`... and
 * `decision(outcome)`. A candidate that reconnects with the same token resumes its wait.
 */
import type { Stream } from '@libp2p/interface';
import { MAX_OP_BYTES } from '../../engine/index.ts';
import type { AccessPolicy } from './access.ts';
import { NetError } from './errors.ts';
import { FrameReader, fieldBytes, fieldText, fieldUint, requireFieldCount, sendMessage } from './framing.ts';
import { opsOfFrame, sendOps } from './group-sync.ts';
import type { PbLibp2p } from './node.ts';
import { openStream, serveProtocol } from './serve.ts';

export const JOIN_PROTOCOL = '/pb/join/1';
export const JOIN_MSG = { hello: 1, log: 2, ops: 3, request: 4, waiting: 5, decision: 6 } as const;
export const JOIN_KEEPALIVE_MS = 5_000;
/** The longest a candidate's stream waits for a decision (it may reconnect and wait again). */
export const MAX_JOIN_WAIT_MS = 30 * 60 * 1000;
const MAX_OPS_FRAMES = 1024;
const POLL_MS = 250;

export type JoinOutcome = 'approved' | 'rejected' | 'cancelled';

/** The inviter's side, backed by the group service. */
export interface JoinHost {
  /** The op log to hand a candidate presenting `token`; throws NetError('invalid-invite') otherwise. */
  admitHello(candidate: string, token: Uint8Array): { groupId: string; ops: Uint8Array[] };
  /** Verifies and keeps the candidate's request op; returns its hash. */
  acceptRequest(candidate: string, token: Uint8Array, op: Uint8Array): Promise<string>;
  outcome(request: string): JoinOutcome | null;
  allOps(): Uint8Array[];
  /** The join stream with `candidate` ended (it may be cut off now). */
  finished(candidate: string): void;
}

export async function serveJoin(
  node: PbLibp2p,
  policy: () => AccessPolicy,
  host: JoinHost,
  onError?: (p: string, r: string, e: unknown) => void,
): Promise<void> {
  await serveProtocol(
    node,
    JOIN_PROTOCOL,
    policy,
    async (stream, remote) => {
      const reader = new FrameReader(stream, 60_000);
      const hello = await reader.readMessage(256, 'a join hello');
      if (hello.type !== JOIN_MSG.hello) throw new NetError('bad-message', 'a join starts with hello');
      requireFieldCount(hello.fields, 2, 'hello');
      const token = fieldBytes(hello.fields, 0, 'token', 32, 32);
      const waitMs = Math.min(fieldUint(hello.fields, 1, 'waitMs'), MAX_JOIN_WAIT_MS);
      const { groupId, ops } = host.admitHello(remote, token);
      try {
        await answerJoin(stream, reader, host, remote, token, waitMs, groupId, ops);
      } finally {
        host.finished(remote);
      }
    },
    { maxInboundStreams: 2, maxConcurrent: 16, queueTimeoutMs: 5_000 },
    onError,
  );
}

async function answerJoin(
  stream: Stream,
  reader: FrameReader,
  host: JoinHost,
  remote: string,
  token: Uint8Array,
  waitMs: number,
  groupId: string,
  ops: Uint8Array[],
): Promise<void> {
  await sendOps(stream, JOIN_MSG.ops, ops);
  await sendMessage(stream, JOIN_MSG.log, [Buffer.from(groupId, 'hex')]);
  const request = await reader.readMessage(MAX_OP_BYTES + 64, 'a join request');
  if (request.type !== JOIN_MSG.request) throw new NetError('bad-message', 'expected the request op');
  requireFieldCount(request.fields, 1, 'request');
  const hash = await host.acceptRequest(remote, token, fieldBytes(request.fields, 0, 'op', MAX_OP_BYTES));
  const deadline = Date.now() + waitMs;
  let lastKeepalive = Date.now();
  await sendMessage(stream, JOIN_MSG.waiting, []);
  for (;;) {
    const outcome = host.outcome(hash);
    if (outcome !== null) {
      // Only an admitted member gets the log's news; a rejected candidate learns the outcome alone.
      if (outcome === 'approved') await sendOps(stream, JOIN_MSG.ops, host.allOps());
      await sendMessage(stream, JOIN_MSG.decision, [outcome]);
      await stream.close().catch(() => undefined);
      return;
    }
    if (Date.now() > deadline) throw new NetError('timeout', 'no decision yet: ask again later');
    if (stream.status !== 'open') return;
    if (Date.now() - lastKeepalive > JOIN_KEEPALIVE_MS) {
      await sendMessage(stream, JOIN_MSG.waiting, []);
      lastKeepalive = Date.now();
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function readOpsThen(
  reader: FrameReader,
  type: number,
  what: string,
): Promise<{ ops: Uint8Array[]; fields: readonly unknown[] }> {
  const ops: Uint8Array[] = [];
  for (let i = 0; i <= MAX_OPS_FRAMES; i++) {
    const m = await reader.readMessage(8 * 1024 * 1024, what);
    if (m.type === JOIN_MSG.ops) {
      ops.push(...opsOfFrame(m.fields));
      continue;
    }
    if (m.type !== type) throw new NetError('bad-message', `expected ${what}, got frame type ${m.type}`);
    return { ops, fields: m.fields };
  }
  throw new NetError('too-large', `more than ${MAX_OPS_FRAMES} ops frames`);
}

export interface JoinResult {
  outcome: JoinOutcome;
  groupId: string;
  ops: Uint8Array[];
}

/**
 * The candidate's side. `makeRequest` receives the inviter's log and returns the request op
 * bytes (signed by the candidate). `onWaiting` is called on every keepalive.
 */
export async function requestJoin(
  node: PbLibp2p,
  inviter: string,
  token: Uint8Array,
  waitMs: number,
  makeRequest: (groupId: string, ops: Uint8Array[]) => Promise<Uint8Array>,
  onWaiting: () => void,
): Promise<JoinResult> {
  const stream: Stream = await openStream(node, inviter, JOIN_PROTOCOL, 30_000);
  try {
    const reader = new FrameReader(stream, JOIN_KEEPALIVE_MS * 4);
    await sendMessage(stream, JOIN_MSG.hello, [token, Math.min(waitMs, MAX_JOIN_WAIT_MS)]);
    const log = await readOpsThen(reader, JOIN_MSG.log, 'the group log');
    requireFieldCount(log.fields as never, 1, 'log');
    const groupId = Buffer.from(fieldBytes(log.fields as never, 0, 'groupId', 32, 32)).toString('hex');
    const request = await makeRequest(groupId, log.ops);
    await sendMessage(stream, JOIN_MSG.request, [request]);
    for (;;) {
      const m = await reader.readMessage(8 * 1024 * 1024, 'a join answer');
      if (m.type === JOIN_MSG.waiting) {
        onWaiting();
        continue;
      }
      const ops: Uint8Array[] = [];
      let message = m;
      for (let i = 0; message.type === JOIN_MSG.ops && i <= MAX_OPS_FRAMES; i++) {
        ops.push(...opsOfFrame(message.fields));
        message = await reader.readMessage(8 * 1024 * 1024, 'a join answer');
      }
      if (message.type !== JOIN_MSG.decision)
        throw new NetError('bad-message', `unexpected join frame ${message.type}`);
      const outcome = fieldText(message.fields, 0, 'outcome', 16);
      if (outcome !== 'approved' && outcome !== 'rejected' && outcome !== 'cancelled') {
        throw new NetError('bad-message', `unknown join outcome ${outcome}`);
      }
      await stream.close().catch(() => undefined);
      return { outcome, groupId, ops };
    }
  } catch (error) {
    stream.abort(error as Error);
    throw error;
  }
}
