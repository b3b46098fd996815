/**
 * The repair worker (docs/design.md §9).
 *
 * Unit level: who may delete a shard (the engine's rule, the holder's catalog backend, and the
 * same over /pb/shard/1 between two libp2p nodes); the detailed, owner-filtered, paged listing;
 * the bandwidth bucket.
 *
 * Real processes (five pb-node daemons on 127.0.0.1): a holder offline for less than the grace
 * period causes no repair traffic; a holder whose disk died and who was removed is repaired
 * around while the owner is stopped, until every stripe has k+m shards on current members and
 * the engine's exposure for the owner is zero; the owner then restores bit-identical.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeShardDelete,
  buildInventory,
  deriveMemberKeys,
  exposure,
  type GroupState,
  type ListedShard,
  type MemberListing,
  memberIdFromPublicKey,
  ownerStripePlan,
  placeStripe,
  planRepairs,
} from '../../../engine/index.ts';
import { deleteCheck } from '../../../runtime/daemon/shards/delete-check.ts';
import { CatalogBackend, ShardCatalog } from '../../../runtime/daemon/shards/shard-catalog.ts';
import { TokenBucket } from '../../../runtime/daemon/upload/token-bucket.ts';
import { RemoteShardStore } from '../../../runtime/net/remote-shard-store.ts';
import { serveShards } from '../../../runtime/net/shard-protocol.ts';
import { buildShards, decodeShardHeader } from '../../../runtime/pipeline/shard-format.ts';
import { PledgedShardStore } from '../../../runtime/store/pledged-shard-store.ts';
import { setPolicy, type TestNode, testNode } from '../net/_helpers.ts';
import { cli, initNode, type Proc, waitFor } from './_cluster.ts';
import { type DiskShard, shardsOnDisk } from './_group.ts';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function identity(n: number): { id: string; hex: string } {
  const keys = deriveMemberKeys(new Uint8Array(32).fill(n));
  return { id: memberIdFromPublicKey(keys.publicKey), hex: Buffer.from(keys.publicKey).toString('hex') };
}

/** A real pb stripe (k=2, m=1) of `owner`: its three shard files. */
function stripeFiles(ownerHex: string, stripeId: string): { id: string; bytes: Buffer }[] {
  const body = 4096;
  const bodies = [randomBytes(body), randomBytes(body), Buffer.alloc(body)];
  for (let i = 0; i < body; i++) bodies[2]![i] = bodies[0]![i]! ^ bodies[1]![i]!; // not RS: enough for the trailer
  return buildShards(stripeId, ownerHex, 2, 1, bodies);
}

