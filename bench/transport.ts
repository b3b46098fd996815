/**
 * `pnpm bench transport`: shard put and get between two members over direct TCP, a circuit relay,
 * and WebRTC (signalled through the relay), next to a raw libp2p stream on the same link in the
 * same run. MiB/s; target: put and get >= 0.8x the raw stream on each path.
 *
 * The writer runs in this thread, the relay and the target member each on their own worker
 * thread (as members run in their own processes), all on 127.0.0.1. Shards are 32 MiB, stored durably (fsync) in a PledgedShardStore and verified
 * (SHA-256) on both ends, as in the daemon. Options: --mib N (data per measurement, default 128),
 * --json.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Connection, PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { deriveMemberKeys, memberIdFromPublicKey } from '../engine/index.ts';
import type { AccessPolicy } from '../runtime/net/access.ts';
import { dialPreferringWebRTC } from '../runtime/net/dial.ts';
import { FrameReader, SEND_CHUNK_BYTES, sendBytes } from '../runtime/net/framing.ts';
import { libp2pKeyFromSeed } from '../runtime/net/keys.ts';
import { createPbNode, type PbLibp2p, type PbNodeOptions } from '../runtime/net/node.ts';
import { RemoteShardStore } from '../runtime/net/remote-shard-store.ts';
import { RAW_PROTOCOL } from './_transport-raw.ts';
import { type Cell, fmt, formatTable, hasFlag, markdownTable, writeReport } from './report.ts';

const MiB = 1024 * 1024;
const SHARD_BYTES = 32 * MiB;
const CHUNK = SEND_CHUNK_BYTES;
/** Shard requests in flight to the one target (the RemoteShardStore bound); --in-flight N. */
let IN_FLIGHT = 3;

interface PathResult {
  rawMiBs: number;
  putMiBs: number;
  getMiBs: number;
}

export async function makeNode(
  members: Set<string>,
  extra: Partial<PbNodeOptions>,
): Promise<{ node: PbLibp2p; id: string }> {
  const keys = deriveMemberKeys(randomBytes(32));
  const policy: AccessPolicy = {
    mayConnect: () => true,
    mayUse: (p) => members.has(p),
    mayRelay: (s) => members.has(s),
  };
  const node = await createPbNode({
    privateKey: await libp2pKeyFromSeed(keys.signingSeed, keys.publicKey),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    policy: () => policy,
    ...extra,
  });
  const id = memberIdFromPublicKey(keys.publicKey);
  members.add(id);
  return { node, id };
}

/**
 * Raw upload: the writer streams the same shard buffers the puts will send (fresh memory, not one
 * cache-hot chunk) on one stream, in the same 256 KiB pieces; the target counts them and answers
 * one byte at the end.
 */
export async function rawUpload(
  writer: PbLibp2p,
  target: PeerId,
  data: readonly Uint8Array[],
): Promise<number> {
  const stream = await writer.dialProtocol(target, RAW_PROTOCOL, { runOnLimitedConnection: true });
  const t0 = performance.now();
  let bytes = 0;
  for (const shard of data) {
    for (let offset = 0; offset < shard.length; offset += CHUNK) {
      await sendBytes(stream, shard.subarray(offset, Math.min(shard.length, offset + CHUNK)));
    }
    bytes += shard.length;
  }
  await stream.close();
  const reader = new FrameReader(stream, 120_000);
  await reader.readRaw(16, 'ack');
  return bytes / MiB / ((performance.now() - t0) / 1000);
}

interface TargetRef {
  id: string;
  peerId: PeerId;
}

async function measure(writer: PbLibp2p, target: TargetRef, totalBytes: number): Promise<PathResult> {
  const shards = Math.max(1, Math.round(totalBytes / SHARD_BYTES));
  const data = Array.from({ length: shards }, () => randomBytes(SHARD_BYTES));
  const ids = data.map((d) => createHash('sha256').update(d).digest('hex'));
  const remote = new RemoteShardStore(writer, target.id, { maxInFlight: IN_FLIGHT });
  await rawUpload(writer, target.peerId, data.slice(0, 1)); // warm-up
  const rawMiBs = Math.max(
    await rawUpload(writer, target.peerId, data),
    await rawUpload(writer, target.peerId, data),
  );
  let putMiBs = 0;
  let getMiBs = 0;
  // Best of two rounds, as for the raw stream; each round stores, reads back and deletes.
  for (let round = 0; round < 2; round++) {
    let t0 = performance.now();
    await Promise.all(ids.map((id, i) => remote.put(id, data[i]!)));
    putMiBs = Math.max(putMiBs, (shards * SHARD_BYTES) / MiB / ((performance.now() - t0) / 1000));
    t0 = performance.now();
    await Promise.all(ids.map((id) => remote.get(id)));
    getMiBs = Math.max(getMiBs, (shards * SHARD_BYTES) / MiB / ((performance.now() - t0) / 1000));
    for (const id of ids) await remote.delete(id);
  }
  return { rawMiBs: fmt(rawMiBs, 1), putMiBs: fmt(putMiBs, 1), getMiBs: fmt(getMiBs, 1) };
}

