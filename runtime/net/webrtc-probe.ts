/**
 * A WebRTC link is only usable once its data channels open. A dial can return a connection whose
 * ICE path is half-open: every data channel then stays `connecting`, and every stream libp2p
 * opens over that connection (it prefers it to the relayed one) hangs until its own timeout, so
 * sync and backups fail. Each new WebRTC connection is therefore probed: a stream must open
 * (multistream-select over a fresh data channel) within WEBRTC_OPEN_BOUND_MS, or the connection
 * is closed and streams go over the relayed (or direct) path.
 */
import type { Connection } from '@libp2p/interface';
import { type ConnectionPath, connectionPath } from '../../engine/index.ts';
import { describeError, NetError } from './errors.ts';
import type { PbLibp2p } from './node.ts';
import { webrtcPolicyOf } from './webrtc-policy.ts';

/** How long a new WebRTC link may take to open a data channel before it is closed. */
export const WEBRTC_OPEN_BOUND_MS = 5_000;
/**
 * Never served: the remote's "protocol not supported" answer proves a data channel opened and
 * carried a round trip (the same trick as libp2p's connection monitor).
 */
export const PROBE_PROTOCOL = '/pb/probe/1';

export function isWebRTC(conn: Connection): boolean {
  return connectionPath(conn.remoteAddr.toString()) === 'webrtc';
}

/**
 * The link streams prefer among `conns`: WebRTC (libp2p picks it over the relayed one), then
 * direct, then relayed (the engine's `connectionPath` of each open one); null for none.
 */
export function linkKind(conns: readonly Connection[]): ConnectionPath | null {
  const paths = new Set(
    conns.filter((c) => c.status === 'open').map((c) => connectionPath(c.remoteAddr.toString())),
  );
  return (['webrtc', 'direct', 'relay'] as const).find((p) => paths.has(p)) ?? null;
}

/** Null when a data channel opened within `boundMs`, else why not. */
export async function probeDataChannel(
  conn: Connection,
  boundMs = WEBRTC_OPEN_BOUND_MS,
): Promise<string | null> {
  try {
    const stream = await conn.newStream(PROBE_PROTOCOL, {
      signal: AbortSignal.timeout(boundMs),
      runOnLimitedConnection: true,
    });
    stream.abort(new Error('probe done'));
    return null;
  } catch (error) {
    if ((error as Error)?.name === 'UnsupportedProtocolError') return null;
    if ((error as Error)?.name === 'TimeoutError' || (error as Error)?.name === 'AbortError')
      return `no data channel opened within ${boundMs} ms`;
    return describeError(error);
  }
}

/**
 * Probes `conn` and closes it when its data channel does not open; returns why it was closed,
 * or null when the link works.
 */
export async function closeIfHalfOpen(
  conn: Connection,
  boundMs = WEBRTC_OPEN_BOUND_MS,
): Promise<string | null> {
  const reason = await probeDataChannel(conn, boundMs);
  if (reason === null || conn.status !== 'open') return reason;
  conn.abort(
    new NetError('timeout', `the WebRTC link to ${conn.remotePeer.toString()} is half-open: ${reason}`),
  );
  return reason;
}

/** Probes every new WebRTC connection of `node` (see the module comment); returns the unsubscriber. */
export function watchWebRTCLinks(
  node: PbLibp2p,
  log: (line: string) => void,
  boundMs = WEBRTC_OPEN_BOUND_MS,
): () => void {
  const onOpen = (event: CustomEvent<Connection>): void => {
    const conn = event.detail;
    if (!isWebRTC(conn)) return;
    const peer = conn.remotePeer.toString();
    void closeIfHalfOpen(conn, boundMs).then((reason) => {
      // Outbound links are counted by their dialer (dial.ts); the links others opened here are
      // counted here, so a member whose WebRTC never opens is paused on both sides.
      const policy = conn.direction === 'inbound' ? webrtcPolicyOf(node) : undefined;
      if (reason === null) {
        policy?.succeeded(peer);
        return;
      }
      log(`webrtc link to ${peer.slice(-8)} closed, using the relay path: ${reason}`);
      policy?.failed(peer, `its link to here was half-open: ${reason}`);
    });
  };
  node.addEventListener('connection:open', onOpen);
  return () => node.removeEventListener('connection:open', onOpen);
}

/**
 * Closes the WebRTC and relayed links that carry no stream to members this node also has a
 * direct TCP link to. Such links appear when a member restarts: a relayed link is made while the
 * other is not listening yet, a WebRTC link is dialed while only the relayed one exists, and the
 * other side dials TCP meanwhile. Both ends agree on which link goes (the TCP one stays), and
 * each kept link costs a quiet member pings and keepalives, through the relay for a relayed one;
 * a WebRTC link also keeps node-datachannel's native SCTP timer thread waking every 10 ms
 * (docs/design.md, "Idle cost"). A link with a stream open is left alone; the next check takes
 * it. Returns how many were closed.
 */
export function closeRedundantLinks(node: PbLibp2p, log: (line: string) => void): number {
  const open = node.getConnections().filter((c) => c.status === 'open');
  const tcpPeers = new Set(
    open
      .filter((c) => c.limits === undefined && connectionPath(c.remoteAddr.toString()) === 'direct')
      .map((c) => c.remotePeer.toString()),
  );
  let closed = 0;
  for (const conn of open) {
    const peer = conn.remotePeer.toString();
    const path = connectionPath(conn.remoteAddr.toString());
    if (path === 'direct' || !tcpPeers.has(peer) || conn.streams.length > 0) continue;
    closed++;
    log(
      `closing the idle ${path === 'webrtc' ? 'WebRTC' : 'relayed'} link to ${peer.slice(-8)}: a direct TCP link to it is open`,
    );
    void conn.close().catch(() => conn.abort(new Error(`redundant ${path} link`)));
  }
  return closed;
}
