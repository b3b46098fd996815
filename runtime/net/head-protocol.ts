/**
 * `/pb/head/1`: get and put of owners' signed heads (docs/protocols.md section 5). Members only.
 * A put is verified (engine `decodeHead`) and kept only if newer than the head held for that
 * owner; an older or equal seq is refused as 'stale', a bad signature as 'bad-signature'.
 */
import { MAX_HEAD_BYTES, type SignedHead } from '../../engine/index.ts';
import type { AccessPolicy } from './access.ts';
import { NetError } from './errors.ts';
import { FrameReader, fieldBytes, fieldText, fieldUint, requireFieldCount, sendMessage } from './framing.ts';
import type { PbLibp2p } from './node.ts';
import { openStream, serveProtocol } from './serve.ts';

export const HEAD_PROTOCOL = '/pb/head/1';

/**
 * A put refused because the member already holds a head of this owner with a seq at least the
 * offered one. The held seq travels in the error frame's text (docs/protocols.md section 5); this
 * class writes that text and `putHead` reads it back, so callers get the numbers as fields.
 */
export class StaleHeadError extends NetError {
  readonly offeredSeq: number;
  readonly heldSeq: number;
  constructor(
    offeredSeq: number,
    heldSeq: number,
    options?: { remote?: boolean; message?: string; cause?: unknown },
  ) {
    super(
      'stale',
      options?.message ?? `head seq ${offeredSeq} is not newer than the held seq ${heldSeq}`,
      options,
    );
    this.name = 'StaleHeadError';
    this.offeredSeq = offeredSeq;
    this.heldSeq = heldSeq;
  }
}

const STALE_TEXT = /head seq (\d+) is not newer than the held seq (\d+)$/;

/** A remote 'stale' refusal of a put, with its seqs as fields when its text carries them. */
function withStaleFields(error: unknown): unknown {
  if (!(error instanceof NetError) || error.code !== 'stale' || !error.remote) return error;
  const found = STALE_TEXT.exec(error.message);
  if (found === null) return error;
  const [offered, held] = [Number(found[1]), Number(found[2])];
  if (!Number.isSafeInteger(offered) || !Number.isSafeInteger(held)) return error;
  return new StaleHeadError(offered, held, { remote: true, message: error.message, cause: error });
}
export const HEAD_MSG = { get: 1, put: 2, head: 3, stored: 4 } as const;
const MAX_FRAME = MAX_HEAD_BYTES + 128;

export interface HeadBackend {
  get(owner: string): SignedHead | null;
  /** Verifies and keeps; throws StaleHeadError, or NetError 'bad-signature' / 'unauthorized'. Returns the seq now held. */
  put(from: string, bytes: Uint8Array): Promise<number>;
}

export async function serveHeads(
  node: PbLibp2p,
  policy: () => AccessPolicy,
  backend: HeadBackend,
  onError?: (p: string, r: string, e: unknown) => void,
): Promise<void> {
  await serveProtocol(
    node,
    HEAD_PROTOCOL,
    policy,
    async (stream, remote) => {
      const reader = new FrameReader(stream);
      const m = await reader.readMessage(MAX_FRAME, 'a head request');
      if (m.type === HEAD_MSG.get) {
        requireFieldCount(m.fields, 1, 'get');
        const head = backend.get(fieldText(m.fields, 0, 'owner', 64));
        if (head === null) throw new NetError('not-found', 'no head for that owner here');
        await sendMessage(stream, HEAD_MSG.head, [head.bytes]);
      } else if (m.type === HEAD_MSG.put) {
        requireFieldCount(m.fields, 1, 'put');
        const seq = await backend.put(remote, fieldBytes(m.fields, 0, 'head', MAX_HEAD_BYTES));
        await sendMessage(stream, HEAD_MSG.stored, [seq]);
      } else throw new NetError('bad-message', `unknown head request type ${m.type}`);
      await stream.close().catch(() => undefined);
    },
    { maxInboundStreams: 8, maxConcurrent: 16 },
    onError,
  );
}

export async function getHead(node: PbLibp2p, peer: string, owner: string): Promise<Uint8Array> {
  const stream = await openStream(node, peer, HEAD_PROTOCOL);
  try {
    await sendMessage(stream, HEAD_MSG.get, [owner]);
    const m = await new FrameReader(stream).readMessage(MAX_FRAME, 'a head answer');
    if (m.type !== HEAD_MSG.head) throw new NetError('bad-message', `expected a head, got type ${m.type}`);
    await stream.close().catch(() => undefined);
    return fieldBytes(m.fields, 0, 'head', MAX_HEAD_BYTES);
  } catch (error) {
    stream.abort(error as Error);
    throw error;
  }
}

export async function putHead(node: PbLibp2p, peer: string, head: Uint8Array): Promise<number> {
  const stream = await openStream(node, peer, HEAD_PROTOCOL);
  try {
    await sendMessage(stream, HEAD_MSG.put, [head]);
    const m = await new FrameReader(stream).readMessage(MAX_FRAME, 'a head answer');
    if (m.type !== HEAD_MSG.stored) throw new NetError('bad-message', `expected stored, got type ${m.type}`);
    await stream.close().catch(() => undefined);
    return fieldUint(m.fields, 0, 'seq');
  } catch (error) {
    stream.abort(error as Error);
    throw withStaleFields(error);
  }
}
