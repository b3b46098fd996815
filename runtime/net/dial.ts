/**
 * Dialing a member across NAT: WebRTC first (a direct link, signalled through the relay), retried
 * with backoff because about one dial in ten hangs until its timeout, then the relayed link. A
 * WebRTC connection counts only once a data channel opened on it within the bound
 * (webrtc-probe.ts); a half-open one is closed and the next attempt, or the relay, is used.
 */
import type { Connection } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { describeError, NetError } from './errors.ts';
import type { PbLibp2p } from './node.ts';
import { closeIfHalfOpen, WEBRTC_OPEN_BOUND_MS } from './webrtc-probe.ts';

export interface DialOptions {
  /** WebRTC attempts before falling back (default 3). */
  attempts?: number;
  /** Bound on each WebRTC attempt (default 10 s). */
  attemptTimeoutMs?: number;
  /** Bound on a new WebRTC link opening its first data channel (default WEBRTC_OPEN_BOUND_MS). */
  openBoundMs?: number;
  /** First backoff; doubles per attempt (default 250 ms). */
  backoffMs?: number;
  log?: (line: string) => void;
}

export async function dialPreferringWebRTC(
  node: PbLibp2p,
  addrs: Multiaddr[],
  options: DialOptions = {},
): Promise<{ connection: Connection; transport: 'webrtc' | 'relay' | 'direct' }> {
  const attempts = options.attempts ?? 3;
  const timeoutMs = options.attemptTimeoutMs ?? 10_000;
  const webrtc = addrs.filter((a) => a.toString().includes('/webrtc'));
  for (const addr of webrtc) {
    for (let attempt = 0; attempt < attempts; attempt++) {
      try {
        const connection = await node.dial(addr, { signal: AbortSignal.timeout(timeoutMs) });
        const halfOpen = await closeIfHalfOpen(connection, options.openBoundMs ?? WEBRTC_OPEN_BOUND_MS);
        if (halfOpen === null) return { connection, transport: 'webrtc' };
        throw new NetError('timeout', `the link is half-open (${halfOpen}); closed`);
      } catch (error) {
        options.log?.(
          `webrtc dial ${attempt + 1}/${attempts} to ${addr.toString()} failed: ${describeError(error)}`,
        );
        await new Promise((r) => setTimeout(r, (options.backoffMs ?? 250) * 2 ** attempt));
      }
    }
  }
  const rest = addrs.filter((a) => !a.toString().includes('/webrtc'));
  let last: unknown = new NetError('closed', `no address to dial among ${addrs.length}`);
  for (const addr of rest) {
    try {
      const connection = await node.dial(addr, { signal: AbortSignal.timeout(timeoutMs * 2) });
      return { connection, transport: addr.toString().includes('/p2p-circuit') ? 'relay' : 'direct' };
    } catch (error) {
      last = new NetError('closed', `dial ${addr.toString()} failed: ${describeError(error)}`, {
        cause: error,
      });
    }
  }
  throw last;
}