export async function onlyLink(writer: PbLibp2p, target: TargetRef, keep: Connection): Promise<void> {
  for (const c of writer.getConnections(target.peerId)) if (c !== keep) await c.close();
}

export function spawnNode(
  data: Record<string, unknown>,
): Promise<{ worker: Worker; id: string; addrs: string[] }> {
  const worker = new Worker(new URL('./_transport-worker.mjs', import.meta.url), { workerData: data });
  return new Promise((resolve, reject) => {
    worker.once('message', (m: { id: string; addrs: string[] }) => resolve({ worker, ...m }));
    worker.once('error', reject);
  });
}

export async function run(args: string[]): Promise<void> {
  const json = hasFlag(args, '--json');
  const mibArg = args.indexOf('--mib');
  const totalBytes = (mibArg >= 0 ? Number(args[mibArg + 1]) : 128) * MiB;
  const inFlightArg = args.indexOf('--in-flight');
  if (inFlightArg >= 0) IN_FLIGHT = Math.max(1, Math.min(16, Number(args[inFlightArg + 1]) || 1));
  const dir = await fs.mkdtemp(join(tmpdir(), 'pb-bench-transport-'));
  const members = new Set<string>();
  const writer = await makeNode(members, { webrtc: true, webrtcBindAddress: '127.0.0.1', iceServers: [] });
  const relay = await spawnNode({ role: 'relay', members: [] });
  const target = await spawnNode({
    role: 'target',
    members: [writer.id, relay.id],
    relayAddr: relay.addrs[0],
    dir: join(dir, 'target'),
    pledgeBytes: totalBytes + 2 * SHARD_BYTES,
  });
  const targetRef = { id: target.id, peerId: peerIdFromString(target.id) };
  const results: Record<string, PathResult> = {};
  const notes: string[] = [];
  try {
    const addrs = target.addrs.map((a) => multiaddr(a));
    const tcpAddr = addrs.find((a) => !a.toString().includes('/p2p-circuit'))!;
    const circuitAddr = addrs.find(
      (a) => a.toString().includes('/p2p-circuit') && !a.toString().includes('/webrtc'),
    );
    if (circuitAddr === undefined) throw new Error('the target got no relay reservation');
    let conn = await writer.node.dial(tcpAddr);
    await onlyLink(writer.node, targetRef, conn);
    results.tcp = await measure(writer.node, targetRef, totalBytes);
    for (const c of writer.node.getConnections(targetRef.peerId)) await c.close();
    conn = await writer.node.dial(circuitAddr);
    await onlyLink(writer.node, targetRef, conn);
    results.relay = await measure(writer.node, targetRef, totalBytes);
    const rtcLink = await dialPreferringWebRTC(
      writer.node,
      addrs.filter((a) => a.toString().includes('/webrtc')),
      { attempts: 4, attemptTimeoutMs: 15_000 },
    );
    // pb dials WebRTC only where no unlimited link exists (a member's granted circuit has no
    // limits, and libp2p answers with it): reported, not measured, when that is what came back.
    if (rtcLink.transport === 'webrtc') {
      await onlyLink(writer.node, targetRef, rtcLink.connection);
      results.webrtc = await measure(writer.node, targetRef, totalBytes);
    } else notes.push(`WebRTC not measured: the dial answered with the open ${rtcLink.transport} link`);
  } finally {
    await writer.node.stop();
    for (const w of [relay.worker, target.worker]) {
      w.postMessage({ stop: true });
      await new Promise((r) => w.once('exit', r));
    }
    await fs.rm(dir, { recursive: true, force: true });
  }
  const columns = ['path', 'raw MiB/s', 'put MiB/s', 'get MiB/s', 'put/raw', 'get/raw'];
  const rows: Cell[][] = Object.entries(results).map(([path, r]) => [
    path,
    r.rawMiBs,
    r.putMiBs,
    r.getMiBs,
    fmt(r.putMiBs / r.rawMiBs),
    fmt(r.getMiBs / r.rawMiBs),
  ]);
  const md = [
    '# Transport benchmark',
    '',
    `Shard put/get (${SHARD_BYTES / MiB} MiB shards, ${totalBytes / MiB} MiB per measurement, fsynced, SHA-256 verified, ${IN_FLIGHT} requests in flight) best of two rounds, against the best of two runs of a raw libp2p stream sending the same buffers on the same link, writer, relay and target each on its own thread, 127.0.0.1. Target: put/get >= 0.8x raw.`,
    '',
    markdownTable(columns, rows),
    ...notes.map((n) => `\n${n}`),
  ].join('\n');
  writeReport('transport', results, md);
  console.log(json ? JSON.stringify(results) : [formatTable(columns, rows), ...notes].join('\n'));
}
