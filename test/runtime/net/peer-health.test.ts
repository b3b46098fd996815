/**
 * Path health (runtime/net/peer-health.ts, docs/nat.md): the path of a connection from its
 * remote address, the rate over recent large transfers, failures after the last success, the
 * bounds; and the reach column's words (status-words.ts `describeReach`).
 */
import { describe, expect, it } from 'vitest';
import { connectionPath } from '../../../engine/index.ts';
import { describeReach } from '../../../runtime/daemon/status/status-words.ts';
import {
  MAX_PEERS,
  PeerHealth,
  pathsOf,
  RATE_MIN_BYTES,
  RATE_WINDOW_MS,
  TRANSFER_SAMPLES,
} from '../../../runtime/net/peer-health.ts';

const ID = '12D3KooWDver8iwfrcnhL5nKn77YRR9kKwFcHtL3jM5wWykiEJpv';
const RELAY = `/ip4/203.0.113.9/tcp/4001/p2p/12D3KooWJynzfjCZFQmy5TUsPU8VBHwQM1Da9A3JFk3qWo3rRfNx/p2p-circuit`;

describe('path health', () => {
  it('tells direct, relay and WebRTC connections apart, best first', () => {
    expect(connectionPath(`/ip4/198.51.100.2/tcp/4001/p2p/${ID}`)).toBe('direct');
    expect(connectionPath(`/ip6/2001:db8::1/tcp/4001`)).toBe('direct');
    expect(connectionPath(`${RELAY}/p2p/${ID}`)).toBe('relay');
    expect(connectionPath(`${RELAY}/webrtc/p2p/${ID}`)).toBe('webrtc');
    expect(pathsOf([`${RELAY}/p2p/${ID}`, '/ip4/10.0.0.2/tcp/1', `${RELAY}/webrtc`])).toEqual([
      'direct',
      'webrtc',
      'relay',
    ]);
    expect(pathsOf([])).toEqual([]);
  });

  it('measures the rate over recent large transfers and keeps the last failure', () => {
    const h = new PeerHealth();
    let now = 1_000_000;
    expect(h.view(ID, [], now)).toEqual({ via: [], lastOkMs: null, lastFailure: null, bytesPerSecond: null });
    h.record({ peer: ID, bytes: 100, ms: 1, ok: true }, now); // small: no rate, but a success
    expect(h.view(ID, [], now)).toMatchObject({ lastOkMs: now, bytesPerSecond: null });
    h.record({ peer: ID, bytes: 4 * RATE_MIN_BYTES, ms: 200, ok: true }, now);
    h.record({ peer: ID, bytes: 4 * RATE_MIN_BYTES, ms: 600, ok: true }, now);
    expect(h.view(ID, [], now).bytesPerSecond).toBe(Math.round((8 * RATE_MIN_BYTES * 1000) / 800));
    now += 5_000;
    h.record({ peer: ID, bytes: 0, ms: 30_000, ok: false, error: 'x'.repeat(500) }, now);
    const v = h.view(ID, ['/ip4/10.0.0.2/tcp/1'], now);
    expect(v.via).toEqual(['direct']);
    expect(v.lastFailure).toEqual({ atMs: now, error: 'x'.repeat(200) });
    expect(v.lastOkMs).toBe(now - 5_000);
    // Old transfers stop counting; at most TRANSFER_SAMPLES are kept.
    expect(h.view(ID, [], now + RATE_WINDOW_MS + 1).bytesPerSecond).toBeNull();
    for (let i = 0; i < TRANSFER_SAMPLES + 5; i++)
      h.record({ peer: ID, bytes: RATE_MIN_BYTES, ms: i < 5 ? 1 : 1000, ok: true }, now);
    expect(h.view(ID, [], now).bytesPerSecond).toBe(RATE_MIN_BYTES);
    expect(() => h.record({ peer: ID, bytes: -1, ms: 1, ok: true }, now)).toThrow(/bad transfer note/);
  });

  it('tracks at most MAX_PEERS peers, the least recent going first', () => {
    const h = new PeerHealth();
    for (let i = 0; i <= MAX_PEERS; i++) h.record({ peer: `p${i}`, bytes: 0, ms: 1, ok: true }, i);
    expect(h.view('p0', [], 0).lastOkMs).toBeNull();
    expect(h.view('p1', [], 0).lastOkMs).toBe(1);
    expect(h.view(`p${MAX_PEERS}`, [], 0).lastOkMs).toBe(MAX_PEERS);
  });

  it('says how a member is reached in the reach column', () => {
    const nowMs = 10_000_000;
    const path = (over: object) => ({
      via: [],
      lastOkMs: null,
      lastFailure: null,
      bytesPerSecond: null,
      ...over,
    });
    const base = { self: false, availability: 'online', connected: true, capped: false, nowMs };
    expect(describeReach({ ...base, self: true, path: null })).toBe('');
    expect(describeReach({ ...base, path: null })).toBe('connected');
    expect(describeReach({ ...base, path: path({ via: ['direct'], bytesPerSecond: 4_200_000 }) })).toBe(
      'direct 4.20 MB/s',
    );
    expect(describeReach({ ...base, capped: true, path: path({ via: ['webrtc', 'relay'] }) })).toBe(
      'webrtc + relay, capped',
    );
    // Not connected: never "online"; a failure newer than the last success is said.
    const failed = path({
      lastOkMs: nowMs - 120_000,
      lastFailure: { atMs: nowMs - 60_000, error: 'timeout' },
    });
    expect(describeReach({ ...base, connected: false, path: failed })).toBe(
      'not connected now, last try 60 s ago failed',
    );
    expect(describeReach({ ...base, connected: false, availability: 'away', path: null })).toBe('away');
    const healed = path({ lastOkMs: nowMs - 1_000, lastFailure: { atMs: nowMs - 60_000, error: 'timeout' } });
    expect(describeReach({ ...base, connected: false, availability: 'lost', path: healed })).toBe('lost');
  });
});
