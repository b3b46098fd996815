import { randomBytes } from 'node:crypto';
import type { Connection, PeerId } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { deriveMemberKeys, memberIdFromPublicKey } from '../../../engine/index.ts';
import type { AccessPolicy } from '../../../runtime/net/access.ts';
import { FrameReader, MAX_MESSAGE_BYTES, sendBytes } from '../../../runtime/net/framing.ts';
import { libp2pKeyFromSeed } from '../../../runtime/net/keys.ts';
import { createPbNode, type PbLibp2p, type PbNodeOptions } from '../../../runtime/net/node.ts';
import { dialWebRTCAddress } from '../../../runtime/net/webrtc-policy.ts';
import { isWebRTC } from '../../../runtime/net/webrtc-probe.ts';

export interface TestNode {
  node: PbLibp2p;
  id: string;
  secret: Uint8Array;
}

export async function testNode(
  policy: () => AccessPolicy,
  extra: Partial<PbNodeOptions> = {},
  secret: Uint8Array = randomBytes(32),
): Promise<TestNode> {
  const keys = deriveMemberKeys(secret);
  const node = await createPbNode({
    privateKey: await libp2pKeyFromSeed(keys.signingSeed, keys.publicKey),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    policy,
    ...extra,
  });
  return { node, id: memberIdFromPublicKey(keys.publicKey), secret };
}

/**
 * The WebRTC test trio: a relay, a hidden member that listens only through the relay and WebRTC
 * (no TCP port), and a writer that can dial WebRTC; all three admitted in `members`. The hidden
 * member is not yet linked to the relay (some tests register handlers first): see awaitCircuit.
 */
export async function webrtcTrio(
  policy: () => AccessPolicy,
  members: Set<string>,
): Promise<{ relay: TestNode; hidden: TestNode; writer: TestNode }> {
  const relay = await testNode(policy, { relayServer: true });
  const hidden = await testNode(policy, {
    listen: ['/p2p-circuit', '/webrtc'],
    webrtc: true,
    webrtcBindAddress: '127.0.0.1',
    iceServers: [],
  });
  const writer = await testNode(policy, { webrtc: true, webrtcBindAddress: '127.0.0.1', iceServers: [] });
  for (const n of [relay, hidden, writer]) members.add(n.id);
  return { relay, hidden, writer };
}

/** Links `hidden` to `relay` and waits (bounded) until it announces an address containing `part`. */
export async function awaitCircuit(
  hidden: TestNode,
  relay: TestNode,
  part = '/p2p-circuit/webrtc',
  withinMs = 20_000,
): Promise<void> {
  await hidden.node.dial(relay.node.getMultiaddrs()[0]!);
  const deadline = Date.now() + withinMs;
  while (!hidden.node.getMultiaddrs().some((a) => a.toString().includes(part))) {
    if (Date.now() > deadline) throw new Error(`no ${part} address after ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A policy admitting exactly the given ids (mutable set). */
export function setPolicy(allowed: Set<string>): () => AccessPolicy {
  const p: AccessPolicy = {
    mayConnect: (id) => allowed.has(id),
    mayUse: (id) => allowed.has(id),
    mayRelay: (s) => allowed.has(s),
  };
  return () => p;
}

/**
 * Whether `node` is refused on `protocol` at `addr`: the connection is cut, the stream cannot
 * open, or the answer to a well-formed opening is an error frame / end of stream.
 */
export async function isRefused(
  node: PbLibp2p,
  addr: Multiaddr,
  protocol: string,
  opening: Uint8Array,
): Promise<string> {
  try {
    const conn = await node.dial(addr, { signal: AbortSignal.timeout(10_000) });
    const stream = await conn.newStream(protocol, {
      signal: AbortSignal.timeout(10_000),
      runOnLimitedConnection: true,
    });
    await sendBytes(stream, opening);
    await stream.close().catch(() => undefined); // half-close: a waiting handler sees the end at once
    const reader = new FrameReader(stream, 10_000);
    const m = await reader.readMessage(MAX_MESSAGE_BYTES);
    return `accepted: answer type ${m.type}`;
  } catch (error) {
    return `refused: ${(error as Error).message}`;
  }
}

/**
 * A WebRTC dial under pb's permit, tried up to `attempts` times with a growing pause, as the daemon
 * does (dial.ts): one dial may fail by itself. libp2p gives an address 6 s, and signalling through
 * the relay, ICE, DTLS and SCTP on a loaded machine can take longer; and with both ends in one
 * process, about one re-dial in thirty made right after a close fails once (libdatachannel closes
 * the new peer connection at once). A refusal by the gater is not retried. The error names every
 * attempt and the links both nodes had.
 */
export async function dialWebRTCRetrying(
  node: PbLibp2p,
  addr: Multiaddr,
  attempts = 4,
  attemptTimeoutMs = 20_000,
): Promise<Connection> {
  const failures: string[] = [];
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) await new Promise((r) => setTimeout(r, 500 * 2 ** (attempt - 2)));
    try {
      return await dialWebRTCAddress(node, addr, { signal: AbortSignal.timeout(attemptTimeoutMs) });
    } catch (error) {
      if (/gater/i.test(String(error))) throw error;
      failures.push(`attempt ${attempt}: ${String(error)}; links: ${describeLinks(node)}`);
    }
  }
  throw new Error(`no WebRTC link to ${addr.toString()} in ${attempts} attempts:\n${failures.join('\n')}`);
}

/** The open links of `node`, for an error message: peer, path and status of each. */
function describeLinks(node: PbLibp2p): string {
  const links = node.getConnections().map((c) => {
    const path = isWebRTC(c) ? 'webrtc' : c.limits !== undefined ? 'relayed' : 'direct';
    return `${c.remotePeer.toString().slice(-6)} ${path} ${c.status}`;
  });
  return links.length === 0 ? 'none' : links.join(', ');
}

/**
 * Closes every connection of `node` to `peer` except `keep`. libp2p's close() gives a graceful
 * close one second and then throws without closing (a loaded machine took longer, and the link
 * stayed up for the next test): given ten seconds here, then aborted.
 */
export async function closeLinks(node: PbLibp2p, peer: PeerId, keep?: Connection): Promise<void> {
  for (const c of node.getConnections(peer)) {
    if (c === keep) continue;
    await c.close({ signal: AbortSignal.timeout(10_000) }).catch((error: Error) => c.abort(error));
  }
}
