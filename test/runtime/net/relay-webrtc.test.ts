/**
 * A member reachable only through a relay stores a 32 MiB shard through it, and again over a
 * WebRTC link signalled through the relay (in-process libp2p nodes on 127.0.0.1; ICE without
 * servers). WebRTC dials are retried with backoff and fall back to the relayed link.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialPreferringWebRTC } from '../../../runtime/net/dial.ts';
import { RemoteShardStore } from '../../../runtime/net/remote-shard-store.ts';
import { serveShards } from '../../../runtime/net/shard-protocol.ts';
import { PledgedShardStore } from '../../../runtime/store/pledged-shard-store.ts';
import { awaitCircuit, closeLinks, setPolicy, type TestNode, webrtcTrio } from './_helpers.ts';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('relayed and WebRTC links', () => {
  let dir: string;
  let relay: TestNode;
  let hidden: TestNode;
  let writer: TestNode;
  let store: PledgedShardStore;
  const members = new Set<string>();

  beforeAll(async () => {
    dir = await fs.mkdtemp(join(tmpdir(), 'pb-relay-'));
    const policy = setPolicy(members);
    // The hidden member listens on no TCP port: only through the relay, and WebRTC.
    ({ relay, hidden, writer } = await webrtcTrio(policy, members));
    store = await PledgedShardStore.open(join(dir, 'hidden'), {
      pledgeBytes: 80 * MiB,
      isMember: (id) => members.has(id),
      durable: false,
    });
    await serveShards(hidden.node, policy, store);
    // Wait for the reservation: the hidden node announces a circuit address.
    await awaitCircuit(hidden, relay, '/p2p-circuit');
  }, 60_000);

  afterAll(async () => {
    await Promise.all([relay, hidden, writer].map((n) => n?.node.stop()));
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('stores a 32 MiB shard through the relay', async () => {
    const circuit = hidden.node
      .getMultiaddrs()
      .find((a) => a.toString().includes('/p2p-circuit') && !a.toString().includes('/webrtc'));
    expect(circuit, 'a relayed address').toBeDefined();
    const conn = await writer.node.dial(circuit!);
    expect(conn.limits, 'a relayed connection carries relay limits').toBeDefined();
    expect(Number(conn.limits?.bytes ?? 0n)).toBeGreaterThanOrEqual(1024 * MiB);
    const bytes = randomBytes(32 * MiB);
    const remote = new RemoteShardStore(writer.node, hidden.id);
    await remote.put(sha(bytes), bytes);
    expect(Buffer.from(await remote.get(sha(bytes))).equals(bytes)).toBe(true);
    await remote.delete(sha(bytes));
  }, 90_000);

  it('stores a 32 MiB shard over WebRTC signalled through the relay (retry, relay fallback)', async () => {
    const webrtcAddr = hidden.node.getMultiaddrs().find((a) => a.toString().includes('/webrtc'));
    expect(webrtcAddr, 'a WebRTC address through the relay').toBeDefined();
    const { connection, transport } = await dialPreferringWebRTC(
      writer.node,
      hidden.node.getMultiaddrs().map((a) => multiaddr(a.toString())),
      {
        attempts: 3,
        attemptTimeoutMs: 15_000,
      },
    );
    expect(transport).toBe('webrtc');
    expect(connection.remoteAddr.toString()).toContain('/webrtc');
    // Only the WebRTC link stays, so the shard cannot take the relayed one.
    await closeLinks(writer.node, hidden.node.peerId, connection);
    const bytes = randomBytes(32 * MiB);
    const remote = new RemoteShardStore(writer.node, hidden.id);
    await remote.put(sha(bytes), bytes);
    expect(Buffer.from(await remote.get(sha(bytes))).equals(bytes)).toBe(true);
    const links = writer.node.getConnections(hidden.node.peerId).map((c) => c.remoteAddr.toString());
    expect(links.length).toBeGreaterThan(0);
    expect(links.every((a) => a.includes('/webrtc'))).toBe(true);
  }, 120_000);
});
