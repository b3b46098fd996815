/**
 * Guests: peers the access policy lets connect although they are not members (anyone while an
 * invite is live, an unproven peer at the standalone relay). Their inbound connections are
 * bounded per identity and in total, and closed when they do nothing useful, so a flood of
 * strangers can never fill the node's connection table and refuse a member (docs/protocols.md
 * section 2.1). Members are never counted and never reaped. The relay slots a peer held are
 * freed when its last connection closes.
 */
import type { Connection, Libp2p, MultiaddrConnection, PeerId } from '@libp2p/interface';

export interface GuestLimits {
  /** Inbound guest connections (open or being upgraded) one identity may hold. */
  perPeer: number;
  /** Inbound guest connections all guests together may hold. */
  total: number;
  /** A guest connection without an open `/pb/` stream for this long is closed. */
  idleMs: number;
  /** No guest connection lives longer than this (a join waits at most 30 minutes). */
  lifetimeMs: number;
}

export const DEFAULT_GUEST_LIMITS: GuestLimits = {
  perPeer: 2,
  total: 32,
  idleMs: 10_000,
  lifetimeMs: 35 * 60 * 1000,
};

/** Only pb's own protocols count as doing something (identify, ping, refused relay hops do not). */
const USEFUL_PROTOCOL_PREFIX = '/pb/';
const RELAY_HOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/hop';

/** A granted circuit's hop stream opens this long before the grant at most. */
const HOP_BEFORE_GRANT_MS = 5_000;

/**
 * Is this connection doing something: a `/pb/` stream open, or (at a relay) a hop stream opened
 * just before the relay last granted this peer a circuit, i.e. the stream carrying it (a
 * candidate's join to a member, whose own gate decides). An older hop stream (one the relay
 * refused, which libp2p leaves open until the peer closes it) does not count.
 */
function isBusy(conn: Connection, circuitGrantedAtMs: number | undefined): boolean {
  return conn.streams.some(
    (s) =>
      s.protocol?.startsWith(USEFUL_PROTOCOL_PREFIX) === true ||
      (s.protocol === RELAY_HOP_PROTOCOL &&
        circuitGrantedAtMs !== undefined &&
        s.timeline.open <= circuitGrantedAtMs &&
        circuitGrantedAtMs - s.timeline.open <= HOP_BEFORE_GRANT_MS),
  );
}

/** Counts the inbound connections of guests from the gater's admission to their close. */
export class GuestConnections {
  /** Admitted inbound connections by remote peer (a raw connection until it is upgraded). */
  private readonly byPeer = new Map<string, Set<MultiaddrConnection>>();

  constructor(
    readonly limits: GuestLimits,
    private readonly isGuest: (peer: string) => boolean,
  ) {}

  /** How many admitted inbound connections of current guests are open (all guests or one). */
  count(peer?: string): number {
    let n = 0;
    for (const [p, conns] of this.byPeer) {
      if (peer !== undefined && p !== peer) continue;
      if (this.isGuest(p)) n += conns.size;
    }
    return n;
  }

  /**
   * Called by the gater once the remote identity is known (after the encryption handshake):
   * a member passes; a guest passes while it and all guests are under their caps.
   */
  admitInbound(peer: PeerId, maConn: MultiaddrConnection): boolean {
    const id = peer.toString();
    if (!this.isGuest(id)) return true;
    if (this.count(id) >= this.limits.perPeer || this.count() >= this.limits.total) return false;
    let conns = this.byPeer.get(id);
    if (conns === undefined) {
      conns = new Set();
      this.byPeer.set(id, conns);
    }
    conns.add(maConn);
    const forget = (): void => {
      const set = this.byPeer.get(id);
      set?.delete(maConn);
      if (set?.size === 0) this.byPeer.delete(id);
    };
    if (maConn.status === 'closed') forget();
    else maConn.addEventListener('close', forget, { once: true });
    return true;
  }
}

/**
 * Closes a guest's connection once it has done nothing (isBusy) for `idleMs`, and in any case
 * after `lifetimeMs`. A guest that became a member meanwhile keeps its connection.
 */
export function reapIdleGuests(
  node: Libp2p,
  limits: GuestLimits,
  isGuest: (peer: string) => boolean,
  circuitGrantedAtMs: (peer: string) => number | undefined = () => undefined,
): void {
  const checkEveryMs = Math.max(250, Math.floor(limits.idleMs / 4));
  node.addEventListener('connection:open', (event) => {
    const conn: Connection = event.detail;
    const peer = conn.remotePeer.toString();
    if (conn.direction !== 'inbound' || !isGuest(peer)) return;
    const openedAtMs = Date.now();
    let busySinceMs = openedAtMs;
    const timer = setInterval(() => {
      const nowMs = Date.now();
      if (conn.status !== 'open' || !isGuest(peer)) {
        clearInterval(timer);
        return;
      }
      const busy = isBusy(conn, circuitGrantedAtMs(peer));
      if (busy) busySinceMs = nowMs;
      const idle = nowMs - busySinceMs >= limits.idleMs;
      if (idle || nowMs - openedAtMs >= limits.lifetimeMs) {
        clearInterval(timer);
        void conn.close().catch((e: Error) => conn.abort(e));
      }
    }, checkEveryMs);
    timer.unref();
  });
}

interface RelayServiceLike {
  reservations: { get(p: PeerId): unknown; delete(p: PeerId): unknown };
}

/**
 * A relay slot belongs to a connected peer: when a peer's last connection closes, its
 * reservation is dropped at once (circuit relay v2 would keep it for its whole TTL, two hours).
 */
export function freeRelaySlotsOnDisconnect(node: Libp2p): void {
  const relay = (node.services as { relay?: RelayServiceLike }).relay;
  if (relay === undefined) return;
  node.addEventListener('peer:disconnect', (event) => {
    const peer = event.detail;
    const reservation = relay.reservations.get(peer) as { signal?: { clear?: () => void } } | undefined;
    if (reservation === undefined) return;
    // Its expiry timer would otherwise delete a later reservation of the same peer.
    reservation.signal?.clear?.();
    relay.reservations.delete(peer);
  });
}

/** Guests' granted circuits remembered: at most this many, for at most a guest's lifetime. */
const MAX_GRANTED_CIRCUITS = 1024;

/** When a relay last granted each guest a circuit (see isBusy); bounded in count and age. */
export class GrantedCircuits {
  private readonly atMs = new Map<string, number>();

  constructor(private readonly memoryMs = DEFAULT_GUEST_LIMITS.lifetimeMs) {}

  note(peer: string, nowMs = Date.now()): void {
    this.atMs.delete(peer);
    this.atMs.set(peer, nowMs);
    for (const [p, at] of this.atMs) {
      if (this.atMs.size <= MAX_GRANTED_CIRCUITS && nowMs - at < this.memoryMs) break;
      this.atMs.delete(p);
    }
  }

  grantedAtMs(peer: string): number | undefined {
    return this.atMs.get(peer);
  }
}
