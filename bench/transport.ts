/**
 * `pnpm bench transport`: shard put and get between two members over direct TCP, a circuit relay,
 * and WebRTC (signalled through the relay), next to a raw libp2p stream on the same link in the
 * same run. MiB/s; target: put and get >= 0.8x the raw stream on each path.
 *
 * All nodes run in this process on 127.0.0.1 (they share the machine's cores, as the raw
 * baseline does). Shards are 32 MiB, stored durably (fsync) in a PledgedShardStore and verified
 * (SHA-256) on both ends, as in the daemon. Options: --mib N (data per measurement, default 128),
 * --json.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from '@libp2p/interface';
import { deriveMemberKeys, memberIdFromPublicKey } from '../engine/index.ts';
import type { AccessPolicy } from '../runtime/net/access.ts';
import { dialPreferringWebRTC } from '../runtime/net/dial.ts';
import { FrameReader, sendBytes } from '../runtime/net/framing.ts';
import { libp2pKeyFromSeed } from '../runtime/net/keys.ts';
import { createPbNode, type PbLibp2p, type PbNodeOptions } from '../runtime/net/node.ts';
import { RemoteShardStore } from '../runtime/net/remote-shard-store.ts';
import { serveShards } from '../runtime/net/shard-protocol.ts';
import { PledgedShardStore } from '../runtime/store/pledged-shard-store.ts';
import { type Cell, fmt, formatTable, hasFlag, markdownTable, writeReport } from './report.ts';

const MiB = 1024 * 1024;
const SHARD_BYTES = 32 * MiB;
const RAW_PROTOCOL = '/pb/bench-raw/1';
const CHUNK = 256 * 1024;
/** Shard requests in flight to the one target (the RemoteShardStore bound). */
const IN_FLIGHT = 3;

interface PathResult {
  rawMiBs: number;
  putMiBs: number;
  getMiBs: number;
}

async function makeNode(
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

/** Raw upload: the writer streams `bytes` on a fresh stream; the target answers one byte at the end. */
async function rawUpload(writer: PbLibp2p, target: PbLibp2p, bytes: number): Promise<number> {
  const chunk = randomBytes(CHUNK);
  const stream = await writer.dialProtocol(target.peerId, RAW_PROTOCOL, { runOnLimitedConnection: true });
  const t0 = performance.now();
  for (let sent = 0; sent < bytes; sent += CHUNK) await sendBytes(stream, chunk);
  await stream.close();
  const reader = new FrameReader(stream, 120_000);
  await reader.readRaw(16, 'ack');
  return bytes / MiB / ((performance.now() - t0) / 1000);
}

async function serveRaw(target: PbLibp2p): Promise<void> {
  await target.handle(
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
}

async function measure(
  writer: PbLibp2p,
  target: { node: PbLibp2p; id: string },
  store: PledgedShardStore,
  totalBytes: number,
): Promise<PathResult> {
  const shards = Math.max(1, Math.round(totalBytes / SHARD_BYTES));
  const data = Array.from({ length: shards }, () => randomBytes(SHARD_BYTES));
  const ids = data.map((d) => createHash('sha256').update(d).digest('hex'));
  const remote = new RemoteShardStore(writer, target.id, { maxInFlight: IN_FLIGHT });
  await rawUpload(writer, target.node, SHARD_BYTES); // warm-up
  const rawMiBs = Math.max(
    await rawUpload(writer, target.node, shards * SHARD_BYTES),
    await rawUpload(writer, target.node, shards * SHARD_BYTES),
  );
  let t0 = performance.now();
  await Promise.all(ids.map((id, i) => remote.put(id, data[i]!)));
  const putMiBs = (shards * SHARD_BYTES) / MiB / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  await Promise.all(ids.map((id) => remote.get(id)));
  const getMiBs = (shards * SHARD_BYTES) / MiB / ((performance.now() - t0) / 1000);
  for (const id of ids) await store.delete(id);
  return { rawMiBs: fmt(rawMiBs, 1), putMiBs: fmt(putMiBs, 1), getMiBs: fmt(getMiBs, 1) };
}

async function onlyLink(writer: PbLibp2p, target: PbLibp2p, keep: Connection): Promise<void> {
  for (const c of writer.getConnections(target.peerId)) if (c !== keep) await c.close();
}

export async function run(args: string[]): Promise<void> {
  const json = hasFlag(args, '--json');
  const mibArg = args.indexOf('--mib');
  const totalBytes = (mibArg >= 0 ? Number(args[mibArg + 1]) : 128) * MiB;
  const dir = await fs.mkdtemp(join(tmpdir(), 'pb-bench-transport-'));
  const members = new Set<string>();
  const rtc = { webrtc: true, webrtcBindAddress: '127.0.0.1', iceServers: [] };
  const relay = await makeNode(members, { relayServer: true });
  const target = await makeNode(members, {
    listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit', '/webrtc'],
    ...rtc,
  });
  const writer = await makeNode(members, rtc);
  const store = await PledgedShardStore.open(join(dir, 'target'), {
    pledgeBytes: totalBytes + 2 * SHARD_BYTES,
    isMember: (id) => members.has(id),
  });
  await serveShards(
    target.node,
    () => ({ mayConnect: () => true, mayUse: (p) => members.has(p), mayRelay: () => true }),
    store,
  );
  await serveRaw(target.node);
  const results: Record<string, PathResult> = {};
  try {
    await target.node.dial(relay.node.getMultiaddrs()[0]!);
    const deadline = Date.now() + 20_000;
    while (
      !target.node.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit')) &&
      Date.now() < deadline
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const addrs = target.node.getMultiaddrs();
    const tcpAddr = addrs.find((a) => !a.toString().includes('/p2p-circuit'))!;
    const circuitAddr = addrs.find(
      (a) => a.toString().includes('/p2p-circuit') && !a.toString().includes('/webrtc'),
    )!;
    let conn = await writer.node.dial(tcpAddr);
    await onlyLink(writer.node, target.node, conn);
    results.tcp = await measure(writer.node, target, store, totalBytes);
    for (const c of writer.node.getConnections(target.node.peerId)) await c.close();
    conn = await writer.node.dial(circuitAddr);
    await onlyLink(writer.node, target.node, conn);
    results.relay = await measure(writer.node, target, store, totalBytes);
    const rtcLink = await dialPreferringWebRTC(
      writer.node,
      addrs.filter((a) => a.toString().includes('/webrtc')),
      { attempts: 4, attemptTimeoutMs: 15_000 },
    );
    if (rtcLink.transport !== 'webrtc') throw new Error('no WebRTC link');
    await onlyLink(writer.node, target.node, rtcLink.connection);
    results.webrtc = await measure(writer.node, target, store, totalBytes);
  } finally {
    await Promise.all([relay, target, writer].map((n) => n.node.stop()));
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
    `Shard put/get (${SHARD_BYTES / MiB} MiB shards, ${totalBytes / MiB} MiB per measurement, fsynced, SHA-256 verified, ${IN_FLIGHT} requests in flight) against the best of two runs of a raw libp2p stream on the same link, in-process nodes on 127.0.0.1. Target: put/get >= 0.8x raw.`,
    '',
    markdownTable(columns, rows),
  ].join('\n');
  writeReport('transport', results, md);
  console.log(json ? JSON.stringify(results) : formatTable(columns, rows));
}
