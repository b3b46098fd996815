/**
 * One stripe from any k of its shards (docs/design.md §10): the start of recovery for each stripe
 * (rebuild-index.ts) and the backup's resume of a stripe written but not committed before a crash
 * (runtime/daemon/backup/backup-journal.ts). The shards fetched are verified (trailer, body hash,
 * agreement), the data area rebuilt, its sealed directory read with the data key, and the shards
 * not present recomputed, their ids checked by construction.
 */

import { sha256OffThread } from '../crypto/hash-thread.ts';
import type { ShardDirectory } from '../store/shard-store.ts';
import { encodeParity, reconstructData } from './erasure.ts';
import { assert, PipelineError } from './errors.ts';
import type { ObjectRow, ShardRow, StripeRow } from './index-db.ts';
import { buildShard, decodeShard, type ShardHeader } from './shard-format.ts';
import { readDirectory } from './stripe-layout.ts';

/**
 * A fetched shard's trailer and body, the body checked against its trailer's hash: on the hash
 * thread when the bytes own their memory (a shard from the network), so that the main thread
 * goes on receiving the stripe's other shards meanwhile; inline otherwise. The bytes given must
 * not be used after the call (their memory may have moved to the hash thread and back).
 */
async function checkedShard(
  bytes: Uint8Array,
): Promise<{ header: ShardHeader; body: Buffer; file: Uint8Array }> {
  const owns =
    !(bytes instanceof Buffer) && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  if (!owns) return { ...decodeShard(bytes, true), file: bytes };
  const length = bytes.byteLength;
  const { header } = decodeShard(bytes, false);
  const hashed = await sha256OffThread(new Uint8Array(bytes.buffer, 0, header.bodyBytes));
  if (hashed.sha256 !== header.bodyHashes[header.index]!.toString('hex'))
    throw new PipelineError(
      'corrupt',
      `shard ${header.index} of stripe ${header.stripeId}: body hash mismatch`,
    );
  const { buffer, byteOffset } = hashed.bytes;
  return {
    header,
    body: Buffer.from(buffer, byteOffset, header.bodyBytes),
    file: new Uint8Array(buffer, byteOffset, length),
  };
}

/** A stripe to recover from whichever of its shards are reachable. */
export interface StripeSource {
  stripeId: string;
  seq: number;
  k: number;
  m: number;
  shardBytes: number;
  /** Shards believed present (at most one per index), fetched in order of index. */
  present: ShardRow[];
  /** The member a shard that is not present belongs on (its row in the index). */
  memberFor: (idx: number) => string;
  /** The body hashes the present shards' trailers must carry (checked when given). */
  bodyHashes?: Buffer[];
  /**
   * The present rows come from a holder's listing, not from downloaded trailers: those not fetched
   * are checked against the shard files rebuilt from the k fetched ones (a row whose id differs is
   * reported and replaced by the rebuilt shard's).
   */
  unverifiedRows?: boolean;
}

export interface RecoveredStripe {
  stripe: StripeRow;
  /** All k+m rows, in index order. */
  shards: ShardRow[];
  objects: ObjectRow[];
  /** The data area (k x shardBytes), verified. */
  area: Buffer;
  /** Shard files that were not among the present ones, rebuilt (ids checked by construction). */
  rebuilt: { idx: number; shardId: string; member: string; bytes: Buffer }[];
  /** Present shards that could not be used: "idx on member: reason". */
  bad: string[];
  /**
   * The k data shards' files, fetched and verified or rebuilt (views of memory the stripe holds
   * anyway): what a recovery keeps on its disk so that its restore need not download them again.
   */
  dataFiles: { shardId: string; bytes: Uint8Array }[];
}

function sameHashes(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  return a.length === b.length && a.every((h, i) => h.equals(b[i]!));
}

/**
 * Recovers one stripe from any k of its present shards: fetches them (data shards first),
 * verifies each (trailer matches the stripe, body matches its hash, all trailers agree),
 * rebuilds the data area, reads its sealed directory (authenticated with the data key) and, when
 * some shards are not present, recomputes them. Throws 'unrecoverable' with fewer than k good.
 */
