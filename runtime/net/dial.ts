/**
 * Dialing a member: its direct addresses first (TCP on the same LAN or to an open port: no
 * WebRTC needed, and a WebRTC link costs an idle member a native timer thread for the rest of
 * the process, docs/design.md "Idle cost"), for DIRECT_FIRST_BOUND_MS; then, across NAT, WebRTC
 * (a direct link, signalled through the relay), retried with backoff because about one dial in
 * ten hangs until its timeout; then the relayed link. A
 * WebRTC connection counts only once a data channel opened on it within the bound
 * (webrtc-probe.ts); a half-open one is closed and the next attempt, or the relay, is used.
 * Every attempt's outcome goes to the node's WebRTC policy (webrtc-policy.ts): a peer whose
 * WebRTC keeps failing (a symmetric NAT) is not tried again until its back-off ends.
 */
import type { Connection } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { connectionPath, dialableFrom } from '../../engine/index.ts';
import { describeError, NetError } from './errors.ts';
import type { PbLibp2p } from './node.ts';
import { isOpenDirectLink } from './relay-reserve.ts';
import { dialWebRTCAddress, webrtcPolicyOf, webrtcTarget } from './webrtc-policy.ts';
import { closeIfHalfOpen, isWebRTC, WEBRTC_OPEN_BOUND_MS } from './webrtc-probe.ts';

export interface DialOptions {
  /** WebRTC attempts before falling back (default 3). */
  attempts?: number;
  /** Bound on each WebRTC attempt (default 10 s). */
  attemptTimeoutMs?: number;
  /** Bound on a new WebRTC link opening its first data channel (default WEBRTC_OPEN_BOUND_MS). */
  openBoundMs?: number;
  /** First backoff; doubles per attempt (default 250 ms). */
  backoffMs?: number;
  /** Bound on the dial of the direct addresses before WebRTC (default DIRECT_FIRST_BOUND_MS). */
  directFirstMs?: number;
  log?: (line: string) => void;
}

type Transport = 'webrtc' | 'relay' | 'direct';

/**
 * How long a member's direct addresses get before WebRTC is tried: a LAN peer or an open port
 * answers (TCP, Noise, Yamux) within a few round trips; an address behind someone else's NAT
 * never does, and that member is reached over WebRTC or the relay as before, this much later.
 */
export const DIRECT_FIRST_BOUND_MS = 3_000;

/** The peer an address leads to: its last /p2p component. */
function lastPeer(ma: Multiaddr): string | null {
  return (
    ma
      .getComponents()
      .filter((c) => c.name === 'p2p')
      .at(-1)?.value ?? null
  );
}

function openLinks(node: PbLibp2p, peer: string): Connection[] {
  return node.getConnections().filter((c) => c.status === 'open' && c.remotePeer.toString() === peer);
}

function transportOf(connection: Connection): Transport {
  if (isWebRTC(connection)) return 'webrtc';
  return connection.limits === undefined ? 'direct' : 'relay';
}

/**
 * Dials the direct addresses among `addrs` (no relay hop, no WebRTC) for at most `boundMs`:
 * the direct link, or null when there is none. `fast` says whether the dial failed fast (the
 * address answered with a refusal: a member still starting may listen there a moment later;
 * an address behind someone else's NAT does not answer and is not tried again). Quiet: across
 * NAT these dials are expected to fail.
 */
async function tryDirect(
  node: PbLibp2p,
  addrs: Multiaddr[],
  boundMs: number,
): Promise<{ connection: Connection | null; fast: boolean }> {
  const direct = addrs.filter((a) => connectionPath(a.toString()) === 'direct');
  if (direct.length === 0) return { connection: null, fast: false };
  const startMs = Date.now();
  try {
    const connection = await node.dial(direct, { signal: AbortSignal.timeout(boundMs) });
    return { connection: isOpenDirectLink(connection) ? connection : null, fast: false };
  } catch {
    return { connection: null, fast: Date.now() - startMs < boundMs / 2 };
  }
}

