/**
 * A prune racing a repair (owner-deletes.ts): once a stripe's owner deletes one of its shards on a
 * holder, a rebuilt shard of that stripe from anyone else is refused `gone` there, a get of the
 * deleted shard answers `gone`, and the repairer drops the task instead of counting a failure.
 * The owner's own puts always land. Over real shard stores; the "remote" holders are the other
 * stores' backends called directly (the wire is tested in shard-protocol tests).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  deriveMemberKeys,
  type InventoryStripe,
  memberIdFromPublicKey,
  type RepairTask,
} from '../../../engine/index.ts';
import { OWNER_DELETE_MEMORY_MS, OwnerDeletes } from '../../../runtime/daemon/shards/owner-deletes.ts';
import { performRepair, StripeGoneError } from '../../../runtime/daemon/shards/repair-tasks.ts';
import { CatalogBackend, ShardCatalog } from '../../../runtime/daemon/shards/shard-catalog.ts';
import { TokenBucket } from '../../../runtime/daemon/upload/token-bucket.ts';
import { NetError } from '../../../runtime/net/errors.ts';
import type { RemoteShardStore } from '../../../runtime/net/remote-shard-store.ts';
import { encodeParity } from '../../../runtime/pipeline/erasure.ts';
import { buildShards } from '../../../runtime/pipeline/shard-format.ts';
import { PledgedShardStore } from '../../../runtime/store/pledged-shard-store.ts';
import { ShardStoreError } from '../../../runtime/store/shard-store.ts';

const MiB = 1024 * 1024;
const identity = (n: number): { id: string; hex: string } => {
  const keys = deriveMemberKeys(new Uint8Array(32).fill(n));
  return { id: memberIdFromPublicKey(keys.publicKey), hex: Buffer.from(keys.publicKey).toString('hex') };
};
const owner = identity(41);
const [h1, h2, h3] = [42, 43, 44].map(identity) as [typeof owner, typeof owner, typeof owner];

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (error) {
    if (error instanceof NetError || error instanceof ShardStoreError) return error.code;
    throw error;
  }
}

describe('an owner’s delete against a repair in flight', () => {
  let dir: string;
  const backends = new Map<string, CatalogBackend>();
  const stripeId = `${owner.hex}/7/0`;
  let files: { id: string; bytes: Buffer }[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(join(tmpdir(), 'pb-owner-deletes-'));
    for (const h of [h1, h2, h3]) {
      const store = await PledgedShardStore.open(join(dir, h.id), { pledgeBytes: 16 * MiB, durable: false });
      backends.set(h.id, new CatalogBackend(store, new ShardCatalog(store), async () => undefined));
    }
    const data = randomBytes(2 * 8192);
    const parity = await encodeParity(2, 1, data, 8192);
    files = buildShards(stripeId, owner.hex, 2, 1, [data.subarray(0, 8192), data.subarray(8192), parity]);
    for (const [i, h] of [h1, h2, h3].entries())
      await backends.get(h.id)!.putFrom(owner.id, files[i]!.id, files[i]!.bytes);
  });
  afterEach(() => {
    backends.clear();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses another member’s put of the deleted stripe, answers gets `gone`, takes the owner’s', async () => {
    const b1 = backends.get(h1.id)!;
    await b1.deleteFrom(owner.id, files[0]!.id, null);
    // A repairer pushing the rebuilt shard 0 back: refused, nothing stored.
    expect(await codeOf(b1.putFrom(h2.id, files[0]!.id, files[0]!.bytes))).toBe('gone');
    // Another index of the same stripe too (a wider group would place it here).
    expect(await codeOf(b1.putFrom(h2.id, files[1]!.id, files[1]!.bytes))).toBe('gone');
    expect(await b1.has(files[0]!.id)).toBe(false);
    expect(await codeOf(b1.get(files[0]!.id))).toBe('gone');
    // A range request for it too (a restore reads data shards by range).
    expect(await codeOf(b1.readRange(files[0]!.id, 0, 16))).toBe('gone');
    // A shard of another stripe is not affected; an unknown id is still `not-found`.
    const other = buildShards(`${owner.hex}/8/0`, owner.hex, 2, 1, [
      randomBytes(64),
      randomBytes(64),
      randomBytes(64),
    ]);
    expect(await codeOf(b1.putFrom(h2.id, other[0]!.id, other[0]!.bytes))).toBe('ok');
    expect(await codeOf(b1.get(other[1]!.id))).toBe('not-found');
    expect(await codeOf(b1.readRange(other[1]!.id, 0, 16))).toBe('not-found');
    // A held shard's range is its bytes as stored.
    expect(Buffer.from(await b1.readRange(other[0]!.id, 3, 10)).equals(other[0]!.bytes.subarray(3, 13))).toBe(
      true,
    );
    // The owner may store the stripe again (its puts are never refused), and then so may others.
    expect(await codeOf(b1.putFrom(owner.id, files[0]!.id, files[0]!.bytes))).toBe('ok');
    expect(await codeOf(b1.putFrom(h2.id, files[1]!.id, files[1]!.bytes))).toBe('ok');
  });

  it('a delete after a migration (not the owner’s) leaves no mark', async () => {
    const b1 = backends.get(h1.id)!;
    await b1.deleteFrom(h2.id, files[0]!.id, h2.id); // allowed by the (permissive) check here
    expect(b1.ownerDeletes.size).toBe(0);
    expect(await codeOf(b1.putFrom(h3.id, files[0]!.id, files[0]!.bytes))).toBe('ok');
  });

  it('a repair that read the stripe before the prune drops its push instead of failing', async () => {
    const adapter = (h: { id: string }, as: string): RemoteShardStore =>
      ({
        get: (id: string) => backends.get(h.id)!.get(id),
        put: (id: string, bytes: Uint8Array) => backends.get(h.id)!.putFrom(as, id, bytes),
      }) as unknown as RemoteShardStore;
    const stripe: InventoryStripe = {
      stripeId,
      ownerText: owner.hex,
      owner: owner.id,
      k: 2,
      m: 1,
      bodyBytes: 8192,
      fileBytes: files[0]!.bytes.length,
      copies: [
        { index: 1, member: h2.id, shardId: files[1]!.id },
        { index: 2, member: h3.id, shardId: files[2]!.id },
      ],
    };
    const task: RepairTask = {
      stripeId,
      owner: owner.id,
      heldShards: 2,
      repairer: h2.id,
      sources: [h2.id, h3.id],
      moves: [{ shardIndex: 0, to: h1.id }],
      shardBytes: stripe.fileBytes,
      transferBytes: 2 * stripe.fileBytes,
    } as RepairTask;
    const deps = {
      self: h2.id,
      local: {
        get: (id: string) => backends.get(h2.id)!.get(id),
        putFrom: (from: string, id: string, bytes: Uint8Array) =>
          backends.get(h2.id)!.putFrom(from, id, bytes),
      },
      remote: (member: string) => adapter({ id: member }, h2.id),
      bucket: new TokenBucket(1 << 30),
      online: new Set([h1.id, h2.id, h3.id]),
      onBytes: () => undefined,
    };
    // Control: shard 0 lost on h1's disk (no owner's delete): the same repair puts it back.
    await backends.get(h1.id)!.delete(files[0]!.id);
    expect(await performRepair(task, stripe, deps)).toEqual({ shardsPushed: 1 });
    expect(await backends.get(h1.id)!.has(files[0]!.id)).toBe(true);
    // The owner's prune reached h1 (shard 0) after the repairer listed the stripe short of it.
    await backends.get(h1.id)!.deleteFrom(owner.id, files[0]!.id, null);
    await expect(performRepair(task, stripe, deps)).rejects.toBeInstanceOf(StripeGoneError);
    expect(await backends.get(h1.id)!.has(files[0]!.id)).toBe(false);
    // The prune reached every holder first: the sources answer `gone`, the task is dropped too.
    await backends.get(h3.id)!.deleteFrom(owner.id, files[2]!.id, null);
    await backends.get(h2.id)!.deleteFrom(owner.id, files[1]!.id, null);
    await expect(performRepair(task, stripe, deps)).rejects.toBeInstanceOf(StripeGoneError);
  });
});

describe('OwnerDeletes bounds', () => {
  it('forgets after its memory and keeps at most its bound, oldest first', () => {
    let nowMs = 1_000_000;
    const d = new OwnerDeletes(() => nowMs, 3);
    for (let i = 0; i < 5; i++) d.record(`s${i}`, `x${i}`);
    expect(d.size).toBe(3);
    expect(d.stripeDeletedAgoMs('s0')).toBeNull();
    expect(d.deletedShardStripe('x1')).toBeNull();
    expect(d.deletedShardStripe('x4')).toBe('s4');
    nowMs += OWNER_DELETE_MEMORY_MS;
    expect(d.stripeDeletedAgoMs('s4')).toBe(OWNER_DELETE_MEMORY_MS);
    nowMs += 1;
    expect(d.stripeDeletedAgoMs('s4')).toBeNull();
    expect(d.deletedShardStripe('x4')).toBeNull();
    expect(() => new OwnerDeletes(Date.now, 0)).toThrow(/maxEntries/);
  });
});
