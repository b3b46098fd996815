/**
 * The measuring member of `pnpm bench transport --testbed`, one process per path (started in its
 * home's namespace by bench/_transport-testbed.ts): `relay` dials the target's relay-circuit
 * address and measures on that link; `webrtc` dials the target's WebRTC address (signalled
 * through the relay) in a process that has no other link to the target yet, and measures on the
 * WebRTC link, or says what the dial gave instead. Init: argv[2] as JSON; answer: one JSON line.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { dialPreferringWebRTC } from '../runtime/net/dial.ts';
import { describeError } from '../runtime/net/errors.ts';
import type { IceServer } from '../runtime/net/node.ts';
import { MiB, makeNode, measure, onlyLink, type PathResult } from './_transport-measure.ts';

export interface WriterInit {
  role: 'writer';
  path: 'relay' | 'webrtc';
  seedHex: string;
  targetId: string;
  targetAddrs: string[];
  iceServers: IceServer[];
  mib: number;
  shardMib: number;
  inFlight: number;
}

export type WriterAnswer = { path: string; result: PathResult } | { path: string; notMeasured: string };

const init = JSON.parse(process.argv[2] ?? '{}') as WriterInit;

async function writerRun(): Promise<WriterAnswer> {
  const members = new Set([init.targetId]);
  const { node } = await makeNode(
    members,
    { listen: ['/ip4/0.0.0.0/tcp/0'], webrtc: true, iceServers: init.iceServers },
    Buffer.from(init.seedHex, 'hex'),
  );
  const target = { id: init.targetId, peerId: peerIdFromString(init.targetId) };
  const addrs = init.targetAddrs.map((a) => multiaddr(a));
  try {
    if (init.path === 'relay') {
      const circuit = addrs.find(
        (a) => a.toString().includes('/p2p-circuit') && !a.toString().includes('/webrtc'),
      );
      if (circuit === undefined)
        return { path: init.path, notMeasured: 'the target has no relay-circuit address' };
      const conn = await node.dial(circuit);
      await onlyLink(node, target, conn);
      return {
        path: init.path,
        result: await measure(node, target, init.mib * MiB, init.inFlight, init.shardMib * MiB),
      };
    }
    const rtc = addrs.filter((a) => a.toString().includes('/webrtc'));
    if (rtc.length === 0) return { path: init.path, notMeasured: 'the target has no WebRTC address' };
    const link = await dialPreferringWebRTC(node, rtc, { attempts: 4, attemptTimeoutMs: 15_000 });
    if (link.transport !== 'webrtc')
      return { path: init.path, notMeasured: `the WebRTC dial answered with a ${link.transport} link` };
    await onlyLink(node, target, link.connection);
    return {
      path: init.path,
      result: await measure(node, target, init.mib * MiB, init.inFlight, init.shardMib * MiB),
    };
  } catch (error) {
    return { path: init.path, notMeasured: describeError(error) };
  } finally {
    await node.stop();
  }
}

process.stdout.write(`${JSON.stringify(await writerRun())}\n`);
process.exit(0);
