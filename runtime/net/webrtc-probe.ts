/**
 * A WebRTC link is only usable once its data channels open. A dial can return a connection whose
 * ICE path is half-open: every data channel then stays `connecting`, and every stream libp2p
 * opens over that connection (it prefers it to the relayed one) hangs until its own timeout, so
 * sync and backups fail. Each new WebRTC connection is therefore probed: a stream must open
 * (multistream-select over a fresh data channel) within WEBRTC_OPEN_BOUND_MS, or the connection
 * is closed and streams go over the relayed (or direct) path.
 *
 * A WebRTC or relayed link to a member that is also linked directly (TCP: the two reached each
 * other over several paths while they started), or a second direct one, is closed once it
 * carries no stream and no relay reservation: streams prefer WebRTC to the TCP link, and every
 * open link costs pings and keepalives and, for WebRTC, native timers (docs/design.md, "Idle
 * cost").
 */
import type { Connection } from '@libp2p/interface';
import { type ConnectionPath, connectionPath } from '../../engine/index.ts';
import { describeError, NetError } from './errors.ts';
import type { PbLibp2p } from './node.ts';
import { carriesReservation, isOpenDirectLink } from './relay-reserve.ts';
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

/** A link younger than this is never closed as redundant: both ends' WebRTC probes are deciding. */
export const REDUNDANT_MIN_AGE_MS = WEBRTC_OPEN_BOUND_MS + 1_000;
/** A redundant link still carrying streams is looked at again this often... */
export const REDUNDANT_RECHECK_MS = 10_000;
/** ...this many times at most (then it stays: whatever keeps it busy needs it). */
export const REDUNDANT_CHECKS = 30;

/**
 * The links to one peer that a direct link makes redundant: every WebRTC and relayed one while a
 * direct link is open, and of two direct ones (both sides dialed at once) the one the larger
 * peer id dialed, when the smaller's is open too: both ends pick the same.
 */
export function redundantLinks(conns: readonly Connection[], self: string): Connection[] {
  const open = conns.filter((c) => c.status === 'open');
  const direct = open.filter(isOpenDirectLink);
  if (direct.length === 0) return [];
  const peer = direct[0]!.remotePeer.toString();
  const keptDirection = self < peer ? 'outbound' : 'inbound'; // the link the smaller id dialed
  const smallerDialed = direct.some((c) => c.direction === keptDirection);
  return open.filter((c) => !isOpenDirectLink(c) || (smallerDialed && c.direction !== keptDirection));
}

/**
 * Closes the idle links to `peer` made redundant by a direct one (redundantLinks), but none that
 * carries a relay reservation; a link too young or still carrying streams is looked at again
 * later, a bounded number of times.
 */
export function closeRedundantLinks(
  node: PbLibp2p,
  peer: string,
  log: (line: string) => void,
  checksLeft = REDUNDANT_CHECKS,
): void {
  const conns = node.getConnections().filter((c) => c.remotePeer.toString() === peer);
  let againInMs: number | null = null;
  for (const conn of redundantLinks(conns, node.peerId.toString())) {
    if (carriesReservation(node, conn)) continue; // the slot would go with it
    const ageMs = Date.now() - conn.timeline.open;
    if (ageMs < REDUNDANT_MIN_AGE_MS || conn.streams.length > 0) {
      const waitMs = ageMs < REDUNDANT_MIN_AGE_MS ? REDUNDANT_MIN_AGE_MS - ageMs : REDUNDANT_RECHECK_MS;
      againInMs = Math.min(againInMs ?? waitMs, waitMs);
      continue;
    }
    const path = connectionPath(conn.remoteAddr.toString());
    log(`a redundant ${path} link to ${peer.slice(-8)} closed: a direct link to it is open`);
    void conn.close({ signal: AbortSignal.timeout(WEBRTC_OPEN_BOUND_MS) }).catch((e: unknown) => {
      conn.abort(e instanceof Error ? e : new Error(String(e)));
    });
  }
  if (againInMs !== null && checksLeft > 1)
    setTimeout(() => closeRedundantLinks(node, peer, log, checksLeft - 1), againInMs).unref();
}

/**
 * Probes every new WebRTC connection of `node` (see the module comment), and closes WebRTC links
 * made redundant by a direct one (closeRedundantLinks); returns the unsubscriber.
 */
export function watchWebRTCLinks(
  node: PbLibp2p,
  log: (line: string) => void,
  boundMs = WEBRTC_OPEN_BOUND_MS,
): () => void {
  const onOpen = (event: CustomEvent<Connection>): void => {
    const conn = event.detail;
    const peer = conn.remotePeer.toString();
    closeRedundantLinks(node, peer, log);
    if (!isWebRTC(conn)) return;
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
