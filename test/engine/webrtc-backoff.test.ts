import { describe, expect, it } from 'vitest';
import {
  afterWebRTCFailure,
  WEBRTC_BACKOFF_FIRST_MS,
  WEBRTC_BACKOFF_MAX_MS,
  WEBRTC_FAILURES_BEFORE_BACKOFF,
  type WebRTCAttempts,
  webrtcAllowed,
  webrtcBackoffMs,
} from '../../engine/webrtc-backoff.ts';

describe('WebRTC back-off per peer', () => {
  it('allows a peer with no failures, and one failure (a flaky dial) without a pause', () => {
    expect(webrtcAllowed(undefined, 0)).toBe(true);
    const once = afterWebRTCFailure(undefined, 1000);
    expect(once.failures).toBe(1);
    expect(webrtcAllowed(once, 1000)).toBe(true);
  });

  it('pauses after the threshold, doubling per failure up to the maximum, and allows one try after', () => {
    let a: WebRTCAttempts | undefined;
    let now = 0;
    for (let i = 0; i < WEBRTC_FAILURES_BEFORE_BACKOFF; i++) a = afterWebRTCFailure(a, now);
    expect(webrtcAllowed(a, now)).toBe(false);
    expect(a!.retryAtMs - now).toBe(WEBRTC_BACKOFF_FIRST_MS);
    expect(webrtcAllowed(a, now + WEBRTC_BACKOFF_FIRST_MS - 1)).toBe(false);
    now += WEBRTC_BACKOFF_FIRST_MS;
    expect(webrtcAllowed(a, now)).toBe(true);
    a = afterWebRTCFailure(a, now);
    expect(a.retryAtMs - now).toBe(2 * WEBRTC_BACKOFF_FIRST_MS);
    for (let i = 0; i < 40; i++) a = afterWebRTCFailure(a, now);
    expect(a.retryAtMs - now).toBe(WEBRTC_BACKOFF_MAX_MS);
  });

  it('refuses a count that is not one', () => {
    expect(() => webrtcBackoffMs(-1)).toThrow(/not a count/);
    expect(() => webrtcBackoffMs(1.5)).toThrow(/not a count/);
    expect(webrtcBackoffMs(0)).toBe(0);
  });
});
