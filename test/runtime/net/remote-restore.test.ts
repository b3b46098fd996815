/**
 * A restore that reads one member's shards over `/pb/shard/1` (real libp2p nodes on loopback
 * TCP). The data shards land straight in the stripe's area, unhashed (RemoteShardStore.readInto);
 * a holder that serves altered bytes is caught by the objects' authentication, the restore reads
 * that stripe again through verified gets, names the bad shards and rebuilds from the others:
 * the restored tree is exact either way.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPEN_POLICY } from '../../../runtime/net/access.ts';
import { NetError } from '../../../runtime/net/errors.ts';
import { RemoteShardStore } from '../../../runtime/net/remote-shard-store.ts';
import { RANGES_UNSUPPORTED, type ShardBackend, serveShards } from '../../../runtime/net/shard-protocol.ts';
import { backup } from '../../../runtime/pipeline/backup.ts';
import { openRepository, type Repository } from '../../../runtime/pipeline/repository.ts';
import { restore } from '../../../runtime/pipeline/restore.ts';
import type { ShardDirectory, ShardStore } from '../../../runtime/store/shard-store.ts';
import { describeTree, detBytes, expectSameTree, localConfig, tempDir } from '../helpers.ts';
import { type TestNode, testNode } from './_helpers.ts';

const MiB = 1024 * 1024;

describe('a restore reading a member over the network', () => {
  let root: string;
  let src: string;
  let repo: Repository;
  let holder: TestNode;
  let reader: TestNode;
  /**
   * Gets and ranges the holder served (the range lengths), whether it alters what it serves now,
   * and whether it reads ranges at all (an older member does not: the client gets whole shards).
   */
  const served = { gets: 0, ranges: [] as number[], alter: false, readsRanges: true };
  /** The member read over the network: the one holding the most data shards. */
  let REMOTE = '';

  beforeAll(async () => {
    root = tempDir('remote-restore');
    src = join(root, 'src');
    fs.mkdirSync(join(src, 'docs'), { recursive: true });
    fs.writeFileSync(join(src, 'big.bin'), detBytes('remote-restore', 24 * MiB));
    for (let i = 0; i < 200; i++)
      fs.writeFileSync(join(src, 'docs', `n${i}.txt`), `note ${i}\n`.repeat(50 + i));
    repo = await openRepository(localConfig(root, [src]));
    await backup(repo);
    const dataShards = new Map<string, number>();
    for (let seq = 0, misses = 0; misses < 8; seq++) {
      const stripe = repo.index.getStripe(seq);
      if (stripe === undefined) {
        misses++;
        continue;
      }
      for (const s of repo.index.getShards(seq))
        if (s.idx < stripe.k) dataShards.set(s.member, (dataShards.get(s.member) ?? 0) + 1);
    }
    REMOTE = [...dataShards].sort((a, b) => b[1] - a[1])[0]![0];
    const store = repo.directory.storeFor(REMOTE);
    const backend: ShardBackend = {
      putFrom: (_from, id, bytes) => store.put(id, bytes),
      get: async (id) => {
        served.gets++;
        const bytes = Buffer.from(await store.get(id));
        if (served.alter) bytes[100]! ^= 0x01; // inside the body: a holder lying about its shard
        return bytes;
      },
      readRange: async (id, offset, length) => {
        if (!served.readsRanges) throw new NetError('bad-message', RANGES_UNSUPPORTED);
        served.ranges.push(length);
        const bytes = Buffer.alloc(length);
        const n = await store.readInto!(id, offset, bytes, 0, length);
        // The same lie as a get's: the shard file's byte 100, where the range holds it.
        if (served.alter && offset <= 100 && 100 < offset + n) bytes[100 - offset]! ^= 0x01;
        return bytes.subarray(0, n);
      },
      has: (id) => store.has(id),
      list: () => store.list(),
      delete: (id) => store.delete(id),
      usage: () => store.usage(),
    };
    holder = await testNode(() => OPEN_POLICY);
    reader = await testNode(() => OPEN_POLICY);
    await serveShards(holder.node, () => OPEN_POLICY, backend);
    await reader.node.dial(holder.node.getMultiaddrs()[0]!);
  }, 120_000);

  afterAll(async () => {
    repo?.close();
    await Promise.all([holder?.node.stop(), reader?.node.stop()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** Which reads the restore made of the remote member: straight into areas, or verified gets. */
  const reads = { into: 0, get: 0 };

  function overTheNetwork(): ShardDirectory {
    const remote = new RemoteShardStore(reader.node, holder.id);
    reads.into = 0;
    reads.get = 0;
    const counted: ShardStore = {
      put: (id, bytes) => remote.put(id, bytes),
      get: (id) => {
        reads.get++;
        return remote.get(id);
      },
      readInto: (id, offset, into, at, length) => {
        reads.into++;
        return remote.readInto(id, offset, into, at, length);
      },
      has: (id) => remote.has(id),
      list: () => remote.list(),
      delete: (id) => remote.delete(id),
      usage: () => remote.usage(),
    };
    return {
      members: () => repo.directory.members(),
      storeFor: (id) => (id === REMOTE ? counted : repo.directory.storeFor(id)),
    };
  }

  /** Restores into `out-<name>` with the holder altering what it serves or not; checks the tree. */
  async function restoreOverTheNetwork(name: string, alter: boolean, readsRanges = true) {
    served.alter = alter;
    served.readsRanges = readsRanges;
    served.gets = 0;
    served.ranges = [];
    const target = join(root, `out-${name}`);
    const summary = await restore({ ...repo, directory: overTheNetwork() }, { target });
    expect(served.gets + served.ranges.length).toBeGreaterThan(0);
    expect(reads.into).toBeGreaterThan(0);
    expectSameTree(describeTree(join(target, src)), describeTree(src));
    return summary;
  }

  it('lands the shards as they arrive: exact, nothing rebuilt', async () => {
    const summary = await restoreOverTheNetwork('clean', false);
    expect(reads.get).toBe(0);
    expect(served.gets).toBe(0); // every read a range request
    // The data shards' bodies whole, the tree pieces alone (a few KiB, not their stripes).
    expect(served.ranges.some((n) => n < 64 * 1024)).toBe(true);
    expect(served.ranges.some((n) => n >= MiB)).toBe(true);
    expect(summary.rebuiltStripes).toBe(0);
    expect(summary.badShards).toEqual([]);
  }, 120_000);

  it('from a member that does not read ranges: whole shards, the same exact tree', async () => {
    const summary = await restoreOverTheNetwork('older', false, false);
    expect(served.ranges).toEqual([]);
    expect(served.gets).toBeGreaterThan(0);
    expect(reads.get).toBe(0);
    expect(summary.rebuiltStripes).toBe(0);
    expect(summary.badShards).toEqual([]);
  }, 120_000);

  it('a holder serving altered bytes: its shards are named, their stripes rebuilt, the tree exact', async () => {
    const summary = await restoreOverTheNetwork('altered', true);
    expect(reads.get).toBeGreaterThan(0); // the stripes read again, verified
    expect(summary.rebuiltStripes).toBeGreaterThan(0);
    expect(summary.badShards.length).toBeGreaterThan(0);
    for (const bad of summary.badShards) expect(bad).toMatch(new RegExp(` on ${REMOTE}: .*hashing to`));
  }, 120_000);
});
