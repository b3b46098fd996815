/**
 * The daemon's links to its configured relays (`relays` in the config). A relay that went away
 * and came back, a reservation the transport dropped after an error, a relay that refused this
 * node before it was a member: every RELAY_CHECK_MS (and whenever asked) each configured relay
 * without a connection is dialed again, which makes the reservation again (the `/p2p-circuit`
 * listener reserves on connected relays).
 */
import type { PeerId } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { describeError } from '../../net/errors.ts';
import type { PbLibp2p } from '../../net/node.ts';
import { holdsReservation, reserveOn } from '../../net/relay-reserve.ts';
import { toPeerId } from '../../net/serve.ts';

/** How often missing relay links are dialed again. */
export const RELAY_CHECK_MS = 10_000;
/** A member connected this long to a relay without a reservation there asks it again. */
export const RESERVE_WITHIN_MS = 10_000;

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
  /** When each configured relay was last asked for a reservation (bounded: the configured relays). */
  private readonly askedAtMs = new Map<string, number>();
  /** When this node was first seen a member here (a candidate's relay links predate it). */
  private admittedAtMs: number | null = null;

  /** The configured relays' peer ids (those whose address names one). */
  private readonly relayIds: PeerId[];

  constructor(
    private readonly node: PbLibp2p,
    private readonly relays: readonly string[],
    private readonly log: (line: string) => void,
    /** Is this node a member now (a relay refuses anyone else a reservation)? */
    private readonly isMember: () => boolean = () => true,
  ) {
    this.relayIds = relays.flatMap((r) => {
      const id = relayPeerId(r);
      return id === null ? [] : [toPeerId(id)];
    });
  }

  /**
   * Dials each configured relay this node has no connection to (one dial per relay at a time).
   * A member connected for RESERVE_WITHIN_MS without a reservation there (refused while it was
   * a candidate, or a relay that restarted while libp2p was dialing it) asks again.
   */
  dialMissing(): void {
    if (this.stopped) return;
    if (this.admittedAtMs === null && this.isMember()) this.admittedAtMs = Date.now();
    for (const relay of this.relays) {
      const id = relayPeerId(relay);
      if (this.dialing.has(relay)) continue;
      const links = id === null ? [] : this.node.getConnections(toPeerId(id));
      if (links.length > 0 && !this.mustReserveAgain(links)) continue;
      if (links.length > 0) {
        // Asking: once per relay every RELAY_CHECK_MS (sync rounds call this far more often).
        if (Date.now() - (this.askedAtMs.get(relay) ?? 0) < RELAY_CHECK_MS) continue;
        this.askedAtMs.set(relay, Date.now());
      }
      this.dialing.add(relay);
      this.redial(relay, id, links.length > 0)
        .catch((e: unknown) => this.log(`relay ${relay}: ${describeError(e)}`))
        .finally(() => this.dialing.delete(relay));
    }
  }

  private mustReserveAgain(links: readonly { timeline: { open: number } }[]): boolean {
    if (!this.isMember()) return false; // a candidate's circuit to its inviter may run through it
    if (holdsReservation(this.node, this.relayIds)) return false;
    // Just admitted: the relay refused this node as a candidate on these links; ask again at once.
    const admittedAtMs = this.admittedAtMs;
    if (admittedAtMs !== null && links.every((c) => c.timeline.open < admittedAtMs)) return true;
    return links.every((c) => Date.now() - c.timeline.open >= RESERVE_WITHIN_MS);
  }

  /**
   * Dials the relay; connected without a reservation, asks for one directly (relay-reserve.ts)
   * and, if libp2p gives no way to, hangs up and connects again (libp2p asks on connecting).
   */
  private async redial(relay: string, id: string | null, connected: boolean): Promise<void> {
    if (connected && id !== null) {
      if (await reserveOn(this.node, toPeerId(id))) return;
      this.log(`relay ${relay}: connected without a reservation; connecting again to ask for one`);
      await this.node.hangUp(toPeerId(id));
    }
    await this.node.dial(multiaddr(relay), { signal: AbortSignal.timeout(RELAY_CHECK_MS * 2) });
    if (id !== null && this.isMember()) await reserveOn(this.node, toPeerId(id));
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
