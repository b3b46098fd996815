/**
 * Rebuild the owner's index from the members' shards alone (the start of recovery, docs/design.md §10):
 * every shard trailer names its stripe and owner and carries the SHA-256 of all k+m bodies of
 * its stripe, every stripe's data area ends with its sealed directory of objects, and snapshot
 * objects carry their time and totals. The scan cache starts empty (the next backup reads every
 * file once, and stores only what is missing).
 *
 * Members may be offline: a member whose shard list cannot be had is reported
 * (`unreachableMembers`) and the rebuild goes on with the others. A stripe is kept when at least
 * k of its shards are reachable, verified (the store checks SHA-256(file) = id, the body is
 * checked against its trailer's hash) and agree on their trailer (k, m, body length, the k+m body
 * hashes). The index still needs a row for each of the k+m shards: the missing ones are
 * recomputed (Reed-Solomon from the k found, their body hashes checked against the trailers,
 * their ids from the rebuilt shard files) and their member is the placement's (the engine's
 * `placeStripe` over the plan given, when it agrees with where the found shards are), else an
 * unreachable member, else one holding no other shard of the stripe: a hint for reads, which
 * fall back to the other shards when it is wrong.
 *
 * `recoverStripe` (one stripe from any k of its shards) also serves the backup's resume
 * (runtime/daemon/backup/backup-service.ts): a stripe written but not committed before a crash.
 */

import { join } from 'node:path';
import { type PlacementPlan, placeStripe, stripeSeqOf } from '../../engine/index.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import type { ListedShard, ShardDirectory } from '../store/shard-store.ts';
import { openObject } from './chunk-crypto.ts';
import { encodeParity, reconstructData } from './erasure.ts';
import { assert, PipelineError } from './errors.ts';
import { type IndexDb, KIND_SNAPSHOT, type ObjectRow, type ShardRow, type StripeRow } from './index-db.ts';
import { buildShards, decodeShard, decodeShardHeader, type ShardHeader, sha256 } from './shard-format.ts';
import { encodeHead } from './snapshot.ts';
import { readDirectory } from './stripe-layout.ts';
import { decodeSnapshot } from './tree.ts';

export interface RebuildSummary {
  stripes: number;
  unreadableStripes: string[];
  objects: number;
  snapshots: number;
  /** Members whose shard list could not be had (offline): "member: reason". */
  unreachableMembers: string[];
  /** Stripes kept with fewer than k+m shards found (their missing rows recomputed). */
  incompleteStripes: number;
}

export interface RebuildOptions {
  /** The placement plan the stripes were written with (hints where missing shards live). */
  plan?: PlacementPlan;
  /** Shard downloads in flight at once (default 8). */
  concurrency?: number;
  onProgress?: (line: string) => void;
}

/** Bound on the shards one rebuild looks at (16 M: far beyond a member's pledge). */
const MAX_SHARDS_SEEN = 16 * 1024 * 1024;
const DEFAULT_CONCURRENCY = 8;

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
}

function sameHashes(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  return a.length === b.length && a.every((h, i) => h.equals(b[i]!));
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(lanes);
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
          const { header, body } = decodeShard(bytes, true);
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
          fileBytes = bytes.length;
          bodies[row.idx] = Buffer.from(body);
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
    const all: Buffer[] = [];
    for (let i = 0; i < k; i++) all.push(area.subarray(i * shardBytes, (i + 1) * shardBytes));
    for (let i = 0; i < m; i++) all.push(parity.subarray(i * shardBytes, (i + 1) * shardBytes));
    all.forEach((body, i) => {
      if (!sha256(body).equals(hashes[i]!))
        throw new PipelineError(
          'corrupt',
          `stripe ${stripeId}: rebuilt shard ${i} does not match its trailer's hash`,
        );
    });
    const files = buildShards(stripeId, owner, k, m, all);
    for (let i = 0; i < k + m; i++) {
      const row = rows.get(i);
      if (row !== undefined && files[i]!.id === row.shardId) continue;
      if (row !== undefined) {
        if (bodies[i] !== null || source.unverifiedRows !== true)
          throw new PipelineError(
            'corrupt',
            `stripe ${stripeId}: shard ${i} rebuilds to another id than ${row.shardId}`,
          );
        bad.push(`${i} on ${row.member}: listed as ${row.shardId}, rebuilds to ${files[i]!.id}`);
        rows.delete(i);
      }
      const member = source.memberFor(i);
      rebuilt.push({ idx: i, shardId: files[i]!.id, member, bytes: files[i]!.bytes });
      rows.set(i, { idx: i, shardId: files[i]!.id, member, fileBytes: files[i]!.bytes.length });
    }
  }
  const shards = [...rows.values()].sort((a, b) => a.idx - b.idx);
  assert(
    shards.length === k + m && shards.every((s, i) => s.idx === i),
    `stripe ${stripeId}: one row per shard`,
  );
  for (const s of shards) if (s.fileBytes === 0) s.fileBytes = fileBytes;
  return {
    stripe: { seq: source.seq, stripeId, k, m, shardBytes, dataBytes: used, createdMs: 0 },
    shards,
    objects: entries.map((e) => ({ ...e, id: Buffer.from(e.id), stripeSeq: source.seq })),
    area,
    rebuilt,
    bad,
  };
}

