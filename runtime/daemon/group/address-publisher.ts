/**
 * Keeps this member's addresses in the group log current (docs/nat.md): a daemon that came back
 * on another port, an operator's new `listen`, a relay that changed (a member behind NAT is
 * reachable only through the relays its circuit addresses name). Checked after start, whenever
 * libp2p reports new own addresses (a relay reservation made or lost) and every sync round; an
 * `addresses` op is authored at most once per MIN_REPUBLISH_INTERVAL_MS.
 *
 * It also tells the rest of the daemon which relays the group's members use: this node may
 * connect to them (they are not members) and tries each member through them too.
 */
import { multiaddr } from '@multiformats/multiaddr';
import type { GroupState } from '../../../engine/index.ts';
import { addressesToPublish, relaysIn } from '../../../engine/index.ts';
import type { PbLibp2p } from '../../net/node.ts';
import { toPeerId } from '../../net/serve.ts';
import type { GroupService } from './group-service.ts';

/** Republishing waits this long after the last one (relay reservations flap while they settle). */
export const MIN_REPUBLISH_INTERVAL_MS = 5_000;

export class AddressPublisher {
  private lastMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly group: GroupService,
    private readonly self: string,
    private readonly addresses: () => string[],
    private readonly log: (line: string) => void,
    private readonly maxAddresses: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Checks now, or once the interval since the last republish has passed. */
  check(): void {
    if (this.stopped || this.timer !== null) return;
    const waitMs = this.lastMs + MIN_REPUBLISH_INTERVAL_MS - this.now();
    if (waitMs > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.check();
      }, waitMs);
      this.timer.unref();
      return;
    }
    const state = this.group.state;
    if (state === null || !this.group.selfIsMember) return;
    const me = state.members.find((m) => m.id === this.self);
    const next = me === undefined ? null : addressesToPublish(me.addresses, this.addresses());
    if (next === null) return;
    this.lastMs = this.now();
    try {
      this.group.author({ kind: 'addresses', addresses: next.slice(0, this.maxAddresses) });
      this.log(`addresses republished to the group: ${next.join(' ')}`);
    } catch (error) {
      this.log(`addresses not republished: ${(error as Error).message}`);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** The relays the members publish plus this node's own, as {address, id}. */
export function knownRelays(
  state: GroupState,
  configured: readonly string[],
): { address: string; id: string }[] {
  return relaysIn([
    ...configured.map((r) => `${r}/p2p-circuit`),
    ...state.members.flatMap((m) => m.addresses),
  ]);
}

/**
 * Trusts the group's relays (this node may connect to them) and adds, for every other member,
 * a circuit through each of them to the peer store: a member that moved to another relay and
 * could not yet republish is still found where the others hold their reservations.
 */
export function learnRelayRoutes(
  node: PbLibp2p,
  state: GroupState,
  self: string,
  configured: readonly string[],
  trusted: Set<string>,
): void {
  const relays = knownRelays(state, configured);
  for (const r of relays) if (r.id !== self) trusted.add(r.id);
  for (const m of state.members) {
    if (m.id === self) continue;
    const routes = relays.filter((r) => r.id !== m.id && r.id !== self);
    if (routes.length === 0) continue;
    void node.peerStore
      .merge(toPeerId(m.id), { multiaddrs: routes.map((r) => multiaddr(`${r.address}/p2p-circuit`)) })
      .catch(() => undefined);
  }
}
