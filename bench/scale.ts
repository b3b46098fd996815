/**
 * `pnpm bench scale [--stripes N] [--json]`: what the repair round costs a member of a group of
 * real size, where the idle benchmark's group holds a few shards.
 *
 * A group of eight members holds N stripes of 4+2 (default 100,000: 600,000 shards, 2.4 TB of
 * 4 MiB shards; `--quick` 20,000). Measured in this process, on the real code:
 * - one member's listing (its N*6/8 shards, a served catalog with real shard trailers) asked
 *   over `/pb/shard/1` on loopback, whole and as a list version: time, CPU of both ends, bytes;
 * - the memory those rows keep: decoded as objects, with their strings shared, and in the
 *   columns the repair worker keeps them in (compact-listing.ts);
 * - the memory of all the listings a member keeps: every member's listing of the group's shards
 *   in those columns, stripe ids and owners shared through one pool as the worker shares them
 *   (each row's strings arrive as fresh copies, as decoded), measured on the heap;
 * - status's shard locations over them (this member's shards only), measured the same way;
 * - one full plan (`repairRound`) over those kept listings, and whether the engine lets a quiet
 *   round stand on it (`roundHoldsWhileUnchanged`);
 * From these, a member's share of one core spent on repair rounds at the default 5-minute
 * interval: before list versions (every round lists every other member whole and plans in
 * full) and now, while the group is quiet (a version per member each round, a full plan hourly).
 * Targets: a quiet member's rounds <= 0.2 % of a core (#14's idle target) and the listings kept
 * <= 100 MiB (its RSS target). The listings' rows are synthetic but pass the same decoders.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type GroupState,
  type ListedShard,
  ownerMemberId,
  ownerStripePlan,
  placeStripe,
  repairRound,
  roundHoldsWhileUnchanged,
} from '../engine/index.ts';
import { fullCollector } from '../runtime/daemon/memory-trim.ts';
import { type CompactListing, ListingBuilder } from '../runtime/daemon/shards/compact-listing.ts';
import { CatalogBackend, ShardCatalog } from '../runtime/daemon/shards/shard-catalog.ts';
import { locationsFrom } from '../runtime/daemon/shards/shard-locations.ts';
import { encodeMessage } from '../runtime/net/framing.ts';
import { RemoteShardStore } from '../runtime/net/remote-shard-store.ts';
import { encodeInfo, SHARD_MSG, serveShards } from '../runtime/net/shard-protocol.ts';
import { buildShards } from '../runtime/pipeline/shard-format.ts';
import { PledgedShardStore } from '../runtime/store/pledged-shard-store.ts';
import { StringPool } from '../runtime/string-pool.ts';
import { createOp, idOf, keysOf, Replica, T0, tokenOf } from '../test/engine/group/helpers.ts';
import { setPolicy, testNode } from '../test/runtime/net/_helpers.ts';
import { optionValue } from './_cli-build.ts';
import { type Cell, fmt, formatTable, hasFlag, markdownTable, writeReport } from './report.ts';

const MEMBERS = 8;
const K = 4;
const M = 2;
const INTERVAL_S = 300;
const FULL_PLAN_EVERY_S = 3600;
const DEFAULT_STRIPES = 100_000;
const QUICK_STRIPES = 20_000;
const MiB = 1024 * 1024;
const collector = fullCollector();

/**
 * The live heap and array buffers (typed arrays keep their bytes outside the heap) once what the
 * last step dropped is collected (streams let go of their buffers a tick late).
 */
async function heapMiB(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 50));
  collector.gc?.();
  collector.gc?.();
  await new Promise((resolve) => setTimeout(resolve, 50)); // array buffers are swept after
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  if (process.env.PB_BENCH_SCALE_DEBUG)
    console.error('heap', (heapUsed / MiB).toFixed(1), (arrayBuffers / MiB).toFixed(1));
  return (heapUsed + arrayBuffers) / MiB;
}

/** The heap `fn`'s answer keeps while it is held (a round's inventory and plan). */
async function retainedMiB(fn: () => unknown): Promise<number> {
  const before = await heapMiB();
  const held = fn();
  const mib = (await heapMiB()) - before;
  if (held === undefined) throw new Error('bench scale: nothing to hold');
  return mib;
}

/** CPU seconds (user + system, every thread of this process) and wall ms of `fn`. */
async function timed<T>(fn: () => Promise<T> | T): Promise<{ value: T; ms: number; cpuS: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const c = process.cpuUsage(c0);
  return { value, ms: performance.now() - t0, cpuS: (c.user + c.system) / 1e6 };
}

