/**
 * Sightings kept across restarts (last-seen.ts) and the owner's index following its shards
 * (shard-locations.ts): unit level, on real files and a real index.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LastSeenFile, SAVE_EVERY_MS } from '../../../runtime/daemon/group/last-seen.ts';
import { FormerMembersTolerant, locateShards } from '../../../runtime/daemon/shards/shard-locations.ts';
import { IndexDb } from '../../../runtime/pipeline/index-db.ts';
import { type ShardDirectory, ShardStoreError } from '../../../runtime/store/shard-store.ts';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'pb-last-seen-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('last-seen.json', () => {
  it('survives a restart; never-seen members count from the later of their join and the start of tracking', () => {
    const path = join(dir, 'last-seen.json');
    const first = new LastSeenFile(path, 1_000_000);
    expect(first.trackingSinceMs).toBe(1_000_000);
    expect(fs.existsSync(path)).toBe(true);
    first.seen.set('a', 1_000_500);
    // Bounded writes: not again within a minute, unless forced (the daemon's stop).
    expect(first.save(1_000_600, null)).toBe(false);
    expect(first.save(1_000_000 + SAVE_EVERY_MS, null)).toBe(true);
    expect(first.save(1_000_000 + 3 * SAVE_EVERY_MS, null)).toBe(false); // unchanged: no write
    first.seen.set('b', 1_200_000);
    expect(first.save(1_200_001, new Set(['a', 'b']), true)).toBe(true);

    const again = new LastSeenFile(path, 9_000_000);
    expect(again.trackingSinceMs).toBe(1_000_000);
    expect(again.lastSeenMs('a', 10)).toBe(1_000_500);
    expect(again.lastSeenMs('b', null)).toBe(1_200_000);
    expect(again.lastSeenMs('c', 500)).toBe(1_000_000); // joined before tracking began
    expect(again.lastSeenMs('c', 2_000_000)).toBe(2_000_000); // joined later: from its join
    // Removed members are forgotten on save.
    again.save(9_000_001, new Set(['b']), true);
    expect([...new LastSeenFile(path, 9_500_000).seen.keys()]).toEqual(['b']);
  });

  it('a malformed file is set aside with a warning; tracking starts over', () => {
    const path = join(dir, 'last-seen.json');
    for (const bad of [
      '{',
      JSON.stringify({ version: 2, trackingSinceMs: 1, seen: {} }),
      JSON.stringify({ version: 1, trackingSinceMs: -1, seen: {} }),
      JSON.stringify({ version: 1, trackingSinceMs: 1, seen: { a: 'x' } }),
      JSON.stringify({ version: 1, trackingSinceMs: 1, seen: [] }),
    ]) {
      fs.writeFileSync(path, bad);
      const warnings: string[] = [];
      const f = new LastSeenFile(path, 5000, (t) => warnings.push(t));
      expect(warnings.join()).toMatch(/set aside/);
      expect(f.trackingSinceMs).toBe(5000);
      expect(f.seen.size).toBe(0);
      expect(fs.readFileSync(`${path}.bad`, 'utf8')).toBe(bad);
      fs.rmSync(path);
    }
  });
});

describe('the owner’s index follows its shards', () => {
  const stripe = (seq: number) => ({
    seq,
    stripeId: `owner/${seq}/0`,
    k: 2,
    m: 1,
    shardBytes: 100,
    dataBytes: 200,
    createdMs: 1,
  });
  const id = (seq: number, idx: number): string => `${seq}${idx}`.padStart(64, '0');

  it('rows move to a member that lists the shard; silent members keep theirs; nobody-lists stays', async () => {
    const index = new IndexDb(join(dir, 'index.sqlite'));
    try {
      for (const seq of [1, 2]) {
        index.allocateStripeSeq();
        index.commitStripe(
          stripe(seq),
          ['a', 'b', 'gone'].map((member, idx) => ({ idx, shardId: id(seq, idx), member, fileBytes: 150 })),
          [],
          [],
        );
      }
      // Stripe 1's third shard was rebuilt onto c; stripe 2's is lost; b does not answer.
      const listings: Record<string, string[]> = {
        a: [id(1, 0), id(2, 0)],
        c: [id(1, 2)],
      };
      const report = await locateShards(index, ['a', 'b', 'c'], async (m) => {
        if (!(m in listings)) throw new Error('unreachable');
        return listings[m]!.map((x) => ({ id: x }));
      });
      expect(report).toMatchObject({ listed: ['a', 'c'], moved: 1, missing: 0 });
      expect(report.unreachable).toEqual(['b: unreachable']);
      expect(index.getShards(1).map((s) => s.member)).toEqual(['a', 'b', 'c']);
      expect(index.getShards(2).map((s) => s.member)).toEqual(['a', 'b', 'gone']);
      expect(() => index.moveShard(1, 2, id(9, 9), 'a')).toThrow(/no shard/);
    } finally {
      index.close();
    }
  });

  it('a former member: deletes are skipped, reads fail at once', async () => {
    const deleted: string[] = [];
    const inner: ShardDirectory = {
      members: () => ['a'],
      storeFor: (m) => {
        if (m !== 'a') throw new ShardStoreError('not-found', `member ${m} holds no shards here`);
        return {
          put: async () => {},
          get: async () => Buffer.alloc(0),
          has: async () => true,
          list: async () => [],
          delete: async (x: string) => {
            deleted.push(x);
          },
          usage: async () => ({ usedBytes: 0, capacityBytes: 0 }),
        } as unknown as ReturnType<ShardDirectory['storeFor']>;
      },
    };
    const d = new FormerMembersTolerant(inner);
    await d.storeFor('a').delete('x');
    await d.storeFor('gone').delete('y');
    expect(deleted).toEqual(['x']);
    expect(d.skippedDeletes).toBe(1);
    await expect(d.storeFor('gone').get('y')).rejects.toThrow(/no longer in the group/);
  });
});
