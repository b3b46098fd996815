/**
 * Who may talk to this node: the connection gater (whole connections) and the per-protocol check
 * every handler runs before it reads a byte. Both ask one `AccessPolicy`, which the daemon
 * derives from the folded group state (members, live invites it issued, pending candidates).
 */
import type { ConnectionGater, PeerId } from '@libp2p/interface';

export interface AccessPolicy {
  /** May this peer hold a connection with this node at all (any protocol)? */
  mayConnect(peerId: string): boolean;
  /** May this peer open a stream on this protocol? */
  mayUse(peerId: string, protocol: string): boolean;
  /** May this peer reserve a relay slot here / be relayed to `destination`? */
  mayRelay(source: string, destination: string | null): boolean;
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
export function createGater(policy: () => AccessPolicy): ConnectionGater {
  const allowed = (peer: PeerId): boolean => policy().mayConnect(peer.toString());
  return {
    denyDialPeer: (peer) => !allowed(peer),
    denyInboundEncryptedConnection: (peer) => !allowed(peer),
    denyOutboundEncryptedConnection: (peer) => !allowed(peer),
    denyInboundUpgradedConnection: (peer) => !allowed(peer),
    denyOutboundUpgradedConnection: (peer) => !allowed(peer),
    denyInboundRelayReservation: (source) => !policy().mayRelay(source.toString(), null),
    denyOutboundRelayedConnection: (source, destination) =>
      !policy().mayRelay(source.toString(), destination.toString()),
    denyInboundRelayedConnection: (_relay, remote) => !allowed(remote),
  };
}