/** A group of eight members, founded and joined through signed ops as members do. */
function eightMembers(): GroupState {
  const r = new Replica([createOp(1, { ratio: 2, tolerance: M })]);
  for (let c = 2; c <= MEMBERS; c++) {
    const { token, tokenHash } = tokenOf(`scale-${c}`);
    r.act(1, { kind: 'invite', tokenHash, expiresAtMs: T0 + 3600e3 });
    const candidate = new Replica(r.ops);
    candidate.act(c, { kind: 'request', name: `m${c}`, addresses: [], token });
    r.receive(candidate.ops);
    const pending = r.state().pending.find((p) => p.candidate === idOf(c));
    if (pending === undefined) throw new Error(`bench scale: member ${c}'s request did not arrive`);
    r.act(1, { kind: 'approve', candidate: pending.candidate, request: pending.request });
  }
  for (let c = 1; c <= MEMBERS; c++) r.act(c, { kind: 'pledge', pledgeBytes: 4e12 });
  return r.state(T0 + 86400e3);
}

const ownerHex = (n: number): string => Buffer.from(keysOf(n).publicKey).toString('hex');

/** Every member's listing of N stripes placed as the engine places them. */
function groupRows(state: GroupState, stripes: number): Map<string, ListedShard[]> {
  const rows = new Map<string, ListedShard[]>(state.members.map((m) => [m.id, []]));
  for (let o = 1; o <= MEMBERS; o++) {
    const hex = ownerHex(o);
    const plan = ownerStripePlan(state.members, idOf(o), K + M);
    for (let s = 0; s < stripes / MEMBERS; s++) {
      const stripeId = `${hex}/${s}/0`;
      placeStripe(plan, stripeId).forEach((member, index) => {
        const id = createHash('sha256').update(`${stripeId}#${index}`).digest('hex');
        const info = {
          stripeId,
          owner: hex,
          k: K,
          m: M,
          index,
          bodyBytes: 4 * MiB,
          fileBytes: 4 * MiB + 300,
        };
        rows.get(member)!.push({ id, info: { ...info, ageMs: 86400e3 } });
      });
    }
  }
  return rows;
}

/** A fresh copy of `text`, as a decoder hands out (not the generator's shared string). */
const copyOf = (text: string): string => Buffer.from(text, 'latin1').toString('latin1');

/**
 * Every member's listing kept as the repair worker keeps it: in columns, each row's stripe id
 * and owner arriving as a fresh string and shared through one pool. Returns the listings and
 * the heap they keep (the pool included), measured after the rows they came from are dropped.
 */
async function keptListings(
  state: GroupState,
  stripes: number,
): Promise<{
  listings: Map<string, { rows: CompactListing; fresh: true }>;
  keptMiB: number;
  pool: StringPool;
}> {
  const before = await heapMiB();
  const pool = new StringPool(stripes * 2 + MEMBERS);
  const listings = new Map<string, { rows: CompactListing; fresh: true }>();
  for (const [member, rows] of groupRows(state, stripes)) {
    const builder = new ListingBuilder();
    for (const { id, info } of rows) {
      const shared = info && {
        ...info,
        stripeId: pool.intern(copyOf(info.stripeId)),
        owner: pool.intern(copyOf(info.owner)),
      };
      builder.add({ id, info: shared });
    }
    listings.set(member, { rows: builder.finish(), fresh: true });
  }
  return { listings, keptMiB: (await heapMiB()) - before, pool };
}

interface ListingCost {
  rows: number;
  bytes: number;
  listMs: number;
  listCpuS: number;
  versionMs: number;
  versionCpuS: number;
  keptBytesPerRow: number;
  keptSharedBytesPerRow: number;
  keptCompactBytesPerRow: number;
}

