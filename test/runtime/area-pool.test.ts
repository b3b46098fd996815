/**
 * Stripe areas are reused (runtime/pipeline/area-pool.ts), and never while anyone reads them:
 * StripeReader gives an area back only when it is neither cached nor leased (`withArea`).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AreaPool, SPARE_AREAS } from '../../runtime/pipeline/area-pool.ts';
import { backup } from '../../runtime/pipeline/backup.ts';
import { openRepository, type Repository } from '../../runtime/pipeline/repository.ts';
import { ObjectReader } from '../../runtime/pipeline/stripe-reader.ts';
import { detBytes, localConfig, tempDir } from './helpers.ts';

describe('the area pool', () => {
  it('hands out views of exactly the size asked, reusing a spare that fits', () => {
    const pool = new AreaPool();
    const a = pool.take(3_000_000);
    expect(a.length).toBe(3_000_000);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    pool.give(a);
    expect(pool.spareCount).toBe(1);
    const b = pool.take(2_900_000); // fits the spare (rounded up to 3 MiB)
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(2_900_000);
    expect(pool.spareCount).toBe(0);
    pool.give(b);
    const c = pool.take(5_000_000); // too large for the spare: new memory
    expect(c.buffer).not.toBe(a.buffer);
    const d = pool.take(1_000); // the spare would waste more than half of itself
    expect(d.buffer).not.toBe(a.buffer);
    expect(() => pool.take(0)).toThrow(/positive integer/);
  });

  it('keeps a few spares, ignores what it did not make, and takes nothing back twice', () => {
    const pool = new AreaPool();
    pool.give(Buffer.alloc(1024));
    pool.give(Buffer.from(new SharedArrayBuffer(1024)));
    expect(pool.spareCount).toBe(0);
    const areas = Array.from({ length: SPARE_AREAS + 2 }, () => pool.take(1 << 20));
    for (const a of areas) pool.give(a);
    pool.give(areas.at(-1)!);
    expect(pool.spareCount).toBe(SPARE_AREAS);
  });
});

/** A repository holding a backup of 20 files of 1.5 MB (at least three stripes); the caller closes it. */
async function backedUp(label: string): Promise<{ root: string; repo: Repository }> {
  const root = tempDir(label);
  const src = join(root, 'src');
  fs.mkdirSync(src);
  for (let f = 0; f < 20; f++) fs.writeFileSync(join(src, `f${f}.bin`), detBytes(`${label}${f}`, 1_500_000));
  const repo = await openRepository(localConfig(root, [src]));
  await backup(repo);
  return { root, repo };
}

describe('stripe areas read by a restore', () => {
  it('an area is not refilled while it is leased, and is reused once it is neither leased nor cached', async () => {
    const { root, repo } = await backedUp('area-lease');
    try {
      const seqs = repo.index.allStripeSeqs();
      expect(seqs.length).toBeGreaterThanOrEqual(3);
      // One stripe cached, read the way a restore reads (unverified, into shared memory).
      const stripes = new ObjectReader(repo.index, repo.directory, repo.keys, 1, true).stripes;
      const [a, b, c] = seqs as [number, number, number];
      let first: ArrayBufferLike | null = null;
      await stripes.withArea(a, async (areaA) => {
        first = areaA.buffer;
        const before = Buffer.from(areaA);
        // Two more stripes while `a` is leased: it leaves the cache but must not be reused.
        const others = [
          await stripes.withArea(b, (x) => x.buffer),
          await stripes.withArea(c, (x) => x.buffer),
        ];
        expect(others).not.toContain(areaA.buffer);
        expect(areaA.equals(before)).toBe(true);
      });
      // Released and no longer cached: the next stripe read may take its memory.
      const reused: ArrayBufferLike[] = [];
      for (const seq of [b, a, c]) reused.push(await stripes.withArea(seq, (x) => x.buffer));
      expect(reused).toContain(first);
    } finally {
      repo.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('a stripe with a lost data shard is rebuilt, counted and named once however often it is read', async () => {
    const { root, repo } = await backedUp('area-damaged');
    try {
      const [a, b, c] = repo.index.allStripeSeqs() as [number, number, number];
      const lost = repo.index.getShards(a).find((s) => s.idx === 0)!;
      await repo.directory.storeFor(lost.member).delete(lost.shardId);
      const reader = new ObjectReader(repo.index, repo.directory, repo.keys, 1, true);
      const stripes = reader.stripes;
      const first = await stripes.withArea(a, (x) => Buffer.from(x));
      // Two other stripes push `a` out of the one-stripe cache; then `a` is read again.
      for (const seq of [b, c]) await stripes.withArea(seq, (x) => x.length);
      const again = await stripes.withArea(a, (x) => Buffer.from(x));
      expect(again.equals(first)).toBe(true);
      expect(stripes.isVerified(a)).toBe(true);
      expect(stripes.report.rebuilt).toBe(1);
      expect(stripes.report.badShards.filter((x) => x.includes(`/${0} on `)).length).toBe(1);
      expect(stripes.report.badShards[0]).toContain(lost.member);
    } finally {
      repo.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
