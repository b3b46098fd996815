/**
 * Who dials WebRTC, and to whom (docs/nat.md, "WebRTC that cannot connect").
 *
 * libp2p's own dials to a peer id try every address it knows, WebRTC ones first, and every other
 * dial to that peer joins the one under way (the dial queue deduplicates by peer). Towards a
 * member behind a symmetric NAT that WebRTC attempt can only time out: each stream that had to
 * dial waited for it, and when it failed the dial went on to the relay-circuit address while the
 * WebRTC transport's own signalling connection (a relayed connection to the same address) was
 * already open, so libp2p aborted the new one as a duplicate and every joined caller got
 * "Remote closed connection during opening".
 *
 * So the connection gater refuses a `/webrtc` address unless pb itself dials it (dial.ts, under
 * `permit`): libp2p's dials to a peer go to its relay-circuit (or direct) addresses only, and the
 * upgrade to WebRTC is the syncer's, bounded. Failed attempts (dials, and links closed half-open
 * by webrtc-probe.ts) pause WebRTC to that peer with a back-off (engine/webrtc-backoff.ts); a
 * link that opens resets it. At most MAX_TRACKED_PEERS peers are remembered, the oldest dropped.
 */
import type { AbortOptions, Connection } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { afterWebRTCFailure, type WebRTCAttempts, webrtcAllowed } from '../../engine/index.ts';

export const MAX_TRACKED_PEERS = 1000;

/** The peer a `/webrtc` address leads to (its last /p2p), or null for any other address. */
export function webrtcTarget(ma: Multiaddr): string | null {
  const components = ma.getComponents();
  if (!components.some((c) => c.name === 'webrtc')) return null;
  return components.filter((c) => c.name === 'p2p').at(-1)?.value ?? null;
}

export class WebRTCPolicy {
  private readonly attempts = new Map<string, WebRTCAttempts>();
  /** Peers pb is dialling over WebRTC right now, with how many dials. */
  private readonly permits = new Map<string, number>();
  /** Told when a WebRTC dial starts (webrtc-release.ts). */
  onDial: () => void = () => {};

  constructor(
    private readonly log: (line: string) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether an attempt to `peer` may start now. */
  allowed(peer: string): boolean {
    return webrtcAllowed(this.attempts.get(peer), this.now());
  }

  /** When the pause of `peer` ends (ms since the epoch), or null when it has none. */
  pausedUntilMs(peer: string): number | null {
    const a = this.attempts.get(peer);
    return a === undefined || webrtcAllowed(a, this.now()) ? null : a.retryAtMs;
  }

  failed(peer: string, reason: string): void {
    const next = afterWebRTCFailure(this.attempts.get(peer), this.now());
    this.attempts.delete(peer); // re-inserted last: the map's order is the age
    this.attempts.set(peer, next);
    while (this.attempts.size > MAX_TRACKED_PEERS) this.attempts.delete(this.attempts.keys().next().value!);
    if (next.retryAtMs > this.now())
      this.log(
        `webrtc to ${peer.slice(-8)} failed ${next.failures} times in a row (${reason}); ` +
          `relay only for ${Math.round((next.retryAtMs - this.now()) / 1000)} s`,
      );
  }

  succeeded(peer: string): void {
    this.attempts.delete(peer);
  }

  /** Whether a WebRTC dial is under way. */
  dialling(): boolean {
    return this.permits.size > 0;
  }

  /** Runs `dial` with WebRTC addresses of `peer` let through the gater. */
  async permit<T>(peer: string, dial: () => Promise<T>): Promise<T> {
    this.onDial();
    this.permits.set(peer, (this.permits.get(peer) ?? 0) + 1);
    try {
      return await dial();
    } finally {
      const left = (this.permits.get(peer) ?? 1) - 1;
      if (left > 0) this.permits.set(peer, left);
      else this.permits.delete(peer);
    }
  }

  /** For the connection gater: a WebRTC address nobody in pb is dialling right now is refused. */
  denyDial(ma: Multiaddr): boolean {
    const peer = webrtcTarget(ma);
    return peer !== null && !this.permits.has(peer);
  }
}

const policies = new WeakMap<object, WebRTCPolicy>();

/** The policy createPbNode gave `node` (a node without one allows WebRTC and counts nothing). */
export function webrtcPolicyOf(node: object): WebRTCPolicy | undefined {
  return policies.get(node);
}

export function setWebRTCPolicy(node: object, policy: WebRTCPolicy): void {
  policies.set(node, policy);
}

/**
 * Dials a `/webrtc` address of a peer, let through the gater for the time of the dial. libp2p
 * may still answer with another connection to that peer (a dial to it already under way, which
 * this one joined): callers check what they got (isWebRTC).
 */
export async function dialWebRTCAddress(
  node: { dial(ma: Multiaddr, options?: AbortOptions): Promise<Connection> },
  ma: Multiaddr,
  options: AbortOptions = {},
): Promise<Connection> {
  const peer = webrtcTarget(ma);
  if (peer === null) throw new Error(`${ma.toString()} is no WebRTC address with a peer id`);
  const policy = webrtcPolicyOf(node);
  return policy === undefined ? node.dial(ma, options) : policy.permit(peer, () => node.dial(ma, options));
}
