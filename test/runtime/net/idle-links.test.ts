/**
 * A quiet member keeps no link it does not need (runtime/net/webrtc-probe.ts,
 * `closeRedundantLinks`): WebRTC and relayed links to a peer it also reaches over a direct TCP
 * link, with no stream open, are closed; a WebRTC link that is the only direct path stays. In-process libp2p nodes on
 * 127.0.0.1, WebRTC signalled through a relay node (ICE without servers).
 */
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialPreferringWebRTC } from '../../../runtime/net/dial.ts';
import { closeRedundantLinks, isWebRTC } from '../../../runtime/net/webrtc-probe.ts';
import { setPolicy, type TestNode, testNode } from './_helpers.ts';

describe('redundant links', () => {
  let relay: TestNode;
  let other: TestNode;
  let self: TestNode;
  const members = new Set<string>();
  const lines: string[] = [];

  beforeAll(async () => {
    const policy = setPolicy(members);
    relay = await testNode(policy, { relayServer: true });
    other = await testNode(policy, {
      listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit', '/webrtc'],
      webrtc: true,
      webrtcBindAddress: '127.0.0.1',
      iceServers: [],
    });
    self = await testNode(policy, { webrtc: true, webrtcBindAddress: '127.0.0.1', iceServers: [] });
    for (const n of [relay, other, self]) members.add(n.id);
    await other.node.dial(relay.node.getMultiaddrs()[0]!);
    const deadline = Date.now() + 20_000;
    while (!other.node.getMultiaddrs().some((a) => a.toString().includes('/webrtc')) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
  }, 60_000);

  afterAll(async () => {
    await Promise.all([relay, other, self].map((n) => n?.node.stop()));
  });

  it('keeps a WebRTC link that is the only direct path; closes it and the relayed one once a TCP link is open', async () => {
    const circuitOnly = other.node.getMultiaddrs().filter((a) => a.toString().includes('/p2p-circuit'));
    const { connection, transport } = await dialPreferringWebRTC(
      self.node,
      circuitOnly.map((a) => multiaddr(a.toString())),
      { attempts: 3, attemptTimeoutMs: 15_000 },
    );
    expect(transport).toBe('webrtc');
    // Only relayed links besides it: the WebRTC link is the direct path, it stays.
    expect(closeRedundantLinks(self.node, (l) => lines.push(l))).toBe(0);
    expect(connection.status).toBe('open');

    const tcp = other.node.getMultiaddrs().find((a) => /\/tcp\/\d+\/p2p\/[^/]+$/.test(a.toString()));
    expect(tcp, 'a direct TCP address').toBeDefined();
    // libp2p would answer with the WebRTC link it holds: the other side's TCP dial, made anyway.
    const direct = await self.node.dial(multiaddr(tcp!.toString()), {
      signal: AbortSignal.timeout(10_000),
      force: true,
    });
    expect(direct.limits).toBeUndefined();
    expect(isWebRTC(direct)).toBe(false);

    const others = self.node.getConnections(other.node.peerId).filter((c) => c !== direct);
    expect(closeRedundantLinks(self.node, (l) => lines.push(l))).toBe(others.length);
    expect(lines.join('\n')).toMatch(/closing the idle WebRTC link to .{8}: a direct TCP link to it is open/);
    const deadline = Date.now() + 10_000;
    while (self.node.getConnections(other.node.peerId).length > 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(self.node.getConnections(other.node.peerId)).toEqual([direct]);
    expect(direct.status).toBe('open');
    expect(closeRedundantLinks(self.node, (l) => lines.push(l))).toBe(0);
  }, 90_000);
});
