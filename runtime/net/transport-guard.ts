/**
 * Guards against a crash in libp2p's address bookkeeping (issue: losing the relay killed daemons
 * with WebRTC links).
 *
 * Root cause: when a node makes a relay reservation on a member it is linked to over an
 * *inbound* WebRTC connection, the circuit relay client adds the connection's remote address to
 * the reservation's addresses; an inbound WebRTC connection's remote address is just
 * `/webrtc/p2p/<relay>`. The relay listener turns each reservation address into a listen address
 * (`/webrtc/p2p/<relay>/p2p-circuit`) and confirms it with the address manager, whose DNS and IP
 * mapping lookups parse every address as IP/DNS and throw on this one. The throw happens inside
 * an event listener (a reservation made or refreshed), so nothing catches it and the process
 * dies. It happens after the configured relay goes away: the reservation store then searches for
 * another relay among the connected members, and finds one over WebRTC.
 *
 * The guard: the address manager only confirms or withdraws addresses that begin with a network
 * address (ip4, ip6, dns*), since any other cannot be dialed by a third party anyway; and the
 * node announces only such addresses (`announceFilter`), so the unusable circuit address is never
 * published to the group either.
 */
import type { Multiaddr } from '@multiformats/multiaddr';

/** Whether `ma` starts with an IP or DNS host (what the address manager can parse). */
export function startsWithNetworkAddress(ma: Multiaddr): boolean {
  const first = ma.getComponents()[0]?.name;
  const second = ma.getComponents()[1]?.name;
  if (first === 'ip6zone') return second === 'ip6';
  return (
    first === 'ip4' ||
    first === 'ip6' ||
    first === 'dns' ||
    first === 'dns4' ||
    first === 'dns6' ||
    first === 'dnsaddr'
  );
}

/** `addresses.announceFilter`: drops addresses no other node could dial. */
export function announceDialable(addrs: Multiaddr[]): Multiaddr[] {
  return addrs.filter(startsWithNetworkAddress);
}

interface AddressManagerLike {
  confirmObservedAddr(addr: Multiaddr, options?: unknown): void;
  removeObservedAddr(addr: Multiaddr, options?: unknown): void;
}

/** Bound on the distinct ignored addresses logged (the rest are ignored silently). */
const MAX_LOGGED_ADDRESSES = 32;

/**
 * Wraps the node's address manager so it ignores addresses it cannot parse instead of throwing
 * from inside an event listener. Returns false (and changes nothing) if the libp2p internals
 * moved and there is no address manager where expected.
 */
export function guardAddressManager(node: unknown, log: (line: string) => void = () => {}): boolean {
  let manager: AddressManagerLike | undefined;
  try {
    manager = (node as { components?: { addressManager?: AddressManagerLike } }).components?.addressManager;
  } catch {
    return false; // the components proxy throws for a missing service
  }
  if (
    manager === undefined ||
    typeof manager.confirmObservedAddr !== 'function' ||
    typeof manager.removeObservedAddr !== 'function'
  )
    return false;
  const logged = new Set<string>();
  const skip = (what: string, addr: Multiaddr): boolean => {
    if (startsWithNetworkAddress(addr)) return false;
    const text = addr.toString();
    if (logged.size < MAX_LOGGED_ADDRESSES && !logged.has(text)) {
      logged.add(text);
      log(`transport: not ${what} ${text}: it does not start with an IP or DNS address`);
    }
    return true;
  };
  const confirm = manager.confirmObservedAddr.bind(manager);
  const remove = manager.removeObservedAddr.bind(manager);
  manager.confirmObservedAddr = (addr, options) => {
    if (!skip('confirming', addr)) confirm(addr, options);
  };
  manager.removeObservedAddr = (addr, options) => {
    if (!skip('withdrawing', addr)) remove(addr, options);
  };
  return true;
}
