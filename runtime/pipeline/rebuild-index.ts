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
 * The trailers come from the holders' listings over the network, from each shard's tail on a
 * local disk, else from the whole shard; only the k shards a stripe needs are then read whole.
 * Each stripe is recovered by `recoverStripe` (recover-stripe.ts), RECOVERIES_IN_FLIGHT at once,
 * and committed in stripe order.
 */

import { join } from 'node:path';
import { type PlacementPlan, placeStripe, stripeSeqOf } from '../../engine/index.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import type { ListedShard, ShardDirectory, ShardStore } from '../store/shard-store.ts';
import { openObject } from './chunk-crypto.ts';
import { eachLimit } from './each-limit.ts';
import { assert, PipelineError } from './errors.ts';
import { type IndexDb, KIND_SNAPSHOT, type ShardRow } from './index-db.ts';
import { type RecoveredStripe, recoverStripe } from './recover-stripe.ts';
import { decodeShardHeader, decodeShardTail, MAX_TRAILER_BYTES, type ShardHeader } from './shard-format.ts';
import { encodeHead } from './snapshot.ts';
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
  /**
   * Given each committed stripe's k data shard files (verified or rebuilt), in stripe order and
   * awaited: a recovery keeps them for its restore. Must not throw (a keeper that fails stops
   * keeping; the rebuild goes on).
   */
  keepDataShards?: (files: readonly { shardId: string; bytes: Uint8Array }[]) => Promise<void>;
}

/** Bound on the shards one rebuild looks at (16 M: far beyond a member's pledge). */
const MAX_SHARDS_SEEN = 16 * 1024 * 1024;
const DEFAULT_CONCURRENCY = 8;
/**
 * Stripes recovered at once in step 3 (memory: each holds its data area, k x shard bytes, and
 * the shards it rebuilds: about 16 MiB for 8 MiB stripes).
 */
const RECOVERIES_IN_FLIGHT = 3;

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
  await eachLimit(shards.listed, concurrency, async ({ member, shardId }) => {
    let read: { header: ShardHeader; fileBytes: number } | null;
    try {
      read = await listedTrailer(directory.storeFor(member), shardId);
    } catch {
      read = null;
    }
    // Corrupt, vanished or not a pb shard we can read: another shard of the stripe will do.
    if (read === null) return;
    const { header, fileBytes } = read;
    if (header.owner !== owner || stripeSeqOf(header.stripeId, owner) === null) return;
    const key = `${header.k}/${header.m}/${header.bodyBytes}/${Buffer.concat(header.bodyHashes).toString('hex')}`;
    const shape = { k: header.k, m: header.m, shardBytes: header.bodyBytes, bodyHashes: header.bodyHashes };
    const variant = variantOf(found, header.stripeId, key, shape);
    if (!variant.shards.has(header.index))
      variant.shards.set(header.index, { idx: header.index, shardId, member, fileBytes });
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

/**
 * A listed shard's trailer and file size: from its tail where the store reads tails (a local
 * disk: a few KiB instead of the whole shard, which step 3 reads again for the k it needs), else
 * from the whole shard. Null when it is gone; throws when it is not a pb shard of that size. A
 * tail is unverified (its checksum holds; the file is hashed when step 3 fetches it): a shard
 * step 3 does not fetch is not read at all, as in a rebuild from listings.
 */
async function listedTrailer(
  store: ShardStore,
  shardId: string,
): Promise<{ header: ShardHeader; fileBytes: number } | null> {
  if (store.readTail === undefined) {
    const bytes = await store.get(shardId);
    return { header: decodeShardHeader(bytes).header, fileBytes: bytes.length };
  }
  const read = await store.readTail(shardId, MAX_TRAILER_BYTES);
  if (read === null) return null;
  return { header: decodeShardTail(read.tail, read.fileBytes), fileBytes: read.fileBytes };
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
  const recoveries = new RecoveryWindow(stripes, (stripe) =>
    tryRecover(directory, keys.dataKey, owner, stripe, shards.unreachable, options.plan),
  );
  for (const { stripeId, seq, variant } of stripes) {
    const outcome = await recoveries.next();
    if (outcome instanceof Error) throw outcome;
    if (outcome === null || seqsTaken.has(seq)) {
      summary.unreadableStripes.push(stripeId);
      continue;
    }
    const recovered = outcome;
    seqsTaken.add(seq);
    index.commitStripe(recovered.stripe, recovered.shards, recovered.objects, []);
    await options.keepDataShards?.(recovered.dataFiles);
    snapshots.push(...snapshotsIn(recovered, keys));
    if (variant.shards.size < variant.k + variant.m) summary.incompleteStripes++;
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

/** A stripe of step 3: its id, sequence number and the variant of its shards to recover from. */
interface StripeToRecover {
  stripeId: string;
  seq: number;
  variant: FoundVariant;
}

/**
 * One stripe from any k of its shards: the recovered stripe, null when it cannot be (too few
 * shards, or none good enough), or the error that must stop the rebuild. Never rejects.
 */
async function tryRecover(
  directory: ShardDirectory,
  dataKey: Uint8Array,
  owner: string,
  { stripeId, seq, variant }: StripeToRecover,
  unreachable: ReadonlySet<string>,
  plan: PlacementPlan | undefined,
): Promise<RecoveredStripe | Error | null> {
  const { k, m } = variant;
  if (variant.shards.size < k) return null;
  const present = [...variant.shards.values()];
  try {
    return await recoverStripe(directory, dataKey, owner, {
      stripeId,
      seq,
      k,
      m,
      shardBytes: variant.shardBytes,
      present,
      ...(variant.bodyHashes === undefined ? { unverifiedRows: true } : { bodyHashes: variant.bodyHashes }),
      memberFor: missingMemberHint(stripeId, present, k + m, directory.members(), unreachable, plan),
    });
  } catch (error) {
    if (error instanceof PipelineError && (error.code === 'unrecoverable' || error.code === 'corrupt'))
      return null;
    return error instanceof Error ? error : new Error(String(error));
  }
}

/**
 * The stripes' recoveries, RECOVERIES_IN_FLIGHT at a time, handed out in the stripes' order: the
 * next stripes' shards arrive while one is verified, rebuilt and committed (one at a time left
 * the links idle during each stripe's hashing and parity, and the CPU idle during each fetch).
 */
class RecoveryWindow {
  private readonly started: Promise<RecoveredStripe | Error | null>[] = [];
  private taken = 0;

  constructor(
    private readonly stripes: readonly StripeToRecover[],
    private readonly recover: (stripe: StripeToRecover) => Promise<RecoveredStripe | Error | null>,
  ) {}

  /** The next stripe's outcome, in order; starts the ones after it up to the window. */
  async next(): Promise<RecoveredStripe | Error | null> {
    assert(this.taken < this.stripes.length, 'a recovery is taken once per stripe');
    while (this.started.length < Math.min(this.stripes.length, this.taken + RECOVERIES_IN_FLIGHT))
      this.started.push(this.recover(this.stripes[this.started.length]!));
    const outcome = await this.started[this.taken]!;
    this.started[this.taken++] = Promise.resolve(null); // let the stripe's buffers go
    return outcome;
  }
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
