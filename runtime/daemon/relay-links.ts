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
  ) {}

  /** Dials each configured relay this node has no connection to (one dial per relay at a time). */
  dialMissing(): void {
    if (this.stopped) return;
    for (const relay of this.relays) {
      const id = relayPeerId(relay);
      if (this.dialing.has(relay)) continue;
      if (id !== null && this.node.getConnections(toPeerId(id)).length > 0) continue;
      this.dialing.add(relay);
      this.node
        .dial(multiaddr(relay), { signal: AbortSignal.timeout(RELAY_CHECK_MS * 2) })
        .catch((e: unknown) => this.log(`relay ${relay}: ${describeError(e)}`))
        .finally(() => this.dialing.delete(relay));
    }
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
