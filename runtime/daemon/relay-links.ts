/**
 * The daemon's links to its configured relays (`relays` in the config). A relay that went away
 * and came back, a reservation the transport dropped after an error, a relay that refused this
 * node before it was a member: every RELAY_CHECK_MS (and whenever asked) each configured relay
 * without a connection is dialed again, which makes the reservation again (the `/p2p-circuit`
 * listener reserves on connected relays).
 */
import { multiaddr } from '@multiformats/multiaddr';
import { describeError } from '../net/errors.ts';
import type { PbLibp2p } from '../net/node.ts';
import { toPeerId } from '../net/serve.ts';

/** How often missing relay links are dialed again. */
export const RELAY_CHECK_MS = 10_000;
/** A connected relay gives a member its reservation within this (libp2p waits up to 20 s). */
export const RESERVE_WITHIN_MS = 30_000;

/** The relay's peer id: the last /p2p component of its address, or null. */
export function relayPeerId(address: string): string | null {
  try {
    return (
      multiaddr(address)
        .getComponents()
        .findLast((c) => c.name === 'p2p')?.value ?? null
    );
  } catch {
    return null;
  }
}

export class RelayLinks {
  private timer: NodeJS.Timeout | null = null;
  private readonly dialing = new Set<string>();
  private stopped = false;

  constructor(
    private readonly node: PbLibp2p,
    private readonly relays: readonly string[],
    private readonly log: (line: string) => void,
    /** Is this node a member now (a relay refuses anyone else a reservation)? */
    private readonly isMember: () => boolean = () => true,
  ) {}

  /**
   * Dials each configured relay this node has no connection to (one dial per relay at a time).
   * A member connected for RESERVE_WITHIN_MS without a reservation there (refused while it was
   * a candidate, or dropped) hangs up and dials again: libp2p asks for one only on connecting.
   */
  dialMissing(): void {
    if (this.stopped) return;
    for (const relay of this.relays) {
      const id = relayPeerId(relay);
      if (this.dialing.has(relay)) continue;
      const links = id === null ? [] : this.node.getConnections(toPeerId(id));
      if (links.length > 0 && !this.mustReserveAgain(id!, links)) continue;
      this.dialing.add(relay);
      this.redial(relay, id, links.length > 0)
        .catch((e: unknown) => this.log(`relay ${relay}: ${describeError(e)}`))
        .finally(() => this.dialing.delete(relay));
    }
  }

  private mustReserveAgain(relayId: string, links: readonly { timeline: { open: number } }[]): boolean {
    if (!this.isMember()) return false; // a candidate's circuit to its inviter may run through it
    const reserved = this.node
      .getMultiaddrs()
      .some((a) => a.toString().includes(`/p2p/${relayId}/p2p-circuit`));
    return !reserved && links.every((c) => Date.now() - c.timeline.open >= RESERVE_WITHIN_MS);
  }

  private async redial(relay: string, id: string | null, hangUpFirst: boolean): Promise<void> {
    if (hangUpFirst && id !== null) {
      this.log(`relay ${relay}: connected without a reservation; connecting again to ask for one`);
      await this.node.hangUp(toPeerId(id));
    }
    await this.node.dial(multiaddr(relay), { signal: AbortSignal.timeout(RELAY_CHECK_MS * 2) });
  }

  start(everyMs = RELAY_CHECK_MS): void {
    if (this.relays.length === 0 || this.timer !== null) return;
    this.timer = setInterval(() => this.dialMissing(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