export async function recoverStripe(
  directory: ShardDirectory,
  dataKey: Uint8Array,
  owner: string,
  source: StripeSource,
): Promise<RecoveredStripe> {
  const { stripeId, k, m, shardBytes } = source;
  const bodies: (Buffer | null)[] = new Array(k + m).fill(null);
  const bad: string[] = [];
  const failed = new Set<number>();
  let reference: ShardHeader | null = null;
  let fileBytes = 0;
  const files: ({ shardId: string; bytes: Uint8Array } | null)[] = new Array(k).fill(null);
  const present = [...source.present].sort((a, b) => a.idx - b.idx);
  const seen = new Set<number>();
  for (const row of present) {
    if (row.idx < 0 || row.idx >= k + m || seen.has(row.idx))
      throw new PipelineError(
        'invalid-argument',
        `stripe ${stripeId}: shard index ${row.idx} twice or out of range`,
      );
    seen.add(row.idx);
  }
  let good = 0;
  let at = 0;
  // Fetch k at a time (data shards first: then no decoding is needed); more only on failures.
  while (good < k && at < present.length) {
    const batch = present.slice(at, at + (k - good));
    at += batch.length;
    await Promise.all(
      batch.map(async (row) => {
        try {
          const bytes = await directory.storeFor(row.member).get(row.shardId);
          const length = bytes.length; // the view is detached once its memory went to be hashed
          const { header, body, file } = await checkedShard(bytes);
          if (
            header.stripeId !== stripeId ||
            header.owner !== owner ||
            header.k !== k ||
            header.m !== m ||
            header.index !== row.idx ||
            header.bodyBytes !== shardBytes
          )
            throw new PipelineError('corrupt', 'its trailer names another stripe or position');
          const expected = reference?.bodyHashes ?? source.bodyHashes;
          if (expected !== undefined && !sameHashes(expected, header.bodyHashes))
            throw new PipelineError('corrupt', "its trailer disagrees with the stripe's other shards");
          reference ??= header;
          fileBytes = length;
          bodies[row.idx] = body; // a view of the verified file: no copy
          if (row.idx < k) files[row.idx] = { shardId: row.shardId, bytes: file };
          good++;
        } catch (error) {
          failed.add(row.idx);
          bad.push(`${row.idx} on ${row.member}: ${(error as Error).message}`);
        }
      }),
    );
  }
  if (good < k || reference === null)
    throw new PipelineError(
      'unrecoverable',
      `stripe ${stripeId}: only ${good} of ${k + m} shards are readable, ${k} are needed`,
    );
  const hashes = (reference as ShardHeader).bodyHashes;
  const area = await reconstructData(k, m, bodies, shardBytes);
  const entries = readDirectory(area, stripeId, dataKey);
  const used = entries.reduce((end, e) => Math.max(end, e.offset + e.sealedBytes), 0);
  const rows = new Map<number, ShardRow>();
  // Present rows that were not fetched (k were enough) are kept as they are; failed ones are not.
  for (const row of present) if (!failed.has(row.idx)) rows.set(row.idx, row);
  const rebuilt: RecoveredStripe['rebuilt'] = [];
  if (rows.size < k + m || source.unverifiedRows === true) {
    const parity = await encodeParity(k, m, area, shardBytes);
    const bodyOf = (i: number): Buffer =>
      i < k
        ? area.subarray(i * shardBytes, (i + 1) * shardBytes)
        : parity.subarray((i - k) * shardBytes, (i - k + 1) * shardBytes);
    // A fetched shard was verified whole (its id) and by its body's hash: its row stands. Every
    // other is rebuilt: its body must hash to its trailer's hash, and its file gives its id. (Each
    // body is hashed once here; checking every body and then building every file hashed the
    // fetched ones twice more: three passes over the data, on the recovery's main thread.)
    for (let i = 0; i < k + m; i++) {
      if (bodies[i] !== null) continue;
      const file = buildShard(stripeId, owner, k, m, i, bodyOf(i), hashes);
      if (!file.bodyHash.equals(hashes[i]!))
        throw new PipelineError(
          'corrupt',
          `stripe ${stripeId}: rebuilt shard ${i} does not match its trailer's hash`,
        );
      if (i < k) files[i] = { shardId: file.id, bytes: file.bytes };
      const row = rows.get(i);
      if (row !== undefined && file.id === row.shardId) continue;
      if (row !== undefined) {
        if (source.unverifiedRows !== true)
          throw new PipelineError(
            'corrupt',
            `stripe ${stripeId}: shard ${i} rebuilds to another id than ${row.shardId}`,
          );
        bad.push(`${i} on ${row.member}: listed as ${row.shardId}, rebuilds to ${file.id}`);
        rows.delete(i);
      }
      const member = source.memberFor(i);
      rebuilt.push({ idx: i, shardId: file.id, member, bytes: file.bytes });
      rows.set(i, { idx: i, shardId: file.id, member, fileBytes: file.bytes.length });
    }
  }
  const shards = [...rows.values()].sort((a, b) => a.idx - b.idx);
  assert(
    shards.length === k + m && shards.every((s, i) => s.idx === i),
    `stripe ${stripeId}: one row per shard`,
  );
  for (const s of shards) if (s.fileBytes === 0) s.fileBytes = fileBytes;
  const dataFiles = files.filter((f) => f !== null);
  assert(dataFiles.length === k, `stripe ${stripeId}: a file for each data shard`);
  return {
    stripe: { seq: source.seq, stripeId, k, m, shardBytes, dataBytes: used, createdMs: 0 },
    shards,
    objects: entries.map((e) => ({ ...e, id: Buffer.from(e.id), stripeSeq: source.seq })),
    area,
    rebuilt,
    bad,
    dataFiles,
  };
}
