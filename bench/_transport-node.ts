/**
 * A node for `pnpm bench transport` on its own thread (as a member runs in its own process):
 * role `relay` (a circuit relay server) or `target` (a member with a pledged store, the shard
 * protocol and the raw baseline protocol, listening on TCP, through the relay and on WebRTC).
 */
import '../runtime/polyfill.ts';
import { randomBytes } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { multiaddr } from '@multiformats/multiaddr';
import { deriveMemberKeys, memberIdFromPublicKey } from '../engine/index.ts';
import type { AccessPolicy } from '../runtime/net/access.ts';
import { sendBytes } from '../runtime/net/framing.ts';
import { libp2pKeyFromSeed } from '../runtime/net/keys.ts';
import { createPbNode } from '../runtime/net/node.ts';
import { serveShards } from '../runtime/net/shard-protocol.ts';
import { PledgedShardStore } from '../runtime/store/pledged-shard-store.ts';

import { RAW_PROTOCOL } from './_transport-raw.ts';

interface Init {
  role: 'relay' | 'target';
  members: string[];
  relayAddr?: string;
  dir?: string;
  pledgeBytes?: number;
}

const init = workerData as Init;
const members = new Set(init.members);
const keys = deriveMemberKeys(randomBytes(32));
members.add(memberIdFromPublicKey(keys.publicKey));
const policy: AccessPolicy = { mayConnect: () => true, mayUse: (p) => members.has(p), mayRelay: () => true };
const node = await createPbNode({
  privateKey: await libp2pKeyFromSeed(keys.signingSeed, keys.publicKey),
  listen:
    init.role === 'relay' ? ['/ip4/127.0.0.1/tcp/0'] : ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit', '/webrtc'],
  relayServer: init.role === 'relay',
  webrtc: init.role === 'target',
  webrtcBindAddress: '127.0.0.1',
  iceServers: [],
  policy: () => policy,
});
if (init.role === 'target') {
  const store = await PledgedShardStore.open(init.dir!, {
    pledgeBytes: init.pledgeBytes!,
    isMember: (id) => members.has(id),
  });
  await serveShards(node, () => policy, store);
  await node.handle(
    RAW_PROTOCOL,
    async (stream) => {
      let n = 0;
      for await (const chunk of stream) n += chunk.byteLength;
      const ack = new Uint8Array(5);
      new DataView(ack.buffer).setUint32(0, 1);
      ack[4] = n & 255;
      await sendBytes(stream, ack);
      await stream.close();
    },
    { runOnLimitedConnection: true },
  );
  await node.dial(multiaddr(init.relayAddr!));
  const deadline = Date.now() + 20_000;
  while (!node.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit')) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
}
parentPort!.postMessage({ id: node.peerId.toString(), addrs: node.getMultiaddrs().map((a) => a.toString()) });
parentPort!.on('message', (m: { members?: string[]; stop?: boolean }) => {
  for (const id of m.members ?? []) members.add(id);
  if (m.stop) void Promise.resolve(node.stop()).then(() => process.exit(0));
});
