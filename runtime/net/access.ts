/**
 * Who may talk to this node: the connection gater (whole connections) and the per-protocol check
 * every handler runs before it reads a byte. Both ask one `AccessPolicy`, which the daemon
 * derives from the folded group state (members, live invites it issued, pending candidates).
 * Guests (peers admitted though not members) are held within the caps of guests.ts.
 */
import type { ConnectionGater, PeerId } from '@libp2p/interface';
import type { GuestConnections } from './guests.ts';

export interface AccessPolicy {
  /** May this peer hold a connection with this node at all (any protocol)? */
  mayConnect(peerId: string): boolean;
  /** May this peer open a stream on this protocol? */
  mayUse(peerId: string, protocol: string): boolean;
  /** May this peer reserve a relay slot here / be relayed to `destination`? */
  mayRelay(source: string, destination: string | null): boolean;
  /**
   * Is this peer, if `mayConnect` admits it, only a guest (not a member): its inbound
   * connections count against the guest caps and are closed when idle. Absent: nobody is.
   */
  isGuest?(peerId: string): boolean;
  /**
   * Called before `mayRelay` judges a reservation or a relayed connection from `peerId`: a
   * chance to learn whether it is a member (the standalone relay pulls the group log from it).
   */
  learn?(peerId: string): Promise<void>;
  /**
   * When this relay last granted the guest `peerId` a circuit (ms since the epoch), or undefined:
   * the hop stream carrying it keeps the guest's connection from being closed as idle.
   */
  circuitGrantedAtMs?(peerId: string): number | undefined;
}

/** Everyone everywhere: a standalone relay or a node before it has a group. */
export const OPEN_POLICY: AccessPolicy = {
  mayConnect: () => true,
  mayUse: () => true,
  mayRelay: () => true,
};

/**
 * The gater consults the policy each time, so a change of the group (a removal) applies to the
 * next connection at once; the daemon also closes existing connections that lost access.
 */
export function createGater(policy: () => AccessPolicy, guests?: GuestConnections): ConnectionGater {
  const allowed = (peer: PeerId): boolean => policy().mayConnect(peer.toString());
  const relayAllowed = async (source: PeerId, destination: PeerId | null): Promise<boolean> => {
    await policy()
      .learn?.(source.toString())
      .catch(() => undefined);
    return policy().mayRelay(source.toString(), destination === null ? null : destination.toString());
  };
  return {
    denyDialPeer: (peer) => !allowed(peer),
    denyInboundEncryptedConnection: (peer, maConn) =>
      !allowed(peer) || (guests !== undefined && !guests.admitInbound(peer, maConn)),
    denyOutboundEncryptedConnection: (peer) => !allowed(peer),
    denyInboundUpgradedConnection: (peer) => !allowed(peer),
    denyOutboundUpgradedConnection: (peer) => !allowed(peer),
    denyInboundRelayReservation: async (source) => !(await relayAllowed(source, null)),
    denyOutboundRelayedConnection: async (source, destination) => !(await relayAllowed(source, destination)),
    denyInboundRelayedConnection: (_relay, remote) => !allowed(remote),
  };
}
