/**
 * node-datachannel (under @libp2p/webrtc) starts libdatachannel's threads with the first WebRTC
 * peer connection of the process: usrsctp's timer thread wakes every 10 ms, and they all stay
 * until the process exits, whether a connection is left or not (about 0.3 % of a core on a member
 * that does nothing else; docs/design.md, "Idle cost"). Once no WebRTC link has been open, dialled
 * or signalled for WEBRTC_RELEASE_IDLE_MS, the library is released (node-datachannel's `cleanup`:
 * every thread ends in a few milliseconds; the next WebRTC link starts them again).
 *
 * Inbound WebRTC is signalled over a relayed connection, so a relayed link that opens counts as
 * activity too; a signalling stream still open, a WebRTC connection in any state or a dial under
 * pb's permit (webrtc-policy.ts) keep the library.
 */
import type { Connection } from '@libp2p/interface';
import { cleanup } from 'node-datachannel';
import type { PbLibp2p } from './node.ts';
import { webrtcPolicyOf } from './webrtc-policy.ts';
import { isWebRTC } from './webrtc-probe.ts';

/** How long nothing WebRTC must happen before libdatachannel's threads are released. */
export const WEBRTC_RELEASE_IDLE_MS = 30_000;
/** @libp2p/webrtc's signalling protocol (private-to-private). */
const SIGNALING_PREFIX = '/webrtc-signaling/';

function webrtcBusy(node: PbLibp2p): boolean {
  if (webrtcPolicyOf(node)?.dialling() === true) return true;
  return node
    .getConnections()
    .some((c) => isWebRTC(c) || c.streams.some((s) => s.protocol?.startsWith(SIGNALING_PREFIX) === true));
}

/** Watches `node` and releases libdatachannel when WebRTC has been idle; returns the unsubscriber. */
export function releaseIdleWebRTC(
  node: PbLibp2p,
  log: (line: string) => void,
  idleMs = WEBRTC_RELEASE_IDLE_MS,
  release: () => void = cleanup,
): () => void {
  let timer: NodeJS.Timeout | null = null;
  let lastActiveMs = Date.now();
  /** Whether the library may hold threads (something WebRTC happened since the last release). */
  let live = false;
  const arm = (delayMs: number): void => {
    if (timer !== null) return;
    timer = setTimeout(check, delayMs);
    timer.unref();
  };
  const touch = (): void => {
    live = true;
    lastActiveMs = Date.now();
    arm(idleMs);
  };
  function check(): void {
    timer = null;
    if (!live) return;
    if (webrtcBusy(node)) {
      lastActiveMs = Date.now();
      arm(idleMs);
      return;
    }
    const quietMs = Date.now() - lastActiveMs;
    if (quietMs < idleMs) {
      arm(idleMs - quietMs);
      return;
    }
    live = false;
    try {
      release();
      log(`webrtc: no link for ${Math.round(idleMs / 1000)} s; its native threads are released`);
    } catch (error) {
      log(`webrtc: releasing its native threads failed: ${(error as Error)?.message ?? String(error)}`);
    }
  }
  const onOpen = (event: CustomEvent<Connection>): void => {
    if (isWebRTC(event.detail) || event.detail.limits !== undefined) touch();
  };
  const onClose = (event: CustomEvent<Connection>): void => {
    if (isWebRTC(event.detail)) touch();
  };
  const policy = webrtcPolicyOf(node);
  if (policy !== undefined) policy.onDial = touch;
  node.addEventListener('connection:open', onOpen);
  node.addEventListener('connection:close', onClose);
  return () => {
    node.removeEventListener('connection:open', onOpen);
    node.removeEventListener('connection:close', onClose);
    if (policy !== undefined) policy.onDial = () => {};
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
}
