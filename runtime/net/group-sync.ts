/**
 * `/pb/group/1`: op-log reconciliation between two members (docs/protocols.md section 2), a thin
 * loop around the engine's `syncStart`/`syncRespond` (docs/group-log.md section 5). The opener
 * sends its digest; the sides alternate `step` frames until one has nothing to say. Ops a step
 * names travel before it in `ops` frames (at most 4 MiB each). Ops are verified by the receiver's
 * op log (signature, schema) before use; the fold judges them (groupId given).
 */
import type { Stream } from '@libp2p/interface';
import {
  type CborValue,
  decodeSyncMessage,
  encodeSyncMessage,
  MAX_OP_BYTES,
  MAX_SYNC_MESSAGE_BYTES,
  MAX_SYNC_ROUNDS,
  type SyncIndex,
  type SyncMessage,
  syncRespond,
  syncStart,
} from '../../engine/index.ts';
import type { AccessPolicy } from './access.ts';
import { NetError } from './errors.ts';
import { FrameReader, fieldArray, fieldBytes, requireFieldCount, sendMessage } from './framing.ts';
import type { PbLibp2p } from './node.ts';
import { openStream, serveProtocol } from './serve.ts';

export const GROUP_PROTOCOL = '/pb/group/1';
export const GROUP_MSG = { step: 1, ops: 2 } as const;
/** Bytes of ops packed into one `ops` frame. */
export const MAX_OPS_FRAME_BYTES = 4 * 1024 * 1024;
/** `ops` frames between two steps (4 GiB of ops: far beyond a group's log). */
export const MAX_OPS_FRAMES_PER_STEP = 1024;
const MAX_FRAME = MAX_SYNC_MESSAGE_BYTES + 64;

/** The op log as the protocol sees it. */
export interface SyncSide {
  /** A snapshot of the hashes held now. */
  index(): SyncIndex;
  opBytes(hash: string): Uint8Array | undefined;
  /** Verifies and keeps ops from `peer`; returns how many were new. */
  receive(peer: string, ops: Uint8Array[]): Promise<number>;
  /** A reconciliation `peer` opened here finished (both logs now hold what either held). */
  reconciled?(peer: string): void;
}

/** Sends ops in frames of at most MAX_OPS_FRAME_BYTES. */
export async function sendOps(stream: Stream, type: number, ops: readonly Uint8Array[]): Promise<void> {
  let batch: Uint8Array[] = [];
  let bytes = 0;
  for (const op of ops) {
    if (bytes + op.length > MAX_OPS_FRAME_BYTES && batch.length > 0) {
      await sendMessage(stream, type, [batch]);
      batch = [];
      bytes = 0;
    }
    batch.push(op);
    bytes += op.length + 8;
  }
  if (batch.length > 0) await sendMessage(stream, type, [batch]);
}

export function opsOfFrame(fields: readonly CborValue[]): Uint8Array[] {
  requireFieldCount(fields, 1, 'ops');
  const list = fieldArray(fields, 0, 'ops', MAX_OPS_FRAME_BYTES / 64);
  return list.map((_, i) => fieldBytes(list, i, 'op', MAX_OP_BYTES));
}

/** Reads `ops` frames until a `step` frame; returns the step's sync message (null = done). */
async function readStep(
  reader: FrameReader,
  side: SyncSide,
  peer: string,
): Promise<{ message: SyncMessage | null; received: number }> {
  let received = 0;
  for (let frames = 0; frames <= MAX_OPS_FRAMES_PER_STEP; frames++) {
    const m = await reader.readMessage(MAX_FRAME, 'a group sync frame');
    if (m.type === GROUP_MSG.ops) {
      received += await side.receive(peer, opsOfFrame(m.fields));
      continue;
    }
    if (m.type !== GROUP_MSG.step)
      throw new NetError('bad-message', `unknown group sync frame type ${m.type}`);
    requireFieldCount(m.fields, 1, 'step');
    const bytes = fieldBytes(m.fields, 0, 'sync message', MAX_SYNC_MESSAGE_BYTES);
    if (bytes.length === 0) return { message: null, received };
    try {
      return { message: decodeSyncMessage(bytes), received };
    } catch (error) {
      throw new NetError('bad-message', `bad sync message: ${(error as Error).message}`);
    }
  }
  throw new NetError('too-large', `more than ${MAX_OPS_FRAMES_PER_STEP} ops frames in one step`);
}

async function respondLoop(
  stream: Stream,
  reader: FrameReader,
  side: SyncSide,
  peer: string,
  index: SyncIndex,
  first: SyncMessage | null,
): Promise<number> {
  let received = 0;
  let incoming = first;
  for (let round = 0; round < MAX_SYNC_ROUNDS; round++) {
    if (incoming === null) return received;
    let step: ReturnType<typeof syncRespond>;
    try {
      step = syncRespond(index, incoming);
    } catch (error) {
      throw new NetError('bad-message', `sync message refused: ${(error as Error).message}`);
    }
    const ops = step.send.map((h) => side.opBytes(h)).filter((b): b is Uint8Array => b !== undefined);
    await sendOps(stream, GROUP_MSG.ops, ops);
    await sendMessage(stream, GROUP_MSG.step, [
      step.reply === null ? new Uint8Array(0) : encodeSyncMessage(step.reply),
    ]);
    if (step.reply === null) {
      // The other side may still send ops its last step named; read to the end.
      const tail = await readStep(reader, side, peer).catch(() => ({ message: null, received: 0 }));
      return received + tail.received;
    }
    const next = await readStep(reader, side, peer);
    received += next.received;
    incoming = next.message;
  }
  throw new NetError('too-large', `sync did not finish in ${MAX_SYNC_ROUNDS} rounds`);
}

export async function serveGroupSync(
  node: PbLibp2p,
  policy: () => AccessPolicy,
  side: SyncSide,
  onError?: (p: string, r: string, e: unknown) => void,
): Promise<void> {
  await serveProtocol(
    node,
    GROUP_PROTOCOL,
    policy,
    async (stream, remote) => {
      const reader = new FrameReader(stream);
      const index = side.index();
      const first = await readStep(reader, side, remote);
      await respondLoop(stream, reader, side, remote, index, first.message);
      side.reconciled?.(remote);
      await stream
        .close({ signal: AbortSignal.timeout(5_000) })
        .catch(() => stream.abort(new Error('close timed out')));
    },
    { maxInboundStreams: 4, maxConcurrent: 8 },
    onError,
  );
}

/** One reconciliation, open to close, gets at most this long; then its stream is aborted. */
export const SYNC_DEADLINE_MS = 60_000;

/** Reconciles with `peer`; returns how many new ops arrived. Fails 'timeout' after `deadlineMs`. */
export async function syncWithPeer(
  node: PbLibp2p,
  peer: string,
  side: SyncSide,
  deadlineMs = SYNC_DEADLINE_MS,
): Promise<number> {
  const stream = await openStream(node, peer, GROUP_PROTOCOL);
  const late = new NetError('timeout', `sync with ${peer} did not finish within ${deadlineMs} ms`);
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    stream.abort(late);
  }, deadlineMs);
  try {
    const reader = new FrameReader(stream);
    const index = side.index();
    await sendMessage(stream, GROUP_MSG.step, [encodeSyncMessage(syncStart(index))]);
    const answer = await readStep(reader, side, peer);
    const received = answer.received + (await respondLoop(stream, reader, side, peer, index, answer.message));
    await stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => stream.abort(late));
    return received;
  } catch (error) {
    stream.abort(error as Error);
    throw expired ? late : error;
  } finally {
    clearTimeout(timer);
  }
}
