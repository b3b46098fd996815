/**
 * How a recovery reaches the group across NAT (docs/nat.md): the named member, through the relay
 * its circuit address names; then every holder, at its published addresses and through every
 * relay the group's members publish. The recovering node may connect to those relays (they are
 * not members) and nothing else beyond the group. Failures say what was tried and why.
 */
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import type { GroupState } from '../../../engine/index.ts';
import { relayOf, relaysIn } from '../../../engine/index.ts';
import { describeError } from '../../net/errors.ts';
import type { PbLibp2p } from '../../net/node.ts';
import { toPeerId } from '../../net/serve.ts';
import { ControlError } from '../control/control.ts';
import { announcedMultiaddrs } from '../group/network-directory.ts';

/** Bound on each dial of the named member (a relayed dial takes two connections). */
const NAMED_DIAL_TIMEOUT_MS = 30_000;

const self = (node: PbLibp2p): string => node.peerId.toString();

/**
 * The named member answered but closed the connection or refused the group log: an identity it
 * does not know (a mistyped secret, or a removed member).
 */
export function refusedError(peer: string, identity: string, reason: string): ControlError {
  return new ControlError(
    'refused',
    `${peer} answered but refused this identity (${identity}): ${reason}. ` +
      'A mistyped secret derives an identity the group does not know: check the words (and that this member was not removed).',
  );
}

/** A dial error as one line: libp2p's aggregate errors list each address's own reason. */
export function describeDialError(error: unknown): string {
  const e = error as { message?: unknown; errors?: unknown; cause?: unknown; name?: unknown };
  // A bare event or an error without a message (a closed stream's 'close' event) is described by
  // its type, never as "[object Event]".
  const own = typeof e?.message === 'string' && e.message !== '' ? e.message : describeError(error);
  const parts = Array.isArray(e?.errors) ? e.errors.map((x) => describeDialError(x)) : [];
  const cause = e?.cause !== undefined && e.cause !== error ? describeDialError(e.cause) : null;
  const name =
    typeof e?.name === 'string' && e.name !== 'Error' && !own.includes(e.name) ? `${e.name}: ` : '';
  return [
    `${name}${own}`,
    ...(parts.length > 0 ? [`(${parts.join('; ')})`] : []),
    ...(cause !== null && !own.includes(cause) ? [`(cause: ${cause})`] : []),
  ].join(' ');
}

/**
 * Dials the member `peer` at `address`: a relay-circuit address first reaches the relay it names
 * (allowed for this dial), then the member through it. Throws 'unreachable' naming the address,
 * the relay and the reason; a failure to connect never blames the secret.
 */
export async function dialNamedMember(
  node: PbLibp2p,
  address: Multiaddr,
  peer: string,
  allowed: Set<string>,
  progress: (line: string) => void,
): Promise<void> {
  const relay = relayOf(address.toString());
  if (relay !== null) {
    allowed.add(relay.id);
    progress(`reaching ${peer} through the relay ${relay.address}`);
    try {
      await node.dial(multiaddr(relay.address), { signal: AbortSignal.timeout(NAMED_DIAL_TIMEOUT_MS) });
    } catch (error) {
      throw new ControlError(
        'unreachable',
        `cannot reach the relay ${relay.address} named in --peer ${address.toString()}: ${describeDialError(error)}`,
      );
    }
  }
  try {
    await node.dial(address, { signal: AbortSignal.timeout(NAMED_DIAL_TIMEOUT_MS) });
  } catch (error) {
    const reason = describeDialError(error);
    if (!isNetworkFailure(reason)) throw refusedError(peer, self(node), reason);
    throw new ControlError(
      'unreachable',
      `cannot reach ${peer} at ${address.toString()}` +
        (relay === null
          ? ''
          : ` (the relay ${relay.id} answered; is ${peer} running and holding a slot there?)`) +
        `: ${reason}`,
    );
  }
}

/** Reasons that say nothing answered at the address (as opposed to a refusal after Noise). */
const NETWORK_FAILURE =
  /ECONNREFUSED|ECONNRESET before|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL|NO_RESERVATION|RESERVATION_REFUSED|timed? ?out|aborted|TimeoutError|AbortError|denied|no valid addresses/i;

/** True when the dial failure means the address did not answer, not that the peer refused us. */
export function isNetworkFailure(reason: string): boolean {
  return NETWORK_FAILURE.test(reason);
}

/** The relays of a group: named in the --peer address and in the members' published addresses. */
export function groupRelays(peerAddress: string, state: GroupState): { address: string; id: string }[] {
  return relaysIn([peerAddress, ...state.members.flatMap((m) => m.addresses)]);
}

/**
 * Lets the recovering node use the group's relays and puts every member's routes into its peer
 * store: the published addresses and a circuit through each relay (a member that moved to a
 * relay without republishing is still found through it).
 */
export async function learnGroupRoutes(
  node: PbLibp2p,
  state: GroupState,
  self: string,
  relays: readonly { address: string; id: string }[],
  allowed: Set<string>,
): Promise<void> {
  for (const r of relays) allowed.add(r.id);
  for (const m of state.members) {
    if (m.id === self) continue;
    const routes = [
      ...announcedMultiaddrs(m),
      ...relays.filter((r) => r.id !== m.id).map((r) => multiaddr(`${r.address}/p2p-circuit`)),
    ];
    await node.peerStore.merge(toPeerId(m.id), { multiaddrs: routes }).catch(() => undefined);
  }
}
