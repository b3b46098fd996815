/**
 * `/pb/join/1`: a candidate holding an invite asks to join; the inviter's operator decides
 * (docs/protocols.md section 3). The one protocol a non-member may open, and only with a valid
 * token. Frames: candidate `hello(token)`; inviter `ops` (only the candidate's own earlier request,
 * when it resumes) then `log(groupId, clock, parents)`: the header its request takes; candidate
 * `request(op)`; inviter `waiting` every few seconds until its operator decides, then, if approved,
 * `ops`... (the whole log) and `decision(outcome)`. Before approval the candidate learns nothing of
 * the group but its id, a clock and head hashes. A candidate that reconnects with the same token
 * resumes its wait. The hello must come within JOIN_HELLO_TIMEOUT_MS and the request within
 * JOIN_REQUEST_TIMEOUT_MS; at most JOIN_STREAMS_PER_CODE streams per invite at once.
 */
import type { Stream } from '@libp2p/interface';
import { MAX_OP_BYTES, MAX_PARENTS } from '../../engine/index.ts';
import type { AccessPolicy } from './access.ts';
import { NetError } from './errors.ts';
import {
  FrameReader,
  fieldArray,
  fieldBytes,
  fieldText,
  fieldUint,
  requireFieldCount,
  sendMessage,
} from './framing.ts';
import { opsOfFrame, sendOps } from './group-sync.ts';
import type { PbLibp2p } from './node.ts';
import { openStream, serveProtocol } from './serve.ts';

export const JOIN_PROTOCOL = '/pb/join/1';
export const JOIN_MSG = { hello: 1, log: 2, ops: 3, request: 4, waiting: 5, decision: 6 } as const;
export const JOIN_KEEPALIVE_MS = 5_000;
/** The longest a candidate's stream waits for a decision (it may reconnect and wait again). */
export const MAX_JOIN_WAIT_MS = 30 * 60 * 1000;
/** A stream that has not said hello by then is cut: idle strangers hold no slot for long. */
export const JOIN_HELLO_TIMEOUT_MS = 5_000;
/** The candidate signs its request at once: it must arrive this soon after the header. */
export const JOIN_REQUEST_TIMEOUT_MS = 15_000;
/** Join streams presenting the same invite at once (a reconnecting candidate needs a second). */
export const JOIN_STREAMS_PER_CODE = 2;
/** Join handlers running at once on a node (every one past hello holds a live invite's slot). */
export const MAX_JOIN_STREAMS = 64;
const MAX_OPS_FRAMES = 1024;
const POLL_MS = 250;

export type JoinOutcome = 'approved' | 'rejected' | 'cancelled';

/** What the inviter hands a candidate before its request: the header its request takes. */
export interface JoinOffer {
  groupId: string;
  /** The request's clock and parents (the inviter's next header): hashes and a number only. */
  clock: number;
  parents: string[];
  /** The candidate's own earlier request with this token, if it made one (it resumes); else none. */
  ops: Uint8Array[];
}

/** The inviter's side, backed by the group service. */
export interface JoinHost {
  /** What to hand a candidate presenting `token`; throws NetError('invalid-invite') otherwise. */
  admitHello(candidate: string, token: Uint8Array): JoinOffer;
  /**
   * Checks that `op` is the candidate's own, unexpired request for this token and that it would
   * apply, and only then keeps it; returns its hash. A refusal counts against the invite.
   */
  acceptRequest(candidate: string, token: Uint8Array, op: Uint8Array): Promise<string>;
  /** A stream that presented `token` failed before its request was accepted (counts against it). */
  attemptFailed(candidate: string, token: Uint8Array): void;
  outcome(request: string): JoinOutcome | null;
  allOps(): Uint8Array[];
  /** The join stream with `candidate` ended (it may be cut off now). */
  finished(candidate: string): void;
}

/** `promise`, or a 'timeout' NetError (and the stream aborted) after `ms`. */
async function within<T>(stream: Stream, promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new NetError('timeout', `no ${what} within ${ms} ms`);
      stream.abort(error);
      reject(error);
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Streams per invite token (hex) now open past hello. */
class CodeSlots {
  private readonly open = new Map<string, number>();
  take(tokenHex: string): () => void {
    const n = this.open.get(tokenHex) ?? 0;
    if (n >= JOIN_STREAMS_PER_CODE)
      throw new NetError('busy', `${n} joins with this invite are already in progress`);
    this.open.set(tokenHex, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(tokenHex) ?? 1) - 1;
      if (left <= 0) this.open.delete(tokenHex);
      else this.open.set(tokenHex, left);
    };
  }
}

