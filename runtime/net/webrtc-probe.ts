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