/** A WebRTC link over `addr`, another link libp2p answered with instead, or null after the attempts. */
async function tryWebRTC(
  node: PbLibp2p,
  addr: Multiaddr,
  options: DialOptions,
  /** Before each attempt: a direct link found meanwhile (one that opened, or a new dial's). */
  directNow: () => Promise<Connection | null>,
): Promise<{ connection: Connection; transport: Transport } | null> {
  const attempts = options.attempts ?? 3;
  const timeoutMs = options.attemptTimeoutMs ?? 10_000;
  const peer = webrtcTarget(addr);
  const policy = webrtcPolicyOf(node);
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (peer !== null && policy !== undefined && !policy.allowed(peer)) return null;
    const direct = await directNow();
    if (direct !== null) return { connection: direct, transport: 'direct' };
    try {
      const connection = await dialWebRTCAddress(node, addr, { signal: AbortSignal.timeout(timeoutMs) });
      // A dial to this peer already under way (joined by libp2p) may answer with its relayed link.
      if (!isWebRTC(connection)) return { connection, transport: transportOf(connection) };
      const halfOpen = await closeIfHalfOpen(connection, options.openBoundMs ?? WEBRTC_OPEN_BOUND_MS);
      if (halfOpen === null) {
        if (peer !== null) policy?.succeeded(peer);
        return { connection, transport: 'webrtc' };
      }
      throw new NetError('timeout', `the link is half-open (${halfOpen}); closed`);
    } catch (error) {
      options.log?.(
        `webrtc dial ${attempt + 1}/${attempts} to ${addr.toString()} failed: ${describeError(error)}`,
      );
      // Counted only when the signalling reached the peer (a connection to it is open): a relay
      // that is down says nothing about the peer's WebRTC.
      if (peer !== null && openLinks(node, peer).length > 0) policy?.failed(peer, describeError(error));
      await new Promise((r) => setTimeout(r, (options.backoffMs ?? 250) * 2 ** attempt));
    }
  }
  return null;
}

export async function dialPreferringWebRTC(
  node: PbLibp2p,
  given: Multiaddr[],
  options: DialOptions = {},
): Promise<{ connection: Connection; transport: Transport }> {
  // A member's address through this node's own relay cannot be dialed from here.
  const usable = new Set(dialableFrom(given.map(String), node.peerId.toString()));
  const addrs = given.filter((a) => usable.has(a.toString()));
  const timeoutMs = options.attemptTimeoutMs ?? 10_000;
  const target = addrs.map(lastPeer).find((p) => p !== null) ?? null;
  // A direct link open already, or dialed now; a direct dial refused at once (the member may be
  // starting) is dialed again before each WebRTC attempt, one that timed out is not.
  let dialDirect = true;
  const directNow = async (): Promise<Connection | null> => {
    const open = target === null ? undefined : openLinks(node, target).find(isOpenDirectLink);
    if (open !== undefined || !dialDirect) return open ?? null;
    const tried = await tryDirect(node, addrs, options.directFirstMs ?? DIRECT_FIRST_BOUND_MS);
    dialDirect = tried.fast;
    return tried.connection;
  };
  const direct = await directNow();
  if (direct !== null) return { connection: direct, transport: 'direct' };
  for (const addr of addrs.filter((a) => a.toString().includes('/webrtc'))) {
    const linked = await tryWebRTC(node, addr, options, directNow);
    if (linked !== null) return linked;
  }
  // The relayed (or direct) link: one already open is used as it is (libp2p would dial another
  // relayed connection to the same address and abort it as a duplicate).
  const rest = addrs.filter((a) => !a.toString().includes('/webrtc'));
  const peer = rest.map(lastPeer).find((p) => p !== null);
  const open = peer === undefined || peer === null ? [] : openLinks(node, peer);
  const reuse = open.find((c) => c.limits === undefined) ?? open[0];
  if (reuse !== undefined) return { connection: reuse, transport: transportOf(reuse) };
  const viaSelf = given.length - addrs.length;
  let last: unknown = new NetError(
    'closed',
    `no address to dial among ${given.length}${viaSelf > 0 ? ` (${viaSelf} through this node as their relay)` : ''}`,
  );
  for (const addr of rest) {
    try {
      const connection = await node.dial(addr, { signal: AbortSignal.timeout(timeoutMs * 2) });
      return { connection, transport: transportOf(connection) };
    } catch (error) {
      last = new NetError('closed', `dial ${addr.toString()} failed: ${describeError(error)}`, {
        cause: error,
      });
    }
  }
  throw last;
}
