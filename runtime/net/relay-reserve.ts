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
import type { PeerId } from '@libp2p/interface';
import type { PbLibp2p } from './node.ts';

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