/** One member's holdings served from a real catalog and asked over /pb/shard/1 on loopback. */
async function listingCost(rows: number): Promise<ListingCost> {
  const allowed = new Set<string>();
  const dir = fs.mkdtempSync(join(tmpdir(), 'pb-bench-scale-'));
  const [client, holder] = [await testNode(setPolicy(allowed)), await testNode(setPolicy(allowed))];
  allowed.add(client.id).add(holder.id);
  try {
    const store = await PledgedShardStore.open(join(dir, 'store'), { pledgeBytes: 64 * MiB });
    const catalog = new ShardCatalog(store);
    await catalog.load();
    for (let i = 0; i < rows; i++) {
      const stripeId = `${ownerHex(1 + (i % MEMBERS))}/${i}/0`;
      const shard = buildShards(
        stripeId,
        ownerHex(1 + (i % MEMBERS)),
        K,
        M,
        Array.from({ length: 6 }, () => randomBytes(32)),
      )[i % 6]!;
      const id = createHash('sha256').update(`row-${i}`).digest('hex');
      catalog.recordTail(id, shard.bytes, shard.bytes.length, Date.now() - 86400e3);
    }
    await serveShards(
      holder.node,
      setPolicy(allowed),
      new CatalogBackend(store, catalog, async () => undefined),
    );
    await client.node.dial(holder.node.getMultiaddrs()[0]!);
    const remote = new RemoteShardStore(client.node, holder.id);
    await remote.listDetailed(null, { timeoutMs: 120_000 }); // warm-up
    const before = await heapMiB();
    const plain = await timed(() => remote.listDetailed(null, { timeoutMs: 120_000 }));
    const keptBytesPerRow = (((await heapMiB()) - before) * MiB) / rows;
    const strings = new StringPool(rows * 2);
    const before2 = await heapMiB();
    const shared = await remote.listDetailed(null, { timeoutMs: 120_000, intern: strings.intern });
    const keptSharedBytesPerRow = (((await heapMiB()) - before2) * MiB) / rows;
    const pool = new StringPool(rows * 2);
    const before3 = await heapMiB();
    const builder = new ListingBuilder();
    await remote.listEach(null, (row) => builder.add(row), { timeoutMs: 120_000, intern: pool.intern });
    const compact = builder.finish();
    const keptCompactBytesPerRow = (((await heapMiB()) - before3) * MiB) / rows;
    const versions = [];
    for (let i = 0; i < 5; i++) versions.push(await timed(() => remote.listVersion()));
    versions.sort((a, b) => a.cpuS - b.cpuS);
    if (plain.value.length !== rows || shared.length !== rows || compact.length !== rows)
      throw new Error('bench scale: a listing came back short');
    return {
      rows,
      bytes: listingBytes(catalog),
      listMs: plain.ms,
      listCpuS: plain.cpuS,
      versionMs: versions[2]!.ms,
      versionCpuS: versions[2]!.cpuS,
      keptBytesPerRow,
      keptSharedBytesPerRow,
      keptCompactBytesPerRow,
    };
  } finally {
    await Promise.all([client.node.stop(), holder.node.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The heap and time of status's shard locations over the kept listings: this member's shards
 * (as the worker builds them) and, for comparison, every listed shard (as it built them before).
 */
async function locationsCost(
  listings: ReadonlyMap<string, { rows: CompactListing }>,
  self: string,
  nowMs: number,
): Promise<{ mineMiB: number; mineMs: number; mineRows: number; allMiB: number }> {
  const kept = new Map([...listings].map(([member, l]) => [member, { listed: l.rows, askedAtMs: nowMs }]));
  const heapOf = async (keep: (owner: string) => boolean) => {
    const before = await heapMiB();
    const built = await timed(() => locationsFrom(kept, 1, keep));
    const mib = (await heapMiB()) - before;
    return { mib, ms: built.ms, rows: built.value.where.size };
  };
  const mine = await heapOf((owner) => ownerMemberId(owner) === self);
  const all = await heapOf(() => true);
  return { mineMiB: mine.mib, mineMs: mine.ms, mineRows: mine.rows, allMiB: all.mib };
}

/** The bytes of every detailed list page the catalog gives, as the wire frames them. */
function listingBytes(catalog: ShardCatalog): number {
  let after = '';
  let bytes = 0;
  for (;;) {
    const page = catalog.page({ after, limit: 1024, owner: null });
    const rows = page.infos.map(encodeInfo);
    bytes += encodeMessage(SHARD_MSG.listAnswer, [page.ids, page.more ? 1 : 0, rows]).length;
    if (!page.more) return bytes;
    after = page.ids.at(-1)!;
  }
}

export async function run(args: string[]): Promise<void> {
  const quick = hasFlag(args, '--quick');
  const stripes = Number(optionValue(args, '--stripes') ?? (quick ? QUICK_STRIPES : DEFAULT_STRIPES));
  if (!Number.isInteger(stripes) || stripes < MEMBERS || stripes > 1_000_000)
    throw new Error(
      `bench scale: --stripes must be a whole number from ${MEMBERS} to 1000000, got ${stripes}`,
    );
  if (collector.gc === null) throw new Error(`bench scale: no full collection (${collector.problem})`);
  const heldRows = Math.round((stripes * (K + M)) / MEMBERS);
  // The kept listings are measured first, on a heap no network node has touched yet.
  const state = eightMembers();
  const kept = await keptListings(state, stripes);
  const { listings } = kept;
  const ids = state.members.map((m) => m.id);
  const nowMs = T0 + 10 * 86400e3;
  const locations = await locationsCost(listings, ids[1]!, nowMs);
  const fullRound = () =>
    repairRound({
      self: ids[1]!,
      state,
      nowMs,
      listings,
      answered: new Set(ids),
      lastSeenMs: () => nowMs,
      settleMs: 600_000,
      graceMs: 86_400_000,
      maxTasks: 200,
      roomTasks: 200,
      busyStripeIds: new Set(),
    });
  const planRetainedMiB = await retainedMiB(fullRound);
  const plans = [];
  for (let i = 0; i < 3; i++) plans.push(await timed(fullRound));
  plans.sort((a, b) => a.cpuS - b.cpuS);
  const plan = { ms: plans[1]!.ms, cpuS: plans[1]!.cpuS };
  const steady = roundHoldsWhileUnchanged(plans[1]!.value, true);
  plans.length = 0; // the rounds' inventories would weigh on the listing's heap measures
  const listing = await listingCost(heldRows);
  const others = MEMBERS - 1;
  // Each member asks the others and answers the others once a round: both ends of a listing.
  const beforeCpuS = others * listing.listCpuS + plan.cpuS;
  const nowCpuS = others * listing.versionCpuS + (plan.cpuS * INTERVAL_S) / FULL_PLAN_EVERY_S;
  const report = {
    name: 'scale',
    members: MEMBERS,
    code: `${K}+${M}`,
    stripes,
    shards: stripes * (K + M),
    listing: {
      rows: listing.rows,
      mib: fmt(listing.bytes / MiB),
      wholeMs: fmt(listing.listMs, 0),
      wholeCpuS: fmt(listing.listCpuS),
      versionMs: fmt(listing.versionMs),
      versionCpuS: fmt(listing.versionCpuS, 4),
      keptBytesPerRow: fmt(listing.keptBytesPerRow, 0),
      keptSharedBytesPerRow: fmt(listing.keptSharedBytesPerRow, 0),
      keptCompactBytesPerRow: fmt(listing.keptCompactBytesPerRow, 0),
    },
    planMs: fmt(plan.ms, 0),
    planCpuS: fmt(plan.cpuS),
    planNeedsNothing: steady,
    planRetainedMiB: fmt(planRetainedMiB, 0),
    listingsKeptMiB: fmt(kept.keptMiB, 1),
    listingsKeptBytesPerRow: fmt((kept.keptMiB * MiB) / (stripes * (K + M)), 0),
    sharedStrings: kept.pool.size,
    locations: {
      ownShards: locations.mineRows,
      mib: fmt(locations.mineMiB, 1),
      ms: fmt(locations.mineMs, 0),
      everyShardMiB: fmt(locations.allMiB, 1),
    },
    roundsBeforePercent: fmt((100 * beforeCpuS) / INTERVAL_S, 3),
    roundsQuietPercent: fmt((100 * nowCpuS) / INTERVAL_S, 3),
    trafficBeforeMiBPerRound: fmt((others * listing.bytes) / MiB),
    node: process.version,
  };
  const rows: Cell[][] = [
    ['group', `${MEMBERS} members, ${stripes} stripes of ${K}+${M} (${report.shards} shards)`],
    [
      `one member's listing (${listing.rows} rows)`,
      `${report.listing.mib} MiB, ${report.listing.wholeMs} ms, ${report.listing.wholeCpuS} CPU s (both ends)`,
    ],
    ['its list version', `${report.listing.versionMs} ms, ${report.listing.versionCpuS} CPU s`],
    [
      'a kept row',
      `${report.listing.keptBytesPerRow} B decoded, ${report.listing.keptSharedBytesPerRow} B with shared strings, ${report.listing.keptCompactBytesPerRow} B in columns (one listing names each stripe once: nothing shared)`,
    ],
    [
      'one full plan',
      `${report.planMs} ms, ${report.planCpuS} CPU s, ${report.planRetainedMiB} MiB held while it runs (its inventory); a quiet round may stand on it: ${steady}`,
    ],
    [
      'every listing kept (all members, in columns, strings shared)',
      `${report.listingsKeptMiB} MiB: ${report.shards} rows, ${report.listingsKeptBytesPerRow} B a row (target <= 100 MiB)`,
    ],
    [
      "status's shard locations (this member's shards)",
      `${report.locations.mib} MiB, ${report.locations.ownShards} shards, ${report.locations.ms} ms (every listed shard, as before: ${report.locations.everyShardMiB} MiB)`,
    ],
    [
      'repair rounds, % of a core, before',
      `${report.roundsBeforePercent} % (${report.trafficBeforeMiBPerRound} MiB each way a round)`,
    ],
    ['repair rounds, % of a core, quiet now', `${report.roundsQuietPercent} % (target <= 0.2 %)`],
  ];
  const md = `# bench scale\n\n\`pnpm bench scale\`: the repair round of one member of a group of ${MEMBERS} holding ${stripes} stripes (bench/scale.ts).\n\n${markdownTable(['measure', 'value'], rows)}\n\nMachine: 2 cores, shared; Node ${process.version}.\n`;
  writeReport('scale', report, md);
  if (hasFlag(args, '--json')) console.log(JSON.stringify(report));
  else console.log(formatTable(['measure', 'value'], rows));
}
