/**
 * The audit of held shards (shard-catalog.ts `CatalogBackend.audit`) over a real store: a byte
 * budget per round, round-robin over the catalog (every shard within ceil(total / budget) rounds),
 * damaged shards quarantined and dropped from the listing, vanished ones dropped, and a damaged
 * shard found by a `get` handled the same way.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  buildInventory,
  deriveMemberKeys,
  type GroupState,
  type ListedShard,
  type MemberListing,
  memberIdFromPublicKey,
  ownerStripePlan,
  placeStripe,
  planRepairs,
} from '../../../engine/index.ts';
import { CatalogBackend, ShardCatalog } from '../../../runtime/daemon/shards/shard-catalog.ts';
import { buildShards } from '../../../runtime/pipeline/shard-format.ts';
import { PledgedShardStore } from '../../../runtime/store/pledged-shard-store.ts';

const MiB = 1024 * 1024;
const owner = 'ab'.repeat(32);

describe('the audit of held shards', () => {
  let dir: string;
  let store: PledgedShardStore;
  let backend: CatalogBackend;
  const logged: string[] = [];
  const files: { id: string; bytes: Buffer }[] = [];

  const pathOf = (id: string): string => join(dir, 'store', 'store', 'shards', id.slice(0, 2), id);

  beforeEach(async () => {
    dir = fs.mkdtempSync(join(tmpdir(), 'pb-audit-'));
    store = await PledgedShardStore.open(join(dir, 'store'), { pledgeBytes: 64 * MiB, durable: false });
    backend = new CatalogBackend(
      store,
      new ShardCatalog(store),
      async () => undefined,
      (line) => logged.push(line),
    );
    files.length = 0;
    logged.length = 0;
    for (let s = 0; s < 4; s++) {
      const bodies = [randomBytes(4096), randomBytes(4096), randomBytes(4096)];
      for (const f of buildShards(`${owner}/${s}/0`, owner, 2, 1, bodies)) {
        await backend.putFrom('peer', f.id, f.bytes);
        files.push(f);
      }
    }
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads about the byte budget per round and covers every shard round-robin', async () => {
    const fileBytes = files[0]!.bytes.length;
    let rounds = 0;
    while (backend.health.auditedShards < files.length * 2) {
      const r = await backend.audit(3 * fileBytes);
      expect(r.corrupt).toBe(0);
      expect(r.shards).toBe(3); // the budget: three shard files a round
      rounds++;
      expect(rounds).toBeLessThanOrEqual(8);
    }
    expect(backend.health.auditedBytes).toBe(backend.health.auditedShards * fileBytes);
    // A budget smaller than a shard still reads one; 0 reads none.
    expect((await backend.audit(1)).shards).toBe(1);
    expect((await backend.audit(0)).shards).toBe(0);
  });

  it('quarantines flipped and truncated shards, drops vanished ones, and the listing follows', async () => {
    const [flipped, truncated, gone, fine] = [files[0]!, files[4]!, files[8]!, files[1]!];
    const b = fs.readFileSync(pathOf(flipped.id));
    b[100]! ^= 4;
    fs.writeFileSync(pathOf(flipped.id), b);
    fs.truncateSync(pathOf(truncated.id), 1000);
    fs.rmSync(pathOf(gone.id));
    const usedBefore = (await store.usage()).usedBytes;
    const r = await backend.audit(64 * MiB);
    expect(r).toMatchObject({ shards: files.length, corrupt: 3 });
    expect(backend.health.corruptFound).toBe(3);
    const page = await backend.listPage({ after: '', limit: 100, owner: null });
    expect(page.ids).toHaveLength(files.length - 3);
    for (const f of [flipped, truncated, gone]) {
      expect(page.ids).not.toContain(f.id);
      expect(await backend.has(f.id)).toBe(false);
    }
    expect(page.ids).toContain(fine.id);
    const q = fs.readdirSync(join(dir, 'store', 'store', 'quarantine'));
    expect(q.map((n) => n.split('.')[0]).sort()).toEqual([flipped.id, truncated.id].sort());
    expect((await store.usage()).usedBytes).toBeLessThan(usedBefore);
    expect(logged.filter((l) => /quarantined/.test(l))).toHaveLength(2);
    expect(logged.filter((l) => /vanished/.test(l))).toHaveLength(1);
    // A repair puts the shard back: held and listed again.
    await backend.putFrom('peer', flipped.id, flipped.bytes);
    expect(
      createHash('sha256')
        .update(await backend.get(flipped.id))
        .digest('hex'),
    ).toBe(flipped.id);
    expect((await backend.listPage({ after: '', limit: 100, owner: null })).ids).toContain(flipped.id);
  });

  it('a damaged shard found by a get is quarantined and leaves the listing', async () => {
    await backend.listPage({ after: '', limit: 1, owner: null }); // the catalog is loaded
    const victim = files[5]!;
    fs.truncateSync(pathOf(victim.id), 10);
    await expect(backend.get(victim.id)).rejects.toThrow(/corrupt/);
    expect(backend.health.corruptFound).toBe(1);
    expect(await backend.has(victim.id)).toBe(false);
    expect((await backend.listPage({ after: '', limit: 100, owner: null })).ids).not.toContain(victim.id);
    await expect(backend.get(victim.id)).rejects.toThrow(/no shard/);
    expect(backend.health.corruptFound).toBe(1); // counted once
  });
});

describe('a shard the audit dropped, its holder online', () => {
  const identity = (n: number): { id: string; hex: string } => {
    const keys = deriveMemberKeys(new Uint8Array(32).fill(n));
    return { id: memberIdFromPublicKey(keys.publicKey), hex: Buffer.from(keys.publicKey).toString('hex') };
  };
  const ownerId = identity(31);
  const hs = [32, 33, 34].map(identity);
  const members = [ownerId, ...hs].map((m) => ({ id: m.id, pledgeBytes: 64 * MiB }));
  const state = { members, removed: [] } as unknown as GroupState; // buildInventory reads these two
  const stripeId = `${ownerId.hex}/1/0`;
  const placement = placeStripe(ownerStripePlan(members, ownerId.id, 3), stripeId);
  const row = (index: number): ListedShard => ({
    id: createHash('sha256').update(`${stripeId}#${index}`).digest('hex'),
    info: {
      stripeId,
      owner: ownerId.hex,
      k: 2,
      m: 1,
      index,
      bodyBytes: 4096,
      fileBytes: 4500,
      ageMs: 3_600_000,
    },
  });

  it('is missing now (not presumed held): the stripe is repaired at once, back onto that member', () => {
    const [a, b, c] = placement as [string, string, string];
    const nowMs = 10_000_000;
    // c answered this round and lists nothing of the stripe (its shard was quarantined).
    const listings = new Map<string, MemberListing>([
      [a, { rows: [row(0)], fresh: true }],
      [b, { rows: [row(1)], fresh: true }],
      [c, { rows: [], fresh: true }],
    ]);
    const inv = buildInventory({
      self: a,
      state,
      nowMs,
      listings,
      lastSeenMs: () => nowMs,
      settleMs: 60_000,
    });
    expect(inv.stripes[0]!.holders).toEqual([a, b, null]);
    expect(inv.skipped.presumedShards).toBe(0);
    const plan = planRepairs({
      members: inv.members,
      stripes: inv.stripes,
      plans: inv.plans,
      nowMs,
      graceMs: 24 * 3600_000, // well within any grace period: the holder is online, the shard is gone
      onlineWindowMs: 0,
      busyStripeIds: inv.settlingIds,
    });
    expect(plan.repairs).toHaveLength(1);
    expect([a, b]).toContain(plan.repairs[0]!.repairer);
    expect(plan.repairs[0]!.moves).toEqual([{ shardIndex: 2, to: c }]);
  });
});
