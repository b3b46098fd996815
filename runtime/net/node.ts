/**
 * The libp2p node of a pb member (docs/design.md §8): TCP, circuit relay v2 (client always; server
 * on reachable members and on a standalone relay), WebRTC signalled over the relay, Noise, Yamux,
 * identify. Relay limits are raised for real shard traffic (the defaults, 128 KiB and 2 minutes
 * per relayed connection, would cut a shard off).
 */
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { identify } from '@libp2p/identify';
import type { PrivateKey } from '@libp2p/interface';
import { noise } from '@libp2p/noise';
import { tcp } from '@libp2p/tcp';
import { webRTC } from '@libp2p/webrtc';
import { yamux } from '@libp2p/yamux';
import { createLibp2p, type Libp2p } from 'libp2p';
import { isOwnAddress } from '../../engine/index.ts';

/** The subset of the DOM RTCIceServer this node passes through. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

import { type AccessPolicy, createGater } from './access.ts';
import {
  DEFAULT_GUEST_LIMITS,
  freeRelaySlotsOnDisconnect,
  GuestConnections,
  type GuestLimits,
  reapIdleGuests,
} from './guests.ts';
import { libp2pKeyFromSeed } from './keys.ts';
import { reserveOnlyOverDirectLinks } from './relay-reserve.ts';
import { announceDialable, guardAddressManager } from './transport-guard.ts';
import { setWebRTCPolicy, WebRTCPolicy } from './webrtc-policy.ts';
import { wideWindowYamux, YAMUX_BASE } from './wide-yamux.ts';

export interface RelayLimits {
  /** Bytes one relayed connection may carry (each direction). */
  dataLimitBytes: number;
  /** How long one relayed connection may last. */
  durationLimitMs: number;
  /** Reservations this relay holds at once. */
  maxReservations: number;
}

/** Room for a stripe's worth of 32 MiB shards and an hour of repair per relayed connection. */
export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  dataLimitBytes: 16 * 1024 * 1024 * 1024,
  durationLimitMs: 60 * 60 * 1000,
  maxReservations: 64,
};

export interface PbNodeOptions {
  privateKey: PrivateKey;
  /** Multiaddrs to listen on, e.g. /ip4/0.0.0.0/tcp/4001, /p2p-circuit, /webrtc. */
  listen: string[];
  /** Serve as a circuit relay for others (members that are reachable; `pb-node relay`). */
  relayServer?: boolean;
  relayLimits?: RelayLimits;
  /** Enable the WebRTC transport (direct links across NAT, signalled over the relay). */
  webrtc?: boolean;
  /** ICE servers as RTCIceServer objects; none in tests. */
  iceServers?: IceServer[];
  /** Local address ICE binds to (127.0.0.1 in tests). */
  webrtcBindAddress?: string;
  /** Announce only these addresses (optional). */
  announce?: string[];
  policy: () => AccessPolicy;
  /** Offer the wide-window muxer (default true; false behaves like a member from before it). */
  wideYamux?: boolean;
  /** Caps on the connections of guests (policy.isGuest); default DEFAULT_GUEST_LIMITS. */
  guestLimits?: GuestLimits;
  /** Where transport-guard notes go (addresses the address manager was kept from choking on). */
  log?: (line: string) => void;
}

/**
 * Connections in all (libp2p refuses inbound ones beyond it): members' headroom is what the
 * guest cap (guests.ts) leaves of it. Connections still in their handshake, when the remote
 * identity is not known yet, are bounded separately and must finish within the upgrade timeout.
 */
export const MAX_CONNECTIONS = 256;
export const MAX_PENDING_INBOUND_CONNECTIONS = 64;
export const INBOUND_UPGRADE_TIMEOUT_MS = 5_000;
/**
 * libp2p's connection monitor opens a ping stream on every connection this often and aborts a
 * connection whose ping fails (libp2p's default is 10 s). A quiet member's CPU goes mostly to these
 * streams (docs/design.md, "Idle cost"): a minute is enough to notice a silent partition and to
 * keep the NAT mappings of TCP links open (home routers keep an established TCP mapping for
 * minutes to hours; yamux's own keepalive is off, wide-yamux.ts), and a closed socket (a member
 * stopped or killed) is noticed at once without any ping.
 */
export const CONNECTION_PING_INTERVAL_MS = 60_000;

export type PbLibp2p = Libp2p;

