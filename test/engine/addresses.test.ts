import { describe, expect, it } from 'vitest';
import {
  addressesToPublish,
  announceable,
  dialableFrom,
  isLoopback,
  isOwnAddress,
  MAX_RELAYS,
  relayOf,
  relaysIn,
} from '../../engine/addresses.ts';

const R1 = '/ip4/198.51.100.2/tcp/4002/p2p/12D3KooWRelayOne';
const R2 = '/ip4/198.51.100.2/tcp/4003/p2p/12D3KooWRelayTwo';
const ME = '12D3KooWMember';
const LAN = `/ip4/192.168.1.10/tcp/4001/p2p/${ME}`;
const LOOP = `/ip4/127.0.0.1/tcp/4001/p2p/${ME}`;
const circuit = (relay: string): string => `${relay}/p2p-circuit/p2p/${ME}`;

describe('addresses others can use', () => {
  it('announces no loopback address unless there is nothing else', () => {
    expect(announceable([LOOP, LAN, circuit(R1)])).toEqual([LAN, circuit(R1)]);
    expect(announceable([LOOP, '/ip6/::1/tcp/4001'])).toEqual([LOOP, '/ip6/::1/tcp/4001']);
    expect(isLoopback(`/ip4/127.0.0.1/tcp/4002/p2p/X/p2p-circuit/p2p/${ME}`)).toBe(true);
    expect(isLoopback(circuit(R1))).toBe(false);
  });

  it('names the relay of a circuit address, at most MAX_RELAYS distinct ones', () => {
    expect(relayOf(circuit(R1))).toEqual({ address: R1, id: '12D3KooWRelayOne' });
    expect(relayOf(`${R1}/p2p-circuit/webrtc/p2p/${ME}`)?.address).toBe(R1);
    expect(relayOf(LAN)).toBeNull();
    expect(relayOf('/p2p-circuit')).toBeNull();
    expect(
      relaysIn([circuit(R1), `${R1}/p2p-circuit/webrtc`, circuit(R2), LAN]).map((r) => r.address),
    ).toEqual([R1, R2]);
    const many = Array.from({ length: 20 }, (_, i) => circuit(`/ip4/10.0.0.${i}/tcp/1/p2p/R${i}`));
    expect(relaysIn(many)).toHaveLength(MAX_RELAYS);
  });

  it('recognises its own listen address (another home, the same LAN numbering)', () => {
    const own = ['/ip4/192.168.1.10/tcp/4001', '/ip4/127.0.0.1/tcp/4001', circuit(R1)];
    expect(isOwnAddress('/ip4/192.168.1.10/tcp/4001/p2p/12D3KooWSomeoneElse', own)).toBe(true);
    expect(isOwnAddress('/ip4/192.168.1.10/tcp/4002/p2p/12D3KooWSomeoneElse', own)).toBe(false);
    expect(isOwnAddress(`${R1}/p2p-circuit/p2p/12D3KooWSomeoneElse`, own)).toBe(false);
  });

  it('leaves out the addresses that go through itself as the relay', () => {
    const viaMe = `/ip4/127.0.0.1/tcp/4001/p2p/${ME}/p2p-circuit/p2p/12D3KooWOther`;
    const viaMeWebRTC = `/ip4/127.0.0.1/tcp/4009/p2p/${ME}/p2p-circuit/webrtc/p2p/12D3KooWOther`;
    const viaR1 = `${R1}/p2p-circuit/p2p/12D3KooWOther`;
    const direct = '/ip4/192.168.1.11/tcp/4001/p2p/12D3KooWOther';
    expect(dialableFrom([direct, viaMe, viaR1, viaMeWebRTC], ME)).toEqual([direct, viaR1]);
    expect(dialableFrom([direct, viaR1], ME)).toEqual([direct, viaR1]);
  });

  it('republishes a new port or a new relay, not a lost reservation', () => {
    const published = [LAN, circuit(R1), `${R1}/p2p-circuit/webrtc/p2p/${ME}`];
    expect(addressesToPublish(published, [LAN, circuit(R1)])).toBeNull();
    expect(addressesToPublish(published, [LAN])).toBeNull();
    expect(addressesToPublish(published, [])).toBeNull();
    expect(addressesToPublish(published, [LAN, circuit(R2)])).toEqual([LAN, circuit(R2)]);
    const moved = LAN.replace('4001', '4005');
    // A new port while the relay is away: the published relayed addresses stay.
    expect(addressesToPublish(published, [moved])).toEqual([
      moved,
      circuit(R1),
      `${R1}/p2p-circuit/webrtc/p2p/${ME}`,
    ]);
    expect(addressesToPublish([LAN], [LAN, circuit(R1)])).toEqual([LAN, circuit(R1)]);
  });
});