export async function serveJoin(
  node: PbLibp2p,
  policy: () => AccessPolicy,
  host: JoinHost,
  onError?: (p: string, r: string, e: unknown) => void,
): Promise<void> {
  const slots = new CodeSlots();
  await serveProtocol(
    node,
    JOIN_PROTOCOL,
    policy,
    async (stream, remote) => {
      const reader = new FrameReader(stream, 60_000);
      const hello = await within(
        stream,
        reader.readMessage(256, 'a join hello'),
        JOIN_HELLO_TIMEOUT_MS,
        'join hello',
      );
      if (hello.type !== JOIN_MSG.hello) throw new NetError('bad-message', 'a join starts with hello');
      requireFieldCount(hello.fields, 2, 'hello');
      const token = fieldBytes(hello.fields, 0, 'token', 32, 32);
      const waitMs = Math.min(fieldUint(hello.fields, 1, 'waitMs'), MAX_JOIN_WAIT_MS);
      const offer = host.admitHello(remote, token);
      let release: (() => void) | undefined;
      try {
        release = slots.take(Buffer.from(token).toString('hex'));
        await answerJoin(stream, reader, host, remote, token, waitMs, offer);
      } finally {
        release?.();
        host.finished(remote);
      }
    },
    { maxInboundStreams: 2, maxConcurrent: MAX_JOIN_STREAMS, queueTimeoutMs: 10_000 },
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
  offer: JoinOffer,
): Promise<void> {
  let hash: string;
  try {
    await sendOps(stream, JOIN_MSG.ops, offer.ops);
    await sendMessage(stream, JOIN_MSG.log, [
      Buffer.from(offer.groupId, 'hex'),
      offer.clock,
      offer.parents.map((p) => Buffer.from(p, 'hex')),
    ]);
    const request = await within(
      stream,
      reader.readMessage(MAX_OP_BYTES + 64, 'a join request'),
      JOIN_REQUEST_TIMEOUT_MS,
      'join request',
    );
    if (request.type !== JOIN_MSG.request) throw new NetError('bad-message', 'expected the request op');
    requireFieldCount(request.fields, 1, 'request');
    const op = fieldBytes(request.fields, 0, 'op', MAX_OP_BYTES);
    hash = await host.acceptRequest(remote, token, op);
  } catch (error) {
    host.attemptFailed(remote, token);
    throw error;
  }
  const deadline = Date.now() + waitMs;
  let lastKeepalive = Date.now();
  await sendMessage(stream, JOIN_MSG.waiting, []);
  for (;;) {
    const outcome = host.outcome(hash);
    if (outcome !== null) {
      // Only an admitted member gets the log; a rejected candidate learns the outcome alone.
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

/** What the candidate gets before its request: the group id, its request's header, its own ops. */
export interface JoinHeader {
  groupId: string;
  clock: number;
  parents: string[];
  /** The candidate's own earlier request with this token, when it resumes. */
  ops: Uint8Array[];
}

/**
 * The candidate's side. `makeRequest` receives the inviter's offer and returns the request op
 * bytes (signed by the candidate). `onWaiting` is called on every keepalive.
 */
export async function requestJoin(
  node: PbLibp2p,
  inviter: string,
  token: Uint8Array,
  waitMs: number,
  makeRequest: (offer: JoinHeader) => Promise<Uint8Array>,
  onWaiting: () => void,
): Promise<JoinResult> {
  const stream: Stream = await openStream(node, inviter, JOIN_PROTOCOL, 30_000);
  try {
    const reader = new FrameReader(stream, JOIN_KEEPALIVE_MS * 4);
    await sendMessage(stream, JOIN_MSG.hello, [token, Math.min(waitMs, MAX_JOIN_WAIT_MS)]);
    const log = await readOpsThen(reader, JOIN_MSG.log, 'the request header');
    requireFieldCount(log.fields as never, 3, 'log');
    const groupId = Buffer.from(fieldBytes(log.fields as never, 0, 'groupId', 32, 32)).toString('hex');
    const clock = fieldUint(log.fields as never, 1, 'clock');
    const parentList = fieldArray(log.fields as never, 2, 'parents', MAX_PARENTS);
    const parents = parentList.map((_, i) =>
      Buffer.from(fieldBytes(parentList, i, 'parent', 32, 32)).toString('hex'),
    );
    const request = await makeRequest({ groupId, clock, parents, ops: log.ops });
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
