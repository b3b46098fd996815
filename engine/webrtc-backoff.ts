/**
 * When a node may try WebRTC to a peer again (docs/nat.md, "WebRTC that cannot connect"). A
 * WebRTC link can never form to or from a member behind a symmetric NAT without a TURN server:
 * every attempt costs a signalling exchange over the relayed connection and seconds of waiting.
 * After WEBRTC_FAILURES_BEFORE_BACKOFF failures in a row the peer is reached over the relay only,
 * for a back-off that doubles with each further failure, from WEBRTC_BACKOFF_FIRST_MS up to
 * WEBRTC_BACKOFF_MAX_MS; one attempt is allowed when it ends. A link that opens resets it.
 * Pure: the caller passes the time.
 */

/** Failures in a row before WebRTC to a peer is paused (one sync's retries of a flaky dial). */
export const WEBRTC_FAILURES_BEFORE_BACKOFF = 2;
/** The first pause. */
export const WEBRTC_BACKOFF_FIRST_MS = 60_000;
/** The longest pause: a member whose NAT changed (it moved home) gets WebRTC within it. */
export const WEBRTC_BACKOFF_MAX_MS = 30 * 60_000;

/** WebRTC attempts to one peer: failures in a row, and the earliest time of the next attempt. */
export interface WebRTCAttempts {
  readonly failures: number;
  readonly retryAtMs: number;
}

/** Whether a WebRTC attempt to the peer may start at `nowMs` (no record: yes). */
export function webrtcAllowed(attempts: WebRTCAttempts | undefined, nowMs: number): boolean {
  return attempts === undefined || nowMs >= attempts.retryAtMs;
}

/** The pause after `failures` failures in a row (0 below the threshold). */
export function webrtcBackoffMs(failures: number): number {
  if (!Number.isInteger(failures) || failures < 0) throw new Error(`failures ${failures}: not a count`);
  if (failures < WEBRTC_FAILURES_BEFORE_BACKOFF) return 0;
  const doublings = Math.min(failures - WEBRTC_FAILURES_BEFORE_BACKOFF, 16);
  return Math.min(WEBRTC_BACKOFF_FIRST_MS * 2 ** doublings, WEBRTC_BACKOFF_MAX_MS);
}

/** The record after a failed attempt (a dial that failed, a link closed half-open) at `nowMs`. */
export function afterWebRTCFailure(attempts: WebRTCAttempts | undefined, nowMs: number): WebRTCAttempts {
  const failures = (attempts?.failures ?? 0) + 1;
  return { failures, retryAtMs: nowMs + webrtcBackoffMs(failures) };
}
