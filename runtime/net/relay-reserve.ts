/**
 * Asks libp2p's circuit-relay client for a reservation on one relay, now. Its reservation store
 * asks only when a relay is discovered (on connecting), and it never asks again a relay whose dial
 * once failed (its `relayFilter`) until some other relay comes or goes. A member behind a router
 * has its configured relays as its only way in: when one restarts while the member is dialing
 * it, or refused the member while it was a candidate, the store would never ask it again.
 * This reaches the store through the transport (a public field of the transport, the filter a
 * field of the store) and checks each shape it uses; if libp2p changes them it says so and does
 * nothing (the caller's redial stays the fallback).
 */
import type { Connection, PeerId } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { PbLibp2p } from './node.ts';
import { startsWithNetworkAddress } from './transport-guard.ts';

interface ReservationStoreLike {
  addRelay(peer: PeerId, type: 'configured' | 'discovered'): Promise<unknown>;
  hasReservation(peer: PeerId): boolean;
  reservationCount(): number;
  relayFilter?: { remove?(item: Uint8Array): boolean };
}

interface TransportManagerLike {
  getTransports(): unknown[];
}

/** The circuit-relay transport's reservation store, or null if this libp2p has none we know. */
export function reservationStoreOf(node: PbLibp2p): ReservationStoreLike | null {
  let manager: TransportManagerLike | undefined;
  try {
    manager = (node as { components?: { transportManager?: TransportManagerLike } }).components
      ?.transportManager;
  } catch {
    return null; // the components proxy throws for a missing service
  }
  if (manager === undefined || typeof manager.getTransports !== 'function') return null;
  for (const transport of manager.getTransports()) {
    const store = (transport as { reservationStore?: Partial<ReservationStoreLike> }).reservationStore;
    if (
      typeof store?.addRelay === 'function' &&
      typeof store.hasReservation === 'function' &&
      typeof store.reservationCount === 'function'
    )
      return store as ReservationStoreLike;
  }
  return null;
}

/**
 * Reserves on `relay` (connected already) unless this node holds a reservation there, as if
 * libp2p had just discovered it (so the `/p2p-circuit` listener announces the address). Resolves
 * true when it holds one afterwards or needs none (it holds as many as it listens for
 * elsewhere); rejects with libp2p's reason (a refusal, a timeout).
 */
export async function reserveOn(node: PbLibp2p, relay: PeerId): Promise<boolean> {
  const store = reservationStoreOf(node);
  if (store === null) return false;
  // No shortcut on hasReservation: an entry may outlive its connection (a relay that died);
  // addRelay returns a live one as is and replaces a dead one.
  store.relayFilter?.remove?.(relay.toMultihash().bytes);
  try {
    await store.addRelay(relay, 'discovered');
  } catch (error) {
    if ((error as Error)?.name === 'HadEnoughRelaysError') return true;
    throw error;
  }
  return store.hasReservation(relay);
}

/**
 * Does this node hold a live reservation on one of `relays` (peer ids)? The store knows (an entry
 * counts while its relay is connected); without it, the node's own circuit addresses tell.
 */
export function holdsReservation(node: PbLibp2p, relays: readonly PeerId[]): boolean {
  const store = reservationStoreOf(node);
  if (store === null) return node.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit'));
  return relays.some((r) => store.hasReservation(r) && node.getConnections(r).length > 0);
}

/**
 * Whether `conn` carries a relay reservation, either way: this node's on the peer (libp2p drops
 * it when the connection it was made on closes), or the peer's on this node's relay service
 * (made from the connection's address). Closing such a link would take the slot with it.
 */
export function carriesReservation(node: PbLibp2p, conn: Connection): boolean {
  const store = reservationStoreOf(node) as {
    reservations?: { get(p: PeerId): { connection?: unknown } | undefined };
  } | null;
  if (store?.reservations?.get(conn.remotePeer)?.connection === conn.id) return true;
  let relay: { reservations?: { get(p: PeerId): { addr?: unknown } | undefined } } | undefined;
  try {
    relay = (node.services as { relay?: typeof relay }).relay;
  } catch {
    relay = undefined;
  }
  const held = relay?.reservations?.get(conn.remotePeer);
  if (held === undefined) return false;
  return held.addr === undefined || String(held.addr) === conn.remoteAddr.toString();
}

/**
 * Whether a reservation made over a link with this remote address gives third parties a way in:
 * only a direct network link does (an IP or DNS address, no relay hop, no WebRTC). Over an
 * inbound WebRTC link the relay's address is `/webrtc/p2p/<relay>`, over an outbound one a
 * circuit through another relay: nobody else can dial either.
 */
export function isDirectLink(remoteAddr: Multiaddr): boolean {
  if (!startsWithNetworkAddress(remoteAddr)) return false;
  return !remoteAddr
    .getComponents()
    .some((c) => c.name === 'p2p-circuit' || c.name === 'webrtc' || c.name === 'webrtc-direct');
}

/**
 * Whether this node has a direct network link (open, without limits) to the relay, over which a
 * reservation is worth making. With a WebRTC link to the same peer as well, libp2p picks one of
 * the two for the reservation in no set order (it counts WebRTC as direct too); that case is
 * allowed, as before: refusing it would also refuse the refresh of a reservation already made
 * over TCP to a configured relay that is a member, once a WebRTC link to it opened.
 */
function hasDirectLink(links: readonly Connection[]): boolean {
  return links.some(isOpenDirectLink);
}

/** An open link without limits over a direct network address (isDirectLink): no relay, no WebRTC. */
export function isOpenDirectLink(c: Connection): boolean {
  return c.status === 'open' && c.limits == null && isDirectLink(c.remoteAddr);
}

/** Thrown (to libp2p's relay discovery, which logs and moves on) instead of a useless reservation. */
export class NoDirectLinkError extends Error {
  override name = 'NoDirectLinkError';
}

/** Bound on the distinct relays whose refusal is logged (the rest are refused silently). */
const MAX_LOGGED_RELAYS = 32;

/**
 * Makes the node reserve a relay slot only over a direct network link. libp2p's relay discovery
 * reserves on any connected peer that relays (every member does, by default), also over a
 * WebRTC link. The `/p2p-circuit` listener announces exactly one such discovered reservation;
 * when the configured relay goes away the discovery takes a member linked over WebRTC, whose
 * circuit address no one can dial, and holds the one slot with it: when the configured relay
 * comes back, the node cannot reserve there again ("had enough relays") and stays unreachable
 * for every member not already linked to it. Refusing the useless reservation keeps the slot for
 * a relay that works. Returns false (and changes nothing) if libp2p has no store where expected.
 */
export function reserveOnlyOverDirectLinks(node: PbLibp2p, log: (line: string) => void = () => {}): boolean {
  const store = reservationStoreOf(node);
  if (store === null) return false;
  const addRelay = store.addRelay.bind(store);
  const logged = new Set<string>();
  store.addRelay = async (peer, type) => {
    const links = node.getConnections(peer);
    if (hasDirectLink(links)) return addRelay(peer, type);
    const over = links.map((c) => c.remoteAddr.toString()).join(', ') || 'no link';
    const key = peer.toString();
    if (logged.size < MAX_LOGGED_RELAYS && !logged.has(key)) {
      logged.add(key);
      log(
        `relay: not reserving on ${key}: no direct link to it (${over}), no one could dial this node there`,
      );
    }
    throw new NoDirectLinkError(`no direct link to relay ${key} (${over})`);
  };
  return true;
}