export async function createPbNode(options: PbNodeOptions): Promise<PbLibp2p> {
  const limits = options.relayLimits ?? DEFAULT_RELAY_LIMITS;
  const rtcConfiguration: { iceServers: IceServer[]; bindAddress?: string } = {
    iceServers: options.iceServers ?? [],
  };
  if (options.webrtcBindAddress !== undefined) rtcConfiguration.bindAddress = options.webrtcBindAddress;
  const services: Record<string, unknown> = { identify: identify() };
  if (options.relayServer === true) {
    services.relay = circuitRelayServer({
      reservations: {
        maxReservations: limits.maxReservations,
        defaultDataLimit: BigInt(limits.dataLimitBytes),
        defaultDurationLimit: limits.durationLimitMs,
        applyDefaultLimit: true,
      },
      maxInboundHopStreams: 64,
      maxOutboundHopStreams: 64,
    });
  }
  const transports = [tcp(), circuitRelayTransport({ reservationCompletionTimeout: 20_000 })];
  // Guests: bounded per identity and in total, reaped when idle (guests.ts).
  const guestLimits = options.guestLimits ?? DEFAULT_GUEST_LIMITS;
  const isGuest = (peer: string): boolean => options.policy().isGuest?.(peer) ?? false;
  const guests = new GuestConnections(guestLimits, isGuest);
  // Never dial one of this node's own addresses: behind another router with the same LAN
  // numbering a member's LAN address is this node itself (engine/addresses.ts).
  let self: Libp2p | null = null;
  const gater = createGater(options.policy, guests);
  const denyDial = gater.denyDialMultiaddr?.bind(gater);
  // WebRTC only where pb dials it (webrtc-policy.ts): libp2p's own dials go to the relay.
  const webrtcPolicy = new WebRTCPolicy(options.log);
  gater.denyDialMultiaddr = async (ma) =>
    webrtcPolicy.denyDial(ma) ||
    (self !== null && isOwnAddress(ma.toString(), self.getMultiaddrs().map(String))) ||
    (denyDial !== undefined && (await denyDial(ma)));
  const node = await createLibp2p({
    privateKey: options.privateKey,
    addresses: {
      listen: options.listen,
      ...(options.announce === undefined ? {} : { announce: options.announce }),
      announceFilter: announceDialable, // transport-guard.ts: never announce an undialable address
    },
    transports:
      options.webrtc === true
        ? [
            ...transports,
            webRTC({
              rtcConfiguration: rtcConfiguration as Parameters<typeof webRTC>[0] extends infer I
                ? I extends { rtcConfiguration?: infer R }
                  ? Exclude<R, (...a: never[]) => unknown>
                  : never
                : never,
            }),
          ]
        : transports,
    connectionEncrypters: [noise()],
    // Members that both know the wide-window yamux pick it; anyone else gets plain yamux.
    streamMuxers: options.wideYamux === false ? [yamux(YAMUX_BASE)] : [wideWindowYamux(), yamux(YAMUX_BASE)],
    connectionGater: gater,
    connectionManager: {
      maxConnections: MAX_CONNECTIONS,
      maxIncomingPendingConnections: MAX_PENDING_INBOUND_CONNECTIONS,
      inboundUpgradeTimeout: INBOUND_UPGRADE_TIMEOUT_MS,
    },
    connectionMonitor: { pingInterval: CONNECTION_PING_INTERVAL_MS },
    // biome-ignore lint/suspicious/noExplicitAny: libp2p's ServiceFactoryMap is keyed by literal names
    services: services as any,
  });
  reapIdleGuests(node, guestLimits, isGuest, (peer) => options.policy().circuitGrantedAtMs?.(peer));
  freeRelaySlotsOnDisconnect(node);
  self = node;
  setWebRTCPolicy(node, webrtcPolicy);
  // --- transport guard (transport-guard.ts): unparseable addresses must not throw in listeners
  guardAddressManager(node, options.log);
  reserveOnlyOverDirectLinks(node, options.log); // relay-reserve.ts: no slot on an undialable link
  // --- end transport guard
  return node as PbLibp2p;
}

/**
 * A node that only dials (recovery, a browse verb with no daemon running): no listener, no
 * relay service, no WebRTC; it connects only to the peers in `allowed` (the caller may grow the
 * set, e.g. once the group log is known) and serves nothing.
 */
export async function createDialOnlyNode(
  keys: { signingSeed: Uint8Array; publicKey: Uint8Array },
  allowed: ReadonlySet<string>,
): Promise<PbLibp2p> {
  const policy: AccessPolicy = {
    mayConnect: (p) => allowed.has(p),
    mayUse: () => false,
    mayRelay: () => false,
  };
  return createPbNode({
    privateKey: await libp2pKeyFromSeed(keys.signingSeed, keys.publicKey),
    listen: [],
    relayServer: false,
    webrtc: false,
    iceServers: [],
    policy: () => policy,
  });
}
