/**
 * A node for `pnpm bench transport` (as a member runs in its own process): role `relay` (a
 * circuit relay server), `target` (a member with a pledged store, the shard protocol and the raw
 * baseline protocol, listening on TCP, through the relay and on WebRTC) or `writer` (the member
 * that measures, bench/_transport-writer.ts). On a worker thread (the loopback run) it talks to
 * its parent by messages; as a process (the namespace testbed run, started by `ip netns exec`) its
 * init is argv[2] as JSON, it answers with one JSON line on stdout and stops on SIGTERM or a
 * `{"stop":true}` line on stdin.
 */
import '../runtime/polyfill.ts';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { parentPort, workerData } from 'node:worker_threads';
import { multiaddr } from '@multiformats/multiaddr';
import { deriveMemberKeys, memberIdFromPublicKey } from '../engine/index.ts';
import type { AccessPolicy } from '../runtime/net/access.ts';
import { sendBytes } from '../runtime/net/framing.ts';
import { libp2pKeyFromSeed } from '../runtime/net/keys.ts';
import { createPbNode, type IceServer } from '../runtime/net/node.ts';
import { serveShards } from '../runtime/net/shard-protocol.ts';
import { PledgedShardStore } from '../runtime/store/pledged-shard-store.ts';
import { RAW_PROTOCOL } from './_transport-raw.ts';

export interface NodeInit {
  role: 'relay' | 'target' | 'writer';
  members: string[];
  relayAddr?: string;
  dir?: string;
  pledgeBytes?: number;
  /** Listen addresses (default: 127.0.0.1, with the relay and WebRTC for a target). */
  listen?: string[];
  iceServers?: IceServer[];
  /** Default 127.0.0.1; null: ICE gathers on every interface (a member behind a router). */
  webrtcBindAddress?: string | null;
  /** The node's 32-byte seed in hex (default: a random identity). */
  seedHex?: string;
}

interface Channel {
  post(m: unknown): void;
  onMessage(fn: (m: { members?: string[]; stop?: boolean }) => void): void;
}

function processChannel(): Channel {
  return {
    post: (m) => process.stdout.write(`${JSON.stringify(m)}\n`),
    onMessage: (fn) => {
      createInterface({ input: process.stdin }).on('line', (line) => {
        if (line.trim() !== '') fn(JSON.parse(line) as { members?: string[]; stop?: boolean });
      });
      process.stdin.once('close', () => fn({ stop: true })); // the bench that started it is gone
      process.once('SIGTERM', () => fn({ stop: true }));
    },
  };
}

const worker = parentPort;
const channel: Channel =
  worker === null
    ? processChannel()
    : { post: (m) => worker.postMessage(m), onMessage: (fn) => worker.on('message', fn) };
const init = (worker === null ? JSON.parse(process.argv[2] ?? '{}') : workerData) as NodeInit;

async function runNode(): Promise<void> {
  const members = new Set(init.members);
  const keys = deriveMemberKeys(
    init.seedHex === undefined ? randomBytes(32) : Buffer.from(init.seedHex, 'hex'),
  );
  members.add(memberIdFromPublicKey(keys.publicKey));
  const policy: AccessPolicy = {
    mayConnect: () => true,
    mayUse: (p) => members.has(p),
    mayRelay: () => true,
  };
  const bind = init.webrtcBindAddress === undefined ? '127.0.0.1' : init.webrtcBindAddress;
  const node = await createPbNode({
    privateKey: await libp2pKeyFromSeed(keys.signingSeed, keys.publicKey),
    listen:
      init.listen ??
      (init.role === 'relay'
        ? ['/ip4/127.0.0.1/tcp/0']
        : ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit', '/webrtc']),
    relayServer: init.role === 'relay',
    webrtc: init.role === 'target',
    ...(bind === null ? {} : { webrtcBindAddress: bind }),
    iceServers: init.iceServers ?? [],
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
    while (
      !node.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit')) &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  channel.post({ id: node.peerId.toString(), addrs: node.getMultiaddrs().map((a) => a.toString()) });
  let stopping = false;
  channel.onMessage((m) => {
    for (const id of m.members ?? []) members.add(id);
    if (m.stop && !stopping) {
      stopping = true;
      void Promise.resolve(node.stop()).then(() => process.exit(0));
    }
  });
}

if (init.role === 'writer') await import('./_transport-writer.ts');
else await runNode();
