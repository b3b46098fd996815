/**
 * The measurements of `pnpm bench transport`, shared by the loopback run (bench/transport.ts) and
 * the writer process of the namespace testbed run (bench/_transport-writer.ts): a raw libp2p
 * stream and shard put/get on one link, to one target.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Connection, PeerId } from '@libp2p/interface';
import { deriveMemberKeys, memberIdFromPublicKey } from '../engine/index.ts';
import type { AccessPolicy } from '../runtime/net/access.ts';
import { FrameReader, SEND_CHUNK_BYTES, sendBytes } from '../runtime/net/framing.ts';
import { libp2pKeyFromSeed } from '../runtime/net/keys.ts';
import { createPbNode, type PbLibp2p, type PbNodeOptions } from '../runtime/net/node.ts';
import { RemoteShardStore } from '../runtime/net/remote-shard-store.ts';
import { RAW_PROTOCOL } from './_transport-raw.ts';
import { fmt } from './report.ts';

export const MiB = 1024 * 1024;
export const SHARD_BYTES = 32 * MiB;
const CHUNK = SEND_CHUNK_BYTES;

export interface PathResult {
  rawMiBs: number;
  putMiBs: number;
  getMiBs: number;
}

export interface TargetRef {
  id: string;
  peerId: PeerId;
}

/** The member id (= libp2p peer id) a bench node started from `seed` gets. */
export function benchMemberId(seed: Uint8Array): string {
  return memberIdFromPublicKey(deriveMemberKeys(seed).publicKey);
}

export async function makeNode(
  members: Set<string>,
  extra: Partial<PbNodeOptions>,
  seed: Uint8Array = randomBytes(32),
): Promise<{ node: PbLibp2p; id: string }> {
  const keys = deriveMemberKeys(seed);
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

/**
 * The raw stream (best of two, after a one-shard warm-up), then put and get of `totalBytes` in
 * `shardBytes` shards with `inFlight` requests in flight (best of two rounds; each round stores,
 * reads back and deletes). MiB/s.
 */
export async function measure(
  writer: PbLibp2p,
  target: TargetRef,
  totalBytes: number,
  inFlight: number,
  shardBytes = SHARD_BYTES,
): Promise<PathResult> {
  const shards = Math.max(1, Math.round(totalBytes / shardBytes));
  const data = Array.from({ length: shards }, () => randomBytes(shardBytes));
  const ids = data.map((d) => createHash('sha256').update(d).digest('hex'));
  const remote = new RemoteShardStore(writer, target.id, { maxInFlight: inFlight });
  await rawUpload(writer, target.peerId, data.slice(0, 1)); // warm-up
  const rawMiBs = Math.max(
    await rawUpload(writer, target.peerId, data),
    await rawUpload(writer, target.peerId, data),
  );
  let putMiBs = 0;
  let getMiBs = 0;
  for (let round = 0; round < 2; round++) {
    let t0 = performance.now();
    await Promise.all(ids.map((id, i) => remote.put(id, data[i]!)));
    putMiBs = Math.max(putMiBs, (shards * shardBytes) / MiB / ((performance.now() - t0) / 1000));
    t0 = performance.now();
    await Promise.all(ids.map((id) => remote.get(id)));
    getMiBs = Math.max(getMiBs, (shards * shardBytes) / MiB / ((performance.now() - t0) / 1000));
    for (const id of ids) await remote.delete(id);
  }
  return { rawMiBs: fmt(rawMiBs, 1), putMiBs: fmt(putMiBs, 1), getMiBs: fmt(getMiBs, 1) };
}

/** Closes every other connection of `writer` to the target, so the measurement uses `keep`. */
export async function onlyLink(writer: PbLibp2p, target: TargetRef, keep: Connection): Promise<void> {
  for (const c of writer.getConnections(target.peerId)) if (c !== keep) await c.close();
}