interface FoundVariant {
  k: number;
  m: number;
  shardBytes: number;
  /** undefined: from listed trailers (taken from the first verified shard). */
  bodyHashes: Buffer[] | undefined;
  shards: Map<number, ShardRow>;
}

type StripeVariants = Map<string, Map<string, FoundVariant>>;

/** The variant of `stripeId` with this key, made on first sight. */
function variantOf(
  found: StripeVariants,
  stripeId: string,
  key: string,
  shape: Omit<FoundVariant, 'shards'>,
): FoundVariant {
  let variants = found.get(stripeId);
  if (!variants) {
    variants = new Map();
    found.set(stripeId, variants);
  }
  let variant = variants.get(key);
  if (!variant) {
    variant = { ...shape, shards: new Map() };
    variants.set(key, variant);
  }
  return variant;
}

/**
 * Step 1: every reachable member's shard list, with the trailers' fields when the member can list
 * them (a member over the network: no download just to read trailers), else the ids alone.
 */
async function listShards(
  directory: ShardDirectory,
  owner: string,
  summary: RebuildSummary,
  options: RebuildOptions,
): Promise<{
  listed: { member: string; shardId: string }[];
  described: { member: string; shard: ListedShard }[];
  unreachable: Set<string>;
}> {
  const listed: { member: string; shardId: string }[] = [];
  const described: { member: string; shard: ListedShard }[] = [];
  const unreachable = new Set<string>();
  for (const member of directory.members()) {
    const store = directory.storeFor(member);
    try {
      let rows: ListedShard[] | null = null;
      if (store.listOwned !== undefined) rows = await store.listOwned(owner).catch(() => null);
      if (rows !== null) for (const shard of rows) described.push({ member, shard });
      else for (const shardId of await store.list()) listed.push({ member, shardId });
    } catch (error) {
      unreachable.add(member);
      summary.unreachableMembers.push(`${member}: ${(error as Error).message}`);
      options.onProgress?.(`${member} is unreachable (${(error as Error).message}): going on without it`);
    }
    if (listed.length + described.length > MAX_SHARDS_SEEN)
      throw new PipelineError('invalid-argument', `more than ${MAX_SHARDS_SEEN} shards listed`);
  }
  return { listed, described, unreachable };
}

/**
 * Step 2: each shard's trailer (which stripe of this owner, which position, which body hashes).
 * Shards of one stripe that disagree on their trailer are separate variants; the larger wins.
 * Listed trailers are unverified hints: grouped by shape only (no body hashes); the first shard
 * fetched and verified in step 3 becomes the stripe's reference, and every other must agree.
 */
async function groupVariants(
  directory: ShardDirectory,
  owner: string,
  shards: Awaited<ReturnType<typeof listShards>>,
  concurrency: number,
): Promise<StripeVariants> {
  const found: StripeVariants = new Map();
  await forEachLimited(shards.listed, concurrency, async ({ member, shardId }) => {
    let bytes: Uint8Array;
    let header: ShardHeader;
    try {
      bytes = await directory.storeFor(member).get(shardId);
      header = decodeShardHeader(bytes).header;
    } catch {
      return; // corrupt, vanished or not a pb shard we can read: another shard of the stripe will do
    }
    if (header.owner !== owner || stripeSeqOf(header.stripeId, owner) === null) return;
    const key = `${header.k}/${header.m}/${header.bodyBytes}/${Buffer.concat(header.bodyHashes).toString('hex')}`;
    const shape = { k: header.k, m: header.m, shardBytes: header.bodyBytes, bodyHashes: header.bodyHashes };
    const variant = variantOf(found, header.stripeId, key, shape);
    if (!variant.shards.has(header.index))
      variant.shards.set(header.index, { idx: header.index, shardId, member, fileBytes: bytes.length });
  });
  for (const { member, shard } of shards.described) {
    if (stripeSeqOf(shard.stripeId, owner) === null) continue;
    const key = `listed/${shard.k}/${shard.m}/${shard.bodyBytes}`;
    const shape = { k: shard.k, m: shard.m, shardBytes: shard.bodyBytes, bodyHashes: undefined };
    const variant = variantOf(found, shard.stripeId, key, shape);
    // fileBytes 0: recoverStripe fills in the verified size; unfetched rows are checked there.
    if (!variant.shards.has(shard.index))
      variant.shards.set(shard.index, { idx: shard.index, shardId: shard.id, member, fileBytes: 0 });
  }
  return found;
}

