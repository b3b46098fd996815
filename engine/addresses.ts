/**
 * Which of a member's addresses others can use (docs/nat.md), as text multiaddrs: pure decisions
 * the daemon, the invite and the recovery share.
 *
 *  - Loopback addresses reach only the machine itself: never announced, unless the node has no
 *    other address at all (a group on one machine).
 *  - LAN addresses are announced (a member in the same home reaches it directly), but a node
 *    never dials an address that is one of its own: behind another router with the same LAN
 *    numbering that address is the node itself.
 *  - Relay-circuit addresses name a relay (its address up to its /p2p/<id>); a member that moved
 *    to another relay republishes (`addressesChanged`).
 */

/** Bound on the relays taken from a list of addresses (a member lists at most 16 addresses). */
export const MAX_RELAYS = 8;

const CIRCUIT = '/p2p-circuit';

/** The address without a trailing /p2p/<id> (a relay-circuit address keeps its relay's id). */
export function transportPart(address: string): string {
  return address.replace(/\/p2p\/[^/]+$/, '');
}

export function isCircuit(address: string): boolean {
  return address.includes(CIRCUIT);
}

export function isLoopback(address: string): boolean {
  if (isCircuit(address)) return isLoopback(address.slice(0, address.indexOf(CIRCUIT)));
  return (
    /^\/ip4\/127\./.test(address) || /^\/ip6\/::1\//.test(address) || /^\/dns[46]?\/localhost\//.test(address)
  );
}

/** What a node puts in its invites and the group log: loopback only when nothing else exists. */
export function announceable(addresses: readonly string[]): string[] {
  const outside = addresses.filter((a) => !isLoopback(a));
  return outside.length > 0 ? outside : [...addresses];
}

/**
 * The relay a circuit address goes through, as a dialable address ending in /p2p/<relay id>,
 * and the relay's id; null for a direct address or a circuit address without the relay's id.
 */
export function relayOf(address: string): { address: string; id: string } | null {
  const at = address.indexOf(CIRCUIT);
  if (at <= 0) return null;
  const relay = address.slice(0, at);
  const m = /\/p2p\/([^/]+)$/.exec(relay);
  return m === null ? null : { address: relay, id: m[1]! };
}

/** The distinct relays named by `addresses`, in order, at most MAX_RELAYS. */
export function relaysIn(addresses: readonly string[]): { address: string; id: string }[] {
  const out = new Map<string, { address: string; id: string }>();
  for (const a of addresses) {
    const r = relayOf(a);
    if (r !== null && !out.has(r.address) && out.size < MAX_RELAYS) out.set(r.address, r);
  }
  return [...out.values()];
}

/** True when `address` (a dial target, maybe ending in /p2p/<id>) is one of `own` listen addresses. */
export function isOwnAddress(address: string, own: readonly string[]): boolean {
  if (isCircuit(address)) return false;
  const target = transportPart(address);
  return own.some((o) => !isCircuit(o) && transportPart(o) === target);
}

/**
 * What a member republishes, or null for nothing: its current addresses when its direct ones
 * differ from the published ones or when it holds reservations on other relays than those it
 * published (a relay changed). Relayed addresses that come and go on the same relays do not
 * count, and a lost reservation is no news: while it holds none, the published relayed
 * addresses are kept (the relay is likely back soon).
 */
export function addressesToPublish(
  published: readonly string[],
  current: readonly string[],
): string[] | null {
  const direct = (list: readonly string[]): string =>
    list
      .filter((a) => !isCircuit(a))
      .map(transportPart)
      .sort()
      .join(' ');
  const relays = (list: readonly string[]): string =>
    relaysIn(list)
      .map((r) => r.address)
      .sort()
      .join(' ');
  const directNow = direct(current);
  const relaysNow = relays(current);
  const directChanged = directNow !== '' && directNow !== direct(published);
  const relaysChanged = relaysNow !== '' && relaysNow !== relays(published);
  if (!directChanged && !relaysChanged) return null;
  if (relaysNow !== '') return [...current];
  return [...current, ...published.filter(isCircuit)];
}

/** How a connection reaches a peer, from its remote address. */
export type ConnectionPath = 'direct' | 'relay' | 'webrtc';

/**
 * The path of a connection whose remote address is `address`: WebRTC (a direct data channel,
 * set up through a relay: `/webrtc` in the address), a relay circuit, or a direct transport.
 */
export function connectionPath(address: string): ConnectionPath {
  if (/\/webrtc(\/|$)/.test(address)) return 'webrtc';
  if (isCircuit(address)) return 'relay';
  return 'direct';
}

/**
 * The addresses `selfId` can dial: a relayed address whose relay is `selfId` itself (a member's
 * address through this node's relay) is left out: reaching it would mean dialing oneself.
 */
export function dialableFrom(addresses: readonly string[], selfId: string): string[] {
  return addresses.filter((a) => relayOf(a)?.id !== selfId);
}
