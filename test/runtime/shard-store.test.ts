import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirShardStore } from '../../runtime/store/dir-shard-store.ts';
import { LocalShardDirectory } from '../../runtime/store/local-directory.ts';
import { PledgedShardStore } from '../../runtime/store/pledged-shard-store.ts';
import { ShardStoreError } from '../../runtime/store/shard-store.ts';
import { detBytes, tempDir } from './helpers.ts';

const idOf = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ShardStoreError);
  expect((error as ShardStoreError).code).toBe(code);
}

describe('DirShardStore', () => {
  it('puts, gets, lists, deletes and accounts usage', async () => {
    const root = tempDir('store');
    const store = await DirShardStore.open(root, { capacityBytes: 10_000 });
    const a = detBytes('a', 3000);
    const b = detBytes('b', 4000);
    await store.put(idOf(a), a);
    await store.put(idOf(b), b);
    await store.put(idOf(a), a); // idempotent
    expect(Buffer.from(await store.get(idOf(a))).equals(a)).toBe(true);
    expect(await store.has(idOf(b))).toBe(true);
    expect(await store.list()).toEqual([idOf(a), idOf(b)].sort());
    expect(await store.usage()).toEqual({ usedBytes: 7000, capacityBytes: 10_000 });
    await store.delete(idOf(a));
    await store.delete(idOf(a)); // absent: fine
    expect(await store.has(idOf(a))).toBe(false);
    await rejects(store.get(idOf(a)), 'not-found');
    expect((await store.usage()).usedBytes).toBe(4000);
    expect(fs.readdirSync(join(root, 'tmp'))).toEqual([]);
    // Reopening recounts usage from the files.
    const again = await DirShardStore.open(root, { capacityBytes: 10_000 });
    expect((await again.usage()).usedBytes).toBe(4000);
  });

  it('refuses puts over capacity, bad ids and bytes that do not hash to the id', async () => {
    const store = await DirShardStore.open(tempDir('store'), { capacityBytes: 5000 });
    const big = detBytes('big', 6000);
    await rejects(store.put(idOf(big), big), 'no-space');
    await rejects(store.put('ABC', big), 'invalid-id');
    await rejects(store.get('../../etc/passwd'), 'invalid-id');
    const small = detBytes('s', 100);
    await rejects(store.put(idOf(big), small), 'corrupt');
    expect((await store.usage()).usedBytes).toBe(0);
  });

  it('never serves a corrupt shard', async () => {
    const root = tempDir('store');
    const store = await DirShardStore.open(root, { capacityBytes: 1e6 });
    const a = detBytes('a', 1000);
    const id = idOf(a);
    await store.put(id, a);
    const path = join(root, 'shards', id.slice(0, 2), id);
    const bytes = fs.readFileSync(path);
    bytes[500]! ^= 0xff;
    fs.writeFileSync(path, bytes);
    await rejects(store.get(id), 'corrupt');
    fs.truncateSync(path, 10);
    await rejects(store.get(id), 'corrupt');
  });

  it('reads a range as stored into a buffer of what the file holds, whatever length is asked', async () => {
    const root = tempDir('store');
    const store = await DirShardStore.open(root, { capacityBytes: 1e6 });
    const a = detBytes('range', 20_000);
    const id = idOf(a);
    await store.put(id, a);
    expect((await store.readRange(id, 100, 5000)).equals(a.subarray(100, 5100))).toBe(true);
    // 256 MiB asked of a 20 kB shard: the 12 kB there, in a buffer of that size.
    const tail = await store.readRange(id, 8000, 256 * 1024 * 1024);
    expect(tail.equals(a.subarray(8000))).toBe(true);
    expect(tail.buffer.byteLength).toBeLessThan(64 * 1024);
    expect((await store.readRange(id, 30_000, 10)).length).toBe(0);
    await rejects(store.readRange('ab'.repeat(32), 0, 10), 'not-found');
    await rejects(store.readRange(id, -1, 10), 'io');
    await rejects(store.readRange(id, 0, 1024 * 1024 * 1024), 'io');
  });

  it('a directory resolves members to their stores', async () => {
    const root = tempDir('dir');
    const dir = await LocalShardDirectory.open([
      { id: 'b', dir: join(root, 'b'), pledgeBytes: 100 },
      { id: 'a', dir: join(root, 'a'), pledgeBytes: 100 },
    ]);
    expect(dir.members()).toEqual(['a', 'b']);
    expect(await dir.storeFor('a').usage()).toEqual({ usedBytes: 0, capacityBytes: 100 });
    expect(() => dir.storeFor('zz')).toThrow(ShardStoreError);
  });
});

describe('PledgedShardStore accounting under concurrent puts and deletes', () => {
  /** The bytes of the shard files on disk. */
  const onDisk = (root: string): number => {
    const shards = join(root, 'store', 'shards');
    if (!fs.existsSync(shards)) return 0;
    let n = 0;
    for (const fan of fs.readdirSync(shards))
      for (const name of fs.readdirSync(join(shards, fan))) n += fs.statSync(join(shards, fan, name)).size;
    return n;
  };

  it('counts what the disk holds: deletes at once, the same put twice at once, puts during deletes', async () => {
    const root = tempDir('pledged');
    const store = await PledgedShardStore.open(root, { pledgeBytes: 4_000_000 });
    const shards = Array.from({ length: 12 }, (_, i) => detBytes(`c${i}`, 10_000 + i * 1000));
    await Promise.all(shards.slice(0, 8).map((b) => store.put(idOf(b), b)));
    // Two deletes at once used to subtract each other's bytes too (usage read before and after).
    await Promise.all(shards.slice(0, 4).map((b) => store.delete(idOf(b))));
    expect((await store.usage()).usedBytes).toBe(onDisk(root));
    // The same shard put twice at once (a re-send while the first is being written): counted once.
    const twice = shards[8]!;
    await Promise.all([store.put(idOf(twice), twice), store.put(idOf(twice), twice)]);
    expect((await store.usage()).usedBytes).toBe(onDisk(root));
    // Puts finishing while deletes run.
    await Promise.all([
      ...shards.slice(4, 8).map((b) => store.delete(idOf(b))),
      ...shards.slice(9).map((b) => store.put(idOf(b), b)),
      store.delete(idOf(shards[0]!)), // already gone
    ]);
    expect((await store.usage()).usedBytes).toBe(onDisk(root));
    expect(onDisk(root)).toBe(twice.length + shards.slice(9).reduce((n, b) => n + b.length, 0));
    // Reopened, the count from the files is the same.
    const again = await PledgedShardStore.open(root, { pledgeBytes: 4_000_000 });
    expect((await again.usage()).usedBytes).toBe(onDisk(root));
  });
});
