/**
 * The WebRTC policy (runtime/net/webrtc-policy.ts): pb alone dials WebRTC, libp2p's own dials to
 * a peer id go to its relay-circuit address, and a peer whose WebRTC keeps failing is paused.
 * In-process libp2p nodes on 127.0.0.1 (the NAT case itself: test/nat/nat-webrtc.test.ts).
 */
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEBRTC_BACKOFF_FIRST_MS } from '../../../engine/index.ts';
import { dialPreferringWebRTC } from '../../../runtime/net/dial.ts';
import {
  MAX_TRACKED_PEERS,
  WebRTCPolicy,
  webrtcPolicyOf,
  webrtcTarget,
} from '../../../runtime/net/webrtc-policy.ts';
import { isWebRTC } from '../../../runtime/net/webrtc-probe.ts';
import {
  awaitCircuit,
  closeLinks,
  dialWebRTCRetrying,
  setPolicy,
  type TestNode,
  webrtcTrio,
} from './_helpers.ts';

const PEER = '12D3KooWRWyrLLLjLLBsuaJFxNsPvKWCEDhkrYRVowzjw77W7T2o';
const RELAYED = `/ip4/198.51.100.2/tcp/4002/p2p/12D3KooWGEzpeseQn3xc9T3ZfEVgmtxDeYqi8wis6vbtcmqnod81/p2p-circuit`;

describe('the WebRTC policy', () => {
  it('names the peer of a WebRTC address only', () => {
    expect(webrtcTarget(multiaddr(`${RELAYED}/webrtc/p2p/${PEER}`))).toBe(PEER);
    expect(webrtcTarget(multiaddr(`${RELAYED}/p2p/${PEER}`))).toBeNull();
    expect(webrtcTarget(multiaddr('/ip4/192.168.1.10/tcp/4001'))).toBeNull();
  });

  it('refuses WebRTC addresses outside a permit, and lets them through during one', async () => {
    const policy = new WebRTCPolicy();
    const rtc = multiaddr(`${RELAYED}/webrtc/p2p/${PEER}`);
    expect(policy.denyDial(rtc)).toBe(true);
    expect(policy.denyDial(multiaddr(`${RELAYED}/p2p/${PEER}`))).toBe(false);
    let inside = false;
    await policy.permit(PEER, async () => {
      await policy.permit(PEER, async () => undefined); // nested: the outer one still holds
      inside = !policy.denyDial(rtc);
    });
    expect(inside).toBe(true);
    expect(policy.denyDial(rtc)).toBe(true);
    await expect(policy.permit(PEER, async () => Promise.reject(new Error('dial failed')))).rejects.toThrow();
    expect(policy.denyDial(rtc)).toBe(true);
  });

  it('pauses a peer after failures, logs it, resumes after the back-off and on a success', () => {
    let now = 1_000_000;
    const logs: string[] = [];
    const policy = new WebRTCPolicy(
      (l) => logs.push(l),
      () => now,
    );
    policy.failed(PEER, 'ICE failed');
    expect(policy.allowed(PEER)).toBe(true);
    expect(logs).toEqual([]);
    policy.failed(PEER, 'ICE failed');
    expect(policy.allowed(PEER)).toBe(false);
    expect(policy.pausedUntilMs(PEER)).toBe(now + WEBRTC_BACKOFF_FIRST_MS);
    expect(logs.join('\n')).toMatch(
      /webrtc to w77W7T2o failed 2 times in a row \(ICE failed\); relay only for 60 s/,
    );
    now += WEBRTC_BACKOFF_FIRST_MS;
    expect(policy.allowed(PEER)).toBe(true);
    policy.failed(PEER, 'again');
    expect(policy.allowed(PEER)).toBe(false);
    policy.succeeded(PEER);
    expect(policy.allowed(PEER)).toBe(true);
  });

  it('remembers at most MAX_TRACKED_PEERS peers, dropping the oldest', () => {
    const policy = new WebRTCPolicy(
      () => {},
      () => 0,
    );
    for (let i = 0; i <= MAX_TRACKED_PEERS; i++) {
      policy.failed(`peer-${i}`, 'x');
      policy.failed(`peer-${i}`, 'x');
    }
    expect(policy.allowed('peer-0')).toBe(true); // dropped
    expect(policy.allowed(`peer-${MAX_TRACKED_PEERS}`)).toBe(false);
  });
});

describe('libp2p dials and the policy', () => {
  let relay: TestNode;
  let hidden: TestNode;
  let writer: TestNode;
  const members = new Set<string>();

  beforeAll(async () => {
    ({ relay, hidden, writer } = await webrtcTrio(setPolicy(members), members));
    await awaitCircuit(hidden, relay);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([relay, hidden, writer].map((n) => n?.node.stop()));
  });

  it('a dial to the peer id goes to the relay, never WebRTC; pb dials WebRTC under a permit', async () => {
    const addrs = hidden.node.getMultiaddrs();
    expect(addrs.some((a) => a.toString().includes('/webrtc'))).toBe(true);
    await writer.node.peerStore.merge(hidden.node.peerId, { multiaddrs: addrs });
    const conn = await writer.node.dial(hidden.node.peerId, { signal: AbortSignal.timeout(20_000) });
    expect(isWebRTC(conn)).toBe(false);
    expect(conn.remoteAddr.toString()).toContain('/p2p-circuit');
    const rtc = addrs.find((a) => a.toString().includes('/webrtc'))!;
    await expect(writer.node.dial(rtc, { signal: AbortSignal.timeout(20_000) })).rejects.toThrow(/gater/i);
    // One WebRTC dial may fail by itself; the daemon tries again, and so does this test
    // (dialWebRTCRetrying). What is tested is that the permit lets it through where the gater refused.
    const link = await dialWebRTCRetrying(writer.node, rtc);
    expect(isWebRTC(link)).toBe(true);
    expect(webrtcPolicyOf(writer.node)).toBeDefined();
    await closeLinks(writer.node, hidden.node.peerId);
  }, 60_000);

  it('a paused peer is reached over the relay without a WebRTC attempt', async () => {
    const policy = webrtcPolicyOf(writer.node)!;
    policy.failed(hidden.id, 'injected');
    policy.failed(hidden.id, 'injected');
    const logs: string[] = [];
    const { connection, transport } = await dialPreferringWebRTC(writer.node, hidden.node.getMultiaddrs(), {
      attempts: 2,
      attemptTimeoutMs: 10_000,
      log: (l) => logs.push(l),
    });
    expect(transport).toBe('relay');
    expect(isWebRTC(connection)).toBe(false);
    expect(logs).toEqual([]);
    policy.succeeded(hidden.id);
    // The relayed link of the dial above is closed first: libp2p may answer a dial with a link it
    // already has to that peer, and the point here is that WebRTC is tried again.
    await closeLinks(writer.node, hidden.node.peerId);
    const tried: string[] = [];
    const again = await dialPreferringWebRTC(writer.node, hidden.node.getMultiaddrs(), {
      attempts: 3,
      attemptTimeoutMs: 15_000,
      log: (l) => tried.push(l),
    });
    expect(again.transport, tried.join('\n')).toBe('webrtc');
  }, 90_000);
});