describe('who may delete a shard', () => {
  const owner = identity(1);
  const holders = [2, 3, 4, 5].map(identity);
  const stranger = identity(9);
  const members = [owner, ...holders].map((m) => ({ id: m.id, pledgeBytes: 64 * MiB }));
  // A stripe id whose placement (3 of the 4 holders) leaves one holder out.
  const stripeId = `${owner.hex}/1/0`;
  const placement = placeStripe(ownerStripePlan(members, owner.id, 3), stripeId);
  const outside = holders.find((h) => !placement.includes(h.id))!;
  const inside = holders.filter((h) => placement.includes(h.id));

  it('the engine: the owner, or a planned migration to a placement member; nobody else', () => {
    expect(placement).toHaveLength(3);
    const base = { holder: outside.id, owner: owner.id, stripeId, shardsPerStripe: 3, members };
    expect(authorizeShardDelete({ ...base, requester: owner.id, newHolder: null })).toEqual({
      allowed: true,
      as: 'owner',
    });
    expect(authorizeShardDelete({ ...base, requester: inside[0]!.id, newHolder: inside[0]!.id })).toEqual({
      allowed: true,
      as: 'migration',
      confirmWith: inside[0]!.id,
    });
    const refused = (v: ReturnType<typeof authorizeShardDelete>): string =>
      v.allowed ? 'allowed' : v.reason;
    expect(refused(authorizeShardDelete({ ...base, requester: inside[0]!.id, newHolder: null }))).toMatch(
      /only the shard’s owner/,
    );
    expect(
      refused(authorizeShardDelete({ ...base, requester: stranger.id, newHolder: inside[0]!.id })),
    ).toMatch(/not a current member/);
    // The holder is in the placement: its copy stays, whoever is named.
    expect(
      refused(
        authorizeShardDelete({
          ...base,
          holder: inside[1]!.id,
          requester: inside[0]!.id,
          newHolder: outside.id,
        }),
      ),
    ).toMatch(/its copy stays/);
    // The named new holder is not in the placement.
    expect(
      refused(
        authorizeShardDelete({
          ...base,
          holder: inside[1]!.id,
          members: members.filter((m) => m.id !== outside.id).concat({ id: outside.id, pledgeBytes: 0 }),
          requester: outside.id,
          newHolder: outside.id,
        }),
      ),
    ).not.toBe('allowed');
    expect(refused(authorizeShardDelete({ ...base, requester: outside.id, newHolder: outside.id }))).toMatch(
      /this holder itself/,
    );
  });

  describe('on the holder (catalog backend over a real store)', () => {
    let dir: string;
    let backend: CatalogBackend;
    let hasAnswer = false;

    beforeAll(async () => {
      dir = fs.mkdtempSync(join(tmpdir(), 'pb-delete-'));
      const store = await PledgedShardStore.open(join(dir, 'store'), { pledgeBytes: 8 * MiB });
      const state = { members } as unknown as GroupState; // deleteCheck reads only the members
      backend = new CatalogBackend(
        store,
        new ShardCatalog(store),
        deleteCheck({ self: outside.id, group: () => state, memberHas: async () => hasAnswer }),
      );
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('refuses a non-owner, non-planned delete with its reason; allows the owner and a confirmed migration', async () => {
      const [s0, s1, s2] = stripeFiles(owner.hex, stripeId);
      for (const s of [s0!, s1!, s2!]) await backend.putFrom(owner.id, s.id, s.bytes);
      const member = inside[0]!.id;
      await expect(backend.deleteFrom(member, s0!.id, null)).rejects.toThrow(
        /delete of shard .* refused: only the shard’s owner/,
      );
      await expect(backend.deleteFrom(stranger.id, s0!.id, null)).rejects.toThrow(/not a current member/);
      hasAnswer = false;
      await expect(backend.deleteFrom(member, s0!.id, member)).rejects.toThrow(/does not hold it/);
      expect(await backend.has(s0!.id)).toBe(true);
      hasAnswer = true;
      await backend.deleteFrom(member, s0!.id, member);
      expect(await backend.has(s0!.id)).toBe(false);
      await backend.deleteFrom(owner.id, s1!.id, null);
      expect(await backend.has(s1!.id)).toBe(false);
      // Absent: not an error. A shard without a pb trailer belongs to nobody: any member may delete it.
      await backend.deleteFrom(member, s1!.id, null);
      const junk = randomBytes(1000);
      await backend.putFrom(member, sha(junk), junk);
      await backend.deleteFrom(inside[1]!.id, sha(junk), null);
      expect(await backend.has(sha(junk))).toBe(false);
      expect(await backend.has(s2!.id)).toBe(true);
      // The catalog follows: what is left, with its details.
      const page = await backend.listPage({ after: '', limit: 10, owner: null });
      expect(page.ids).toEqual([s2!.id]);
      expect(page.infos[0]).toMatchObject({ stripeId, owner: owner.hex, k: 2, m: 1, index: 2 });
    });
  });

  describe('over /pb/shard/1', () => {
    let dir: string;
    let server: TestNode;
    let client: TestNode;
    let store: PledgedShardStore;
    const allowed = new Set<string>();

    beforeAll(async () => {
      dir = fs.mkdtempSync(join(tmpdir(), 'pb-delete-net-'));
      server = await testNode(setPolicy(allowed));
      client = await testNode(setPolicy(allowed));
      allowed.add(client.id);
      allowed.add(server.id);
      store = await PledgedShardStore.open(join(dir, 'store'), { pledgeBytes: 64 * MiB });
      const state = {
        members: [server.id, client.id, ...holders.map((h) => h.id)].map((id) => ({
          id,
          pledgeBytes: 64 * MiB,
        })),
      } as unknown as GroupState;
      const backend = new CatalogBackend(
        store,
        new ShardCatalog(store),
        deleteCheck({ self: server.id, group: () => state, memberHas: async () => true }),
      );
      await serveShards(server.node, setPolicy(allowed), backend);
      await client.node.dial(server.node.getMultiaddrs()[0]!);
    });
    afterAll(async () => {
      await Promise.all([server.node.stop(), client.node.stop()]);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('a member that is not the owner cannot delete; the listing filters by owner, pages and details', async () => {
      const remote = new RemoteShardStore(client.node, server.id);
      const ownerA = identity(11);
      const ownerB = identity(12);
      const files = [
        ...stripeFiles(ownerA.hex, `${ownerA.hex}/1/0`),
        ...stripeFiles(ownerA.hex, `${ownerA.hex}/2/1`),
        ...stripeFiles(ownerB.hex, `${ownerB.hex}/1/0`),
      ];
      for (const f of files) await remote.put(f.id, f.bytes);
      const err = await remote.delete(files[0]!.id).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toMatch(/^unauthorized: .*delete of shard .* refused: only the shard’s owner/);
      expect(await remote.has(files[0]!.id)).toBe(true);
      // A migration naming a holder outside the stripe's placement is refused too.
      const notPlaced = await remote
        .deleteMigrated(files[0]!.id, ownerB.id)
        .catch((e: unknown) => e as Error);
      expect(String(notPlaced)).toMatch(/not a current member|not in the placement/);
      const mine = await remote.listDetailed(ownerA.hex);
      expect(mine.map((r) => r.id).sort()).toEqual(
        files
          .slice(0, 6)
          .map((f) => f.id)
          .sort(),
      );
      expect(mine.every((r) => r.info?.owner === ownerA.hex && r.info.k === 2 && r.info.m === 1)).toBe(true);
      const all = await remote.listDetailed();
      expect(all).toHaveLength(9);
      expect(all.map((r) => decodeShardHeader(files.find((f) => f.id === r.id)!.bytes).header.index)).toEqual(
        all.map((r) => r.info!.index),
      );
      expect(await remote.list()).toEqual(all.map((r) => r.id));
    });
  });
});

describe('the planner’s input from the listings', () => {
  const owner = identity(21);
  const hs = [22, 23, 24, 25].map(identity);
  const members = [owner, ...hs].map((m) => ({ id: m.id, pledgeBytes: 64 * MiB }));
  const state = { members, removed: [] } as unknown as GroupState; // buildInventory reads these two
  const stripeId = `${owner.hex}/1/0`;
  const placement = placeStripe(ownerStripePlan(members, owner.id, 3), stripeId);
  const row = (index: number, ageMs = 3_600_000): ListedShard => ({
    id: sha(Buffer.from(`${stripeId}#${index}`)),
    info: { stripeId, owner: owner.hex, k: 2, m: 1, index, bodyBytes: 4096, fileBytes: 4500, ageMs },
  });
  const nowMs = 10_000_000;
  const plan = (inv: ReturnType<typeof buildInventory>, graceMs: number) =>
    planRepairs({
      members: inv.members,
      stripes: inv.stripes,
      plans: inv.plans,
      nowMs,
      graceMs,
      onlineWindowMs: 0,
      busyStripeIds: inv.settlingIds,
    });

  it('a silent holder is presumed to hold its shard: no repair within the grace period, a repair after it', () => {
    const [a, b, c] = placement as [string, string, string];
    const free = hs.map((h) => h.id).find((id) => !placement.includes(id))!;
    const listings = new Map<string, MemberListing>([
      [a, { rows: [row(0)], fresh: true }],
      [b, { rows: [row(1)], fresh: true }],
      [free, { rows: [], fresh: true }],
    ]);
    // c never answered; it was last seen 30 s ago.
    const input = { self: a, state, nowMs, listings, lastSeenMs: () => nowMs - 30_000, settleMs: 60_000 };
    const inv = buildInventory(input);
    expect(inv.stripes[0]!.holders).toEqual([a, b, c]);
    expect(inv.skipped.presumedShards).toBe(1);
    expect(plan(inv, 60_000)).toMatchObject({ repairs: [], migrations: [] });
    // Beyond the grace period c is lost: one repair, by an online holder, onto the free member.
    const late = plan(inv, 10_000);
    expect(late.repairs).toHaveLength(1);
    expect([a, b]).toContain(late.repairs[0]!.repairer);
    expect(late.repairs[0]!.moves).toEqual([{ shardIndex: 2, to: free }]);
  });

  it('a fresh shard settles first; rows that disagree, the owner’s own and double indices are cleaned', () => {
    const [a, b, c] = placement as [string, string, string];
    const odd: ListedShard = { id: 'f'.repeat(64), info: { ...row(2).info!, k: 3 } };
    const listings = new Map<string, MemberListing>([
      [a, { rows: [row(0, 5)], fresh: true }],
      [b, { rows: [row(1), odd], fresh: true }],
      [c, { rows: [row(2)], fresh: true }],
      [owner.id, { rows: [row(1)], fresh: true }],
    ]);
    const inv = buildInventory({ self: a, state, nowMs, listings, lastSeenMs: () => 0, settleMs: 60_000 });
    expect(inv.settlingIds.has(stripeId)).toBe(true);
    expect(inv.skipped.inconsistentRows).toBe(2); // the k=3 row and the owner's own
    expect(inv.stripes[0]!.holders).toEqual([a, b, c]);
    expect(plan(inv, 60_000).counts.busy).toBe(1);
  });
});

describe('the bandwidth bucket', () => {
  it('holds the average rate, lets a transfer larger than the bucket through, serves in order', async () => {
    let now = 0;
    const slept: number[] = [];
    const clock = {
      now: () => now,
      sleep: async (ms: number) => {
        slept.push(ms);
        now += ms;
      },
    };
    const bucket = new TokenBucket(1000, clock);
    await bucket.take(1000); // the full bucket
    expect(now).toBe(0);
    await bucket.take(500);
    expect(now).toBe(500);
    await bucket.take(5000); // larger than the bucket: waits for a full bucket, then borrows
    expect(now).toBe(1500);
    await bucket.take(1000); // pays the debt first
    expect(now).toBe(6500);
    expect(slept.every((ms) => ms > 0)).toBe(true);
    await new TokenBucket(0, clock).take(10 ** 9); // no cap
    expect(now).toBe(6500);
  });
});

/** Every regular file under `root`: relative path, mode and content hash. */
function manifest(root: string): { path: string; mode: number; sha256: string }[] {
  const out: { path: string; mode: number; sha256: string }[] = [];
  const walk = (abs: string): void => {
    for (const name of fs.readdirSync(abs).sort()) {
      const p = join(abs, name);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile())
        out.push({ path: relative(root, p), mode: st.mode & 0o7777, sha256: sha(fs.readFileSync(p)) });
    }
  };
  walk(root);
  return out;
}

interface RepairStatusView {
  repairsDone: number;
  migrationsDone: number;
  shardsMoved: number;
  bytesMoved: number;
  failedTasks: number;
  rounds: number;
  steadyRounds: number;
  queued: number;
  running: number;
  lastPlan: {
    stripes: number;
    needRepair: number;
    needMigration: number;
    settling: number;
    exposedBytes: number;
  } | null;
}

interface RoundView {
  answered: string[];
  /** Members whose listing was unchanged: only its version was asked. */
  reused: string[];
  silent: string[];
  stripes: number;
  plan: { needRepair: number; needMigration: number; waiting: number; unrecoverable: number };
  exposure: { owner: string; storedBytes: number; exposedBytes: number; unrecoverableBytes: number }[];
  queuedNow: { repairs: number; migrations: number };
}

describe('the repair worker across five pb-node processes', () => {
  let root: string;
  let src: string;
  const nodes: Proc[] = [];
  const ids = new Map<Proc, string>();
  let ownerHex = '';
  let stripesWritten = 0;

  /** The tail of every member's log (printed when a wait fails: the daemons say what they did). */
  const logs = (): string =>
    nodes
      .map((p) => {
        const file = join(p.dir, 'pb-node.log');
        const lines = fs.existsSync(file)
          ? fs
              .readFileSync(file, 'utf8')
              .split('\n')
              .filter((l) => !/sync with|webrtc dial|cannot reach/.test(l))
          : [];
        return `== ${p.dir.split('/').at(-1)}\n${lines.slice(-25).join('\n')}`;
      })
      .join('\n');
  const explained = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      process.stderr.write(`${logs()}\n`);
      throw error;
    }
  };

  const repairOf = async (p: Proc): Promise<RepairStatusView> =>
    ((await p.call('status')) as { repair: RepairStatusView }).repair;

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-repair-'));
    src = join(root, 'home');
    fs.mkdirSync(join(src, 'sub'), { recursive: true });
    fs.writeFileSync(join(src, 'a.bin'), randomBytes(7 * MiB + 123));
    fs.writeFileSync(join(src, 'sub', 'b.bin'), randomBytes(5 * MiB + 7));
    fs.writeFileSync(join(src, 'sub', 'c.bin'), randomBytes(9 * MiB));
    fs.writeFileSync(join(src, 'note.txt'), 'repair me\n', { mode: 0o640 });
    fs.chmodSync(join(src, 'note.txt'), 0o640);
    const names = ['owner', 'h1', 'h2', 'h3', 'h4'];
    const procs = await Promise.all(
      names.map((n) =>
        initNode(root, n, [
          '--pledge',
          '96MiB',
          '--schedule',
          'off',
          '--watch-debounce',
          '0s',
          ...(n === 'owner' ? ['--directories', src] : []),
        ]),
      ),
    );
    // Short rounds, a 60 s grace, stripes settle after 15 s, a bandwidth cap the test can afford.
    for (const p of procs)
      fs.appendFileSync(
        join(p.dir, 'config'),
        '\nrepair = {"intervalMs":1500,"graceMs":60000,"settleMs":15000,"bytesPerSecond":67108864,"concurrency":2,"maxTasks":50}\n',
      );
    nodes.push(...procs);
    await Promise.all(procs.map((p) => p.start()));
    for (const p of procs) ids.set(p, ((await p.call('status')) as { id: string }).id);
    const [owner, ...others] = procs as [Proc, Proc, Proc, Proc, Proc];
    expect((await cli(['create', '--dir', owner.dir, '--ratio', '1.5', '--tolerance', '1'])).code).toBe(0);
    for (const candidate of others) {
      const code = (await cli(['invite', '--dir', owner.dir])).stdout.trim();
      const joining = cli(['join', code, '--dir', candidate.dir, '--json', '--wait', '60s']);
      const name = candidate.dir.split('/').at(-1)!;
      await waitFor(
        `${name}'s request`,
        async () => ((await owner.call('requests')) as { name: string }[]).some((r) => r.name === name),
        60_000,
      );
      expect((await cli(['approve', name, '--dir', owner.dir])).code).toBe(0);
      expect(JSON.parse((await joining).stdout)).toMatchObject({ outcome: 'approved' });
    }
    for (const p of procs)
      await waitFor(
        'five members with their pledges',
        async () =>
          ((await p.call('members')) as { pledgeBytes: number }[]).filter((m) => m.pledgeBytes > 0).length ===
          5,
        60_000,
      );
    ownerHex = Buffer.from(
      deriveMemberKeys(Buffer.from(fs.readFileSync(join(owner.dir, 'secret'), 'utf8').trim(), 'hex'))
        .publicKey,
    ).toString('hex');
  }, 240_000);

  afterAll(async () => {
    await Promise.all(nodes.map((p) => p.stop()));
    if (process.env.PB_KEEP_TEST_DIR === undefined) fs.rmSync(root, { recursive: true, force: true });
    else process.stderr.write(`kept ${root}\n`);
  });

  it(
    'a holder offline for less than the grace period causes no repair traffic',
    () =>
      explained(async () => {
        const [owner, h1, h2, h3, h4] = nodes as [Proc, Proc, Proc, Proc, Proc];
        const b = await cli(['backup', '--dir', owner.dir, '--json']);
        expect(b.code, b.stderr + b.stdout).toBe(0);
        const summary = JSON.parse(b.stdout) as { holders: number; stored: { stripes: number } };
        expect(summary.holders).toBe(4);
        stripesWritten = summary.stored.stripes;
        expect(stripesWritten).toBeGreaterThanOrEqual(3);
        // Every member sees every stripe, settled and whole.
        for (const p of nodes)
          await waitFor(
            'a round over every settled stripe',
            async () => {
              const r = await repairOf(p);
              return (
                r.lastPlan !== null &&
                r.lastPlan.stripes === stripesWritten &&
                r.lastPlan.settling === 0 &&
                r.lastPlan.needRepair === 0
              );
            },
            90_000,
          );
        // Nothing changes now: a round asks the others for their listing's version alone.
        const h1Id = ids.get(h1)!;
        const quiet = await waitFor(
          'a round that lists nobody again',
          async () => {
            const r = (await h1.call('repair')) as RoundView;
            const others = r.answered.filter((id) => id !== h1Id);
            return others.length === 4 && r.reused.length === 4 ? r : null;
          },
          30_000,
        );
        expect(quiet.plan).toMatchObject({ needRepair: 0, unrecoverable: 0 });
        // ... and its timed rounds stand on that plan: the engine is not asked again.
        await waitFor(
          'a timed round that stands on the last plan',
          async () => (await repairOf(h1)).steadyRounds >= 1,
          30_000,
        );
        // h2 goes away (well within the 60 s grace) and comes back on the same port (the address
        // the group knows: a restore later dials it from the op log) ...
        const h2Id = ids.get(h2)!;
        const h2Address = ((await h2.call('status')) as { addresses: string[] }).addresses.find(
          (a) => a.includes('/tcp/') && !a.includes('p2p-circuit'),
        )!;
        const port = /\/tcp\/(\d+)/.exec(h2Address)![1];
        const h2Config = join(h2.dir, 'config');
        fs.writeFileSync(
          h2Config,
          fs
            .readFileSync(h2Config, 'utf8')
            .replace(/^listen = .*$/m, `listen = ["/ip4/127.0.0.1/tcp/${port}","/p2p-circuit","/webrtc"]`),
        );
        await h2.stop();
        const running = [owner, h1, h3, h4];
        for (const p of running) {
          const before = (await repairOf(p)).rounds;
          const round = await waitFor(
            'a round that misses h2',
            async () => {
              const r = (await p.call('repair')) as RoundView;
              return r.silent.includes(h2Id) ? r : null;
            },
            30_000,
          );
          // Its shards still count: nothing to repair, nothing queued, nothing exposed.
          expect(round.plan).toMatchObject({ needRepair: 0, needMigration: 0, unrecoverable: 0 });
          expect(round.queuedNow).toEqual({ repairs: 0, migrations: 0 });
          expect(round.exposure.every((o) => o.exposedBytes === 0)).toBe(true);
          await waitFor(
            'two more timed rounds',
            async () => (await repairOf(p)).rounds >= before + 2,
            30_000,
          );
        }
        // ... and comes back: no member moved a byte.
        await h2.start();
        await waitFor(
          'a round that hears h2 again',
          async () => ((await h1.call('repair')) as RoundView).answered.includes(h2Id),
          30_000,
        );
        for (const p of nodes) {
          expect(await repairOf(p)).toMatchObject({
            repairsDone: 0,
            migrationsDone: 0,
            shardsMoved: 0,
            bytesMoved: 0,
            failedTasks: 0,
            queued: 0,
            running: 0,
          });
        }
      }),
    240_000,
  );

  it(
    'a dead, removed holder is repaired around while the owner is stopped; the owner restores exactly',
    () =>
      explained(async () => {
        const [owner, h1, h2, h3, h4] = nodes as [Proc, Proc, Proc, Proc, Proc];
        const ownerId = ids.get(owner)!;
        const holders = [h1, h2, h3];
        const before = manifest(src);
        const words = join(root, 'words');
        fs.writeFileSync(words, fs.readFileSync(join(owner.dir, 'secret'), 'utf8'), { mode: 0o600 });
        const stripesBefore = new Set(
          [h1, h2, h3, h4].flatMap((h) => shardsOnDisk(h.dir, ids.get(h)!)).map((s) => s.stripeId),
        );
        expect(stripesBefore.size).toBe(stripesWritten);
        const onH4 = shardsOnDisk(h4.dir, ids.get(h4)!).length;
        expect(onH4).toBeGreaterThan(0);

        // The owner goes away; h4's disk dies; h4 is removed by another member.
        await owner.stop();
        await h4.stop();
        fs.rmSync(h4.dir, { recursive: true, force: true });
        const removed = await cli(['remove', 'h4', '--dir', h1.dir, '--json']);
        expect(removed.code, removed.stderr).toBe(0);

        // Full redundancy again: every stripe has k+m shards, each on a different current member.
        const live = (): DiskShard[] => holders.flatMap((h) => shardsOnDisk(h.dir, ids.get(h)!));
        await waitFor(
          'every stripe whole on the current members',
          async () => {
            const byStripe = new Map<string, DiskShard[]>();
            for (const s of live()) byStripe.set(s.stripeId, [...(byStripe.get(s.stripeId) ?? []), s]);
            if (byStripe.size !== stripesWritten) return false;
            for (const shards of byStripe.values()) {
              const { k, m } = shards[0]!;
              const indices = new Set(shards.map((s) => s.index));
              const members = new Set(shards.map((s) => s.member));
              if (indices.size !== k + m || members.size !== k + m) return false;
            }
            return true;
          },
          120_000,
        );
        const moved = await Promise.all(holders.map(repairOf));
        expect(moved.reduce((n, r) => n + r.repairsDone, 0)).toBeGreaterThan(0);
        expect(moved.reduce((n, r) => n + r.shardsMoved, 0)).toBeGreaterThanOrEqual(onH4);
        expect(moved.reduce((n, r) => n + r.failedTasks, 0)).toBe(0);

        // The engine's exposure over what the disks hold: zero for the owner.
        const nowMs = Date.now();
        const byStripe = new Map<string, DiskShard[]>();
        for (const s of live()) byStripe.set(s.stripeId, [...(byStripe.get(s.stripeId) ?? []), s]);
        const report = exposure({
          members: [
            { id: ownerId, lastSeenMs: nowMs - 30_000, removed: false },
            ...holders.map((h) => ({ id: ids.get(h)!, lastSeenMs: nowMs, removed: false })),
            { id: ids.get(h4)!, lastSeenMs: 0, removed: true },
          ],
          stripes: [...byStripe.values()].map((shards) => {
            const holdersOf: (string | null)[] = new Array(shards[0]!.k + shards[0]!.m).fill(null);
            for (const s of shards) holdersOf[s.index] = s.member;
            expect(shards[0]!.owner).toBe(ownerHex);
            return {
              stripeId: shards[0]!.stripeId,
              owner: ownerId,
              dataShards: shards[0]!.k,
              parityShards: shards[0]!.m,
              shardBytes: shards[0]!.fileBytes,
              holders: holdersOf,
            };
          }),
          tolerance: 1,
          nowMs,
          graceMs: 60_000,
          onlineWindowMs: 0,
        });
        expect(report.owners).toHaveLength(1);
        expect(report.owners[0]).toMatchObject({ owner: ownerId, exposedBytes: 0, unrecoverableBytes: 0 });
        expect(report.owners[0]!.storedBytes).toBeGreaterThan(20 * MiB);
        // The members' own view agrees.
        const view = (await h2.call('repair')) as RoundView;
        expect(view.exposure.find((o) => o.owner === ownerId)).toMatchObject({
          exposedBytes: 0,
          unrecoverableBytes: 0,
        });
        expect(view.plan).toMatchObject({ needRepair: 0, unrecoverable: 0 });

        // The owner, still away, restores from one member's address into a fresh directory: exact.
        const status = (await h3.call('status')) as { addresses: string[] };
        const address = status.addresses.find((a) => a.includes('/tcp/') && !a.includes('p2p-circuit'))!;
        const target = join(root, 'restored');
        const r = await cli([
          'restore',
          '--peer',
          address,
          '--secret-file',
          words,
          '--target',
          target,
          '--dir',
          join(root, 'owner-again'),
          '--test-network',
          '--json',
        ]);
        expect(r.code, r.stderr + r.stdout).toBe(0);
        expect(manifest(join(target, src))).toEqual(before);
      }),
    300_000,
  );

  it(
    'a new member takes over the shards placement gives it; the old holders delete theirs only then',
    () =>
      explained(async () => {
        const [, h1, h2, h3] = nodes as [Proc, Proc, Proc, Proc];
        const ownerId = ids.get(nodes[0]!)!;
        const h5 = await initNode(root, 'h5', ['--pledge', '96MiB', '--schedule', 'off']);
        fs.appendFileSync(
          join(h5.dir, 'config'),
          '\nrepair = {"intervalMs":1500,"graceMs":60000,"settleMs":15000,"bytesPerSecond":67108864}\n',
        );
        nodes.push(h5);
        await h5.start();
        ids.set(h5, ((await h5.call('status')) as { id: string }).id);
        const code = (await cli(['invite', '--dir', h1.dir])).stdout.trim();
        const joining = cli(['join', code, '--dir', h5.dir, '--json', '--wait', '60s']);
        await waitFor(
          "h5's request",
          async () => ((await h1.call('requests')) as { name: string }[]).some((r) => r.name === 'h5'),
          60_000,
        );
        expect((await cli(['approve', 'h5', '--dir', h1.dir])).code).toBe(0);
        expect(JSON.parse((await joining).stdout)).toMatchObject({ outcome: 'approved' });
        const holders = [h1, h2, h3, h5];
        const live = (): DiskShard[] => holders.flatMap((h) => shardsOnDisk(h.dir, ids.get(h)!));
        // Every stripe whole, each shard on a member of the stripe's placement under the new state.
        await waitFor(
          'every stripe placed on the current placement',
          async () => {
            const members = (await h1.call('members')) as { id: string; pledgeBytes: number }[];
            if (members.filter((m) => m.pledgeBytes > 0).length !== 5) return false;
            const byStripe = new Map<string, DiskShard[]>();
            for (const s of live()) byStripe.set(s.stripeId, [...(byStripe.get(s.stripeId) ?? []), s]);
            if (byStripe.size !== stripesWritten) return false;
            for (const [stripeId, shards] of byStripe) {
              const placement = placeStripe(ownerStripePlan(members, ownerId, 3), stripeId);
              if (new Set(shards.map((s) => s.index)).size !== 3 || shards.length !== 3) return false;
              if (!shards.every((s) => placement.includes(s.member))) return false;
            }
            return true;
          },
          180_000,
        );
        const r5 = await repairOf(h5);
        expect(r5.migrationsDone).toBeGreaterThan(0);
        expect(shardsOnDisk(h5.dir, ids.get(h5)!).length).toBeGreaterThan(0);
      }),
    300_000,
  );
});
