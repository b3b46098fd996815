/**
 * The restore's tree walk (runtime/pipeline/restore-walk.ts): trees are read piece by piece from a
 * local store, each stripe at most once when they cannot be, and a tree piece that does not
 * authenticate when read alone is read again from its verified (or rebuilt) stripe.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backup } from '../../runtime/pipeline/backup.ts';
import { openRepository, type Repository } from '../../runtime/pipeline/repository.ts';
import { restore } from '../../runtime/pipeline/restore.ts';
import { TreeWalk } from '../../runtime/pipeline/restore-walk.ts';
import { ObjectReader } from '../../runtime/pipeline/stripe-reader.ts';
import { decodeSnapshot, ENTRY_DIR, type TreeEntry } from '../../runtime/pipeline/tree.ts';
import type { ShardDirectory, ShardStore } from '../../runtime/store/shard-store.ts';
import { describeTree, detBytes, expectSameTree, localConfig, tempDir } from './helpers.ts';

/** 40 directories of three files each (about 24 MiB, several 8 MiB stripes), trees among them. */
function makeSource(root: string): string {
  const src = join(root, 'src');
  for (let d = 0; d < 40; d++) {
    const dir = join(src, `d${d % 8}`, `sub${d}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 3; f++) fs.writeFileSync(join(dir, `f${f}.bin`), detBytes(`walk${d}/${f}`, 200_000));
  }
  return src;
}

/** The directory's stores without range reads (as members over the network are). */
function wholeStripesOnly(directory: ShardDirectory): ShardDirectory {
  return {
    members: () => directory.members(),
    storeFor: (id: string): ShardStore => {
      const store = directory.storeFor(id);
      return {
        put: (i, b) => store.put(i, b),
        get: (i) => store.get(i),
        has: (i) => store.has(i),
        list: () => store.list(),
        delete: (i) => store.delete(i),
        usage: () => store.usage(),
      };
    },
  } as ShardDirectory;
}

/** Walks the newest snapshot's trees; returns the directory paths seen and the stripes read. */
async function walkAll(
  repo: Repository,
  directory: ShardDirectory,
): Promise<{ dirs: string[]; read: number }> {
  // One stripe cached: a depth-first walk would read stripes again and again.
  const reader = new ObjectReader(repo.index, directory, repo.keys, 1);
  const snapshotId = repo.index.listSnapshots().at(-1)!.id;
  const snapshot = decodeSnapshot(await reader.read(snapshotId));
  const dirs: string[] = [];
  const visit = (path: string, read: TreeEntry[] | Error) => {
    if (read instanceof Error) throw read;
    dirs.push(path);
    return read
      .filter((e) => e.type === ENTRY_DIR)
      .map((e) => ({
        tree: (e as Extract<TreeEntry, { type: typeof ENTRY_DIR }>).tree,
        ctx: `${path}/${e.name}`,
      }));
  };
  const roots = snapshot.roots.map((r) => ({ tree: r.dir.tree, ctx: r.path.toString() }));
  await new TreeWalk(repo.index, reader, visit).run(roots);
  return { dirs: dirs.sort(), read: reader.stripes.report.read };
}

describe('the restore tree walk', () => {
  it('reads trees alone from local stores, and each stripe at most once from any other', async () => {
    const root = tempDir('walk');
    const src = makeSource(root);
    // Two restore workers (one fewer than configured): stripes in shared memory, split between them.
    const repo = await openRepository(localConfig(root, [src], { workers: 3 }));
    try {
      await backup(repo);
      const stripes = repo.index.allStripeSeqs().length;
      expect(stripes).toBeGreaterThan(2);
      const expected = [src, ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => join(src, `d${i}`))];
      for (let d = 0; d < 40; d++) expected.push(join(src, `d${d % 8}`, `sub${d}`));

      const local = await walkAll(repo, repo.directory);
      // The snapshot's own ancestors (the root's parents) come first; every source directory is seen.
      expect(local.dirs.filter((p) => p.startsWith(src)).sort()).toEqual(expected.sort());
      expect(local.read).toBe(0);

      const remote = await walkAll(repo, wholeStripesOnly(repo.directory));
      expect(remote.dirs).toEqual(local.dirs);
      expect(remote.read).toBeGreaterThan(0);
      expect(remote.read).toBeLessThanOrEqual(stripes);

      // A whole restore reads each stripe once: the trees take none.
      const summary = await restore(repo, { target: join(root, 'out') });
      expect(summary.stripesRead).toBeLessThanOrEqual(stripes);
      expectSameTree(describeTree(join(root, 'out', src)), describeTree(src));
    } finally {
      repo.close();
    }
  });

  it('a tree piece that fails to authenticate when read alone is read from its rebuilt stripe', async () => {
    const root = tempDir('walk-bad');
    const src = makeSource(root);
    const config = localConfig(root, [src]);
    const repo = await openRepository(config);
    try {
      await backup(repo);
      // Damage the body of every stripe's first data shard (one byte in 64): every object there,
      // tree pieces included, fails its tag when read alone, and the shard fails its hash.
      for (const seq of repo.index.allStripeSeqs()) {
        const s = repo.index.getShards(seq).find((x) => x.idx === 0)!;
        const member = config.members.find((m) => m.id === s.member)!;
        const path = join(member.dir, 'shards', s.shardId.slice(0, 2), s.shardId);
        const bytes = fs.readFileSync(path);
        const body = repo.index.getStripe(seq)!.shardBytes;
        for (let i = 0; i < body; i += 64) bytes[i]! ^= 0x5a;
        fs.writeFileSync(path, bytes);
      }
      const summary = await restore(repo, { target: join(root, 'out') });
      expect(summary.rebuiltStripes).toBeGreaterThan(0);
      expect(summary.badShards.length).toBeGreaterThan(0);
      expect(summary.badShards.join('\n')).toMatch(/corrupt/);
      expectSameTree(describeTree(join(root, 'out', src)), describeTree(src));
    } finally {
      repo.close();
    }
  });
});
