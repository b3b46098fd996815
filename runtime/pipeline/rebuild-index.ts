/**
 * Rebuild the owner's index from the members' shards alone (the start of recovery, DESIGN 10):
 * every shard header names its stripe and owner, every stripe's data area ends with its sealed
 * directory of objects, and snapshot objects carry their time and totals. The scan cache starts
 * empty (the next backup reads every file once, and stores only what is missing).
 */

import { join } from 'node:path';
import { writeFileAtomic } from '../store/atomic-file.ts';
import type { ShardDirectory } from '../store/shard-store.ts';
import { openObject } from './chunk-crypto.ts';
import { reconstructData } from './erasure.ts';
import { PipelineError } from './errors.ts';
import { type IndexDb, KIND_SNAPSHOT, type ShardRow } from './index-db.ts';
import { decodeShard, decodeShardHeader } from './shard-format.ts';
import { encodeHead } from './snapshot.ts';
import { readDirectory } from './stripe-layout.ts';
import { decodeSnapshot } from './tree.ts';

export interface RebuildSummary {
  stripes: number;
  unreadableStripes: string[];
  objects: number;
  snapshots: number;
}

interface FoundStripe {
  stripeId: string;
  seq: number;
  k: number;
  m: number;
  shardBytes: number;
  shards: Map<number, ShardRow>;
}

export async function rebuildIndex(
  index: IndexDb,
  directory: ShardDirectory,
  keys: { dataKey: Uint8Array; chunkIdKey: Uint8Array; signingSeed: Uint8Array; publicKey: Uint8Array },
  owner: string,
  dataDir: string,
): Promise<RebuildSummary> {
  if (index.allStripeSeqs().length > 0 || index.listSnapshots().length > 0) {
    throw new PipelineError(
      'invalid-argument',
      'the index is not empty: rebuild only into a fresh data directory',
    );
  }
  const found = new Map<string, FoundStripe>();
  for (const member of directory.members()) {
    const store = directory.storeFor(member);
    for (const shardId of await store.list()) {
      let bytes: Uint8Array;
      try {
        bytes = await store.get(shardId);
      } catch {
        continue; // corrupt or vanished: another shard of the stripe will do
      }
      let header: ReturnType<typeof decodeShardHeader>['header'];
      try {
        header = decodeShardHeader(bytes).header;
      } catch {
        continue; // not a pb shard we can read
      }
      if (header.owner !== owner) continue;
      const parts = header.stripeId.split('/');
      const seq = Number(parts[1]);
      if (parts.length !== 3 || parts[0] !== owner || !Number.isSafeInteger(seq) || seq < 1) continue;
      let stripe = found.get(header.stripeId);
      if (!stripe) {
        stripe = {
          stripeId: header.stripeId,
          seq,
          k: header.k,
          m: header.m,
          shardBytes: header.bodyBytes,
          shards: new Map(),
        };
        found.set(header.stripeId, stripe);
      }
      stripe.shards.set(header.index, { idx: header.index, shardId, member, fileBytes: bytes.length });
    }
  }
  const summary: RebuildSummary = { stripes: 0, unreadableStripes: [], objects: 0, snapshots: 0 };
  const snapshots: { id: Buffer; timeMs: number; files: number; bytes: number }[] = [];
  for (const stripe of [...found.values()].sort((a, b) => a.seq - b.seq)) {
    const { k, m } = stripe;
    const bodies: (Buffer | null)[] = new Array(k + m).fill(null);
    let good = 0;
    for (let idx = 0; idx < k + m && good < k; idx++) {
      const row = stripe.shards.get(idx);
      if (!row) continue;
      try {
        bodies[idx] = Buffer.from(
          decodeShard(await directory.storeFor(row.member).get(row.shardId), false).body,
        );
        good++;
      } catch {
        // try the next shard
      }
    }
    if (good < k || stripe.shards.size !== k + m) {
      // Missing shard rows would break the index's k+m invariant: report, leave for repair.
      summary.unreadableStripes.push(stripe.stripeId);
      continue;
    }
    const area = await reconstructData(k, m, bodies, stripe.shardBytes);
    const entries = readDirectory(area, stripe.stripeId, keys.dataKey);
    const used = entries.reduce((end, e) => Math.max(end, e.offset + e.sealedBytes), 0);
    index.commitStripe(
      {
        seq: stripe.seq,
        stripeId: stripe.stripeId,
        k,
        m,
        shardBytes: stripe.shardBytes,
        dataBytes: used,
        createdMs: 0,
      },
      [...stripe.shards.values()].sort((a, b) => a.idx - b.idx),
      entries.map((e) => ({ ...e, id: Buffer.from(e.id), stripeSeq: stripe.seq })),
      [],
    );
    for (const e of entries) {
      if (e.kind !== KIND_SNAPSHOT) continue;
      const id = Buffer.from(e.id);
      const plain = openObject(
        keys.dataKey,
        keys.chunkIdKey,
        id,
        area.subarray(e.offset, e.offset + e.sealedBytes),
      );
      const snapshot = decodeSnapshot(plain);
      snapshots.push({ id, timeMs: snapshot.timeMs, files: snapshot.files, bytes: snapshot.bytes });
    }
    summary.stripes++;
    summary.objects += entries.length;
  }
  snapshots.sort((x, y) => x.timeMs - y.timeMs);
  for (const [i, snap] of snapshots.entries()) {
    const head = encodeHead({ owner, headSeq: i + 1, snapshotId: snap.id, timeMs: snap.timeMs }, keys);
    index.addSnapshot(snap, head);
    summary.snapshots++;
  }
  const newest = snapshots.at(-1);
  if (newest) writeFileAtomic(join(dataDir, 'head'), Buffer.from(index.getMeta('head')!, 'base64'));
  return summary;
}
