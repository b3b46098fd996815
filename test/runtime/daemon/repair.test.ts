/**
 * The repair worker (DESIGN section 9).
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
  deriveMemberKeys,
  exposure,
  type GroupState,
  memberIdFromPublicKey,
  ownerStripePlan,
  placeStripe,
} from '../../../engine/index.ts';
import { deleteCheck } from '../../../runtime/daemon/delete-check.ts';
import { CatalogBackend, ShardCatalog } from '../../../runtime/daemon/shard-catalog.ts';
import { TokenBucket } from '../../../runtime/daemon/token-bucket.ts';
import { RemoteShardStore } from '../../../runtime/net/remote-shard-store.ts';
import { serveShards } from '../../../runtime/net/shard-protocol.ts';
import { buildShards, decodeShardHeader } from '../../../runtime/pipeline/shard-format.ts';
import { PledgedShardStore } from '../../../runtime/store/pledged-shard-store.ts';
import { setPolicy, type TestNode, testNode } from '../net/_helpers.ts';
import { cli, initNode, type Proc, waitFor } from './_cluster.ts';

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
