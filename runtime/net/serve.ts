/**
 * Protocol plumbing shared by the pb handlers and clients: the authorization check before a
 * handler reads a byte, errors turned into error frames, bounded concurrency, and outbound
 * streams that work over limited (relayed) connections.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { AccessPolicy } from './access.ts';
import { describeError, NetError } from './errors.ts';
import { sendError } from './framing.ts';
import type { PbLibp2p } from './node.ts';

export interface ServeOptions {
  /** Inbound streams of this protocol per connection (libp2p enforces it). */
  maxInboundStreams: number;
  /** Handlers of this protocol running at once on this node; more wait, then get 'busy'. */
  maxConcurrent: number;
  /** How long an inbound stream may wait for a slot. */
  queueTimeoutMs?: number;
}

/** A counting semaphore with a bounded wait queue. */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(
    readonly max: number,
    readonly maxWaiting = 256,
  ) {}

  async acquire(timeoutMs: number): Promise<() => void> {
    if (this.active < this.max) {
      this.active++;
      return () => this.release();
    }
    if (this.waiting.length >= this.maxWaiting) throw new NetError('busy', 'too many requests are waiting');
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        clearTimeout(timer);
        this.active++;
        resolve(() => this.release());
      };
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new NetError('busy', `no free slot within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push(grant);
    });
  }

  private release(): void {
    this.active--;
    const next = this.waiting.shift();
    if (next) next();
  }
}

export type ProtocolHandler = (stream: Stream, remote: string, connection: Connection) => Promise<void>;

/**
 * Registers a handler behind the access policy. A refused peer gets an 'unauthorized' error frame
 * and a closed stream; any error thrown by the handler becomes an error frame (never a crash).
 */
export async function serveProtocol(
  node: PbLibp2p,
  protocol: string,
  policy: () => AccessPolicy,
  handler: ProtocolHandler,
  options: ServeOptions,
  onError: (protocol: string, remote: string, error: unknown) => void = () => {},
): Promise<void> {
  const limiter = new Limiter(options.maxConcurrent);
  await node.handle(
    protocol,
    async (stream, connection) => {
      const remote = connection.remotePeer.toString();
      if (!policy().mayUse(remote, protocol)) {
        await sendError(
          stream,
          new NetError('unauthorized', `${remote} may not use ${protocol} on this node`),
        );
        onError(protocol, remote, new NetError('unauthorized', 'refused'));
        return;
      }
      let release: (() => void) | undefined;
      try {
        release = await limiter.acquire(options.queueTimeoutMs ?? 30_000);
        await handler(stream, remote, connection);
      } catch (error) {
        onError(protocol, remote, error);
        await sendError(stream, error instanceof Error ? error : new Error(String(error)));
      } finally {
        release?.();
      }
    },
    { runOnLimitedConnection: true, maxInboundStreams: options.maxInboundStreams, maxOutboundStreams: 256 },
  );
}

export function toPeerId(peer: string | PeerId): PeerId {
  return typeof peer === 'string' ? peerIdFromString(peer) : peer;
}

/**
 * The open link to reuse for a new stream: a direct one first, else a relayed one. libp2p itself
 * reuses only unlimited connections, so without this every stream to a member reached through a
 * relay dialed again: another relayed connection (hundreds a minute), or a try at the member's
 * log addresses (a LAN address behind its router) or at WebRTC, which may be half-open and hang
 * the stream. The upgrade to a better link is left to dial.ts and webrtc-probe.ts (probed, bounded).
 */
function reusableLink(node: PbLibp2p, peer: PeerId): Connection | undefined {
  const open = node.getConnections(peer).filter((c) => c.status === 'open');
  return open.find((c) => c.limits === undefined) ?? open[0];
}

/** Opens a stream, over a limited (relayed) connection too, bounded in time. */
export async function openStream(
  node: PbLibp2p,
  peer: string | PeerId,
  protocol: string,
  timeoutMs = 20_000,
): Promise<Stream> {
  const options = { runOnLimitedConnection: true, signal: AbortSignal.timeout(timeoutMs) };
  const id = toPeerId(peer);
  const reuse = reusableLink(node, id);
  if (reuse !== undefined) {
    try {
      return await reuse.newStream(protocol, options);
    } catch {
      // That connection is going away (or refuses the protocol): dial as usual below.
    }
  }
  try {
    return await node.dialProtocol(id, protocol, options);
  } catch (error) {
    if (error instanceof NetError) throw error;
    throw new NetError('closed', `cannot open ${protocol} to ${String(peer)}: ${describeError(error)}`, {
      cause: error,
    });
  }
}