/** The snapshots a recovered stripe carries (opened with the data key). */
function snapshotsIn(
  recovered: RecoveredStripe,
  keys: { dataKey: Uint8Array; chunkIdKey: Uint8Array },
): { id: Buffer; timeMs: number; files: number; bytes: number }[] {
  const out: { id: Buffer; timeMs: number; files: number; bytes: number }[] = [];
  for (const e of recovered.objects) {
    if (e.kind !== KIND_SNAPSHOT) continue;
    const sealed = recovered.area.subarray(e.offset, e.offset + e.sealedBytes);
    const snapshot = decodeSnapshot(openObject(keys.dataKey, keys.chunkIdKey, e.id, sealed, e.codec));
    out.push({ id: e.id, timeMs: snapshot.timeMs, files: snapshot.files, bytes: snapshot.bytes });
  }
  return out;
}

export async function rebuildIndex(
  index: IndexDb,
  directory: ShardDirectory,
  keys: { dataKey: Uint8Array; chunkIdKey: Uint8Array; signingSeed: Uint8Array; publicKey: Uint8Array },
  owner: string,
  dataDir: string,
  options: RebuildOptions = {},
): Promise<RebuildSummary> {
  if (index.allStripeSeqs().length > 0 || index.listSnapshots().length > 0) {
    throw new PipelineError(
      'invalid-argument',
      'the index is not empty: rebuild only into a fresh data directory',
    );
  }
  const summary: RebuildSummary = {
    stripes: 0,
    unreadableStripes: [],
    objects: 0,
    snapshots: 0,
    unreachableMembers: [],
    incompleteStripes: 0,
  };
  const shards = await listShards(directory, owner, summary, options);
  const found = await groupVariants(directory, owner, shards, options.concurrency ?? DEFAULT_CONCURRENCY);
  // 3. Each stripe from any k of its shards, in stripe order.
  const snapshots: { id: Buffer; timeMs: number; files: number; bytes: number }[] = [];
  const stripes = [...found.entries()]
    .map(([stripeId, variants]) => {
      const best = [...variants.values()].sort((a, b) => b.shards.size - a.shards.size)[0]!;
      return { stripeId, seq: stripeSeqOf(stripeId, owner)!, variant: best };
    })
    .sort((a, b) => a.seq - b.seq);
  const seqsTaken = new Set<number>();
  for (const { stripeId, seq, variant } of stripes) {
    const { k, m } = variant;
    if (variant.shards.size < k || seqsTaken.has(seq)) {
      summary.unreadableStripes.push(stripeId);
      continue;
    }
    const present = [...variant.shards.values()];
    let recovered: RecoveredStripe;
    try {
      recovered = await recoverStripe(directory, keys.dataKey, owner, {
        stripeId,
        seq,
        k,
        m,
        shardBytes: variant.shardBytes,
        present,
        ...(variant.bodyHashes === undefined ? { unverifiedRows: true } : { bodyHashes: variant.bodyHashes }),
        memberFor: missingMemberHint(
          stripeId,
          present,
          k + m,
          directory.members(),
          shards.unreachable,
          options.plan,
        ),
      });
    } catch (error) {
      if (error instanceof PipelineError && (error.code === 'unrecoverable' || error.code === 'corrupt')) {
        summary.unreadableStripes.push(stripeId);
        continue;
      }
      throw error;
    }
    seqsTaken.add(seq);
    index.commitStripe(recovered.stripe, recovered.shards, recovered.objects, []);
    snapshots.push(...snapshotsIn(recovered, keys));
    if (variant.shards.size < k + m) summary.incompleteStripes++;
    summary.stripes++;
    summary.objects += recovered.objects.length;
  }
  // 4. The snapshots in time order, each with a head; the newest is this data directory's head.
  snapshots.sort((x, y) => x.timeMs - y.timeMs);
  for (const [i, snap] of snapshots.entries()) {
    const head = encodeHead({ owner, headSeq: i + 1, snapshotId: snap.id, timeMs: snap.timeMs }, keys);
    index.addSnapshot(snap, head);
    summary.snapshots++;
  }
  if (snapshots.length > 0)
    writeFileAtomic(join(dataDir, 'head'), Buffer.from(index.getMeta('head')!, 'base64'));
  return summary;
}

/**
 * Where a shard that was not found probably is: the placement's member when the placement agrees
 * with every found shard, else an unreachable member, else any member without a shard of this
 * stripe (a read hint only; reads fall back to the other shards).
 */
function missingMemberHint(
  stripeId: string,
  found: readonly ShardRow[],
  shardsPerStripe: number,
  members: readonly string[],
  unreachable: ReadonlySet<string>,
  plan: PlacementPlan | undefined,
): (idx: number) => string {
  let placed: string[] | null = null;
  if (plan !== undefined && plan.shardsPerStripe === shardsPerStripe) {
    try {
      const p = placeStripe(plan, stripeId);
      if (found.every((row) => p[row.idx] === row.member)) placed = p;
    } catch {
      placed = null;
    }
  }
  const holding = new Set(found.map((r) => r.member));
  const spare = [
    ...members.filter((id) => unreachable.has(id) && !holding.has(id)),
    ...members.filter((id) => !unreachable.has(id) && !holding.has(id)),
  ];
  let next = 0;
  return (idx) => {
    if (placed !== null) return placed[idx]!;
    if (spare.length > 0) return spare[next++ % spare.length]!;
    return found[0]!.member;
  };
}
