/**
 * The put journal and the settling of interrupted stripes (backup-journal.ts) on local member
 * directories: a run that dies after a stripe's shards landed but before it was committed (here:
 * the holder stored the shard but its answer was lost) leaves the stripe in the journal only;
 * the next settle commits it without a single put, rebuilds the shards that did not land from k
 * that did, or drops a stripe with fewer than k (deleting what landed). Restores stay exact.
 * Plus the journal's defensive reading and the emptiness count.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { journaling, PutJournal, settleJournal } from '../../../runtime/daemon/backup/backup-journal.ts';
import { countSources } from '../../../runtime/daemon/backup/source-census.ts';
import { backup } from '../../../runtime/pipeline/backup.ts';
import { openRepository, type Repository } from '../../../runtime/pipeline/repository.ts';
import { restore } from '../../../runtime/pipeline/restore.ts';
import { decodeShardHeader } from '../../../runtime/pipeline/shard-format.ts';
import type { ShardDirectory, ShardStore } from '../../../runtime/store/shard-store.ts';
import { describeTree, detBytes, expectSameTree, localConfig, tempDir } from '../helpers.ts';

const MiB = 1024 * 1024;

/** The directory with every store's put replaced by `put(store, id, bytes)`; the rest as it is. */
function withPut(
  directory: ShardDirectory,
  put: (store: ShardStore, id: string, bytes: Uint8Array) => Promise<void>,
): ShardDirectory {
  return {
    members: () => directory.members(),
    storeFor: (member) => {
      const store = directory.storeFor(member);
      return {
        get: (id) => store.get(id),
        has: (id) => store.has(id),
        list: () => store.list(),
        delete: (id) => store.delete(id),
        usage: () => store.usage(),
        put: (id, bytes) => put(store, id, bytes),
      };
    },
  };
}

/** Counts puts; the put of stripe `failSeq`'s shard 0 store the shard, then fail (a lost answer). */
function lossy(
  directory: ShardDirectory,
  failSeq: number | 'first' | null,
  counter: { puts: number },
): ShardDirectory {
  let first: number | null = null;
  return withPut(directory, async (store, id, bytes) => {
    counter.puts++;
    await store.put(id, bytes);
    const { header } = decodeShardHeader(bytes);
    const seq = Number(header.stripeId.split('/')[1]);
    first ??= seq;
    if ((failSeq === 'first' ? first : failSeq) === seq && header.index === 0)
      throw new Error('the answer was lost');
  });
}

function shardPath(root: string, member: string, id: string): string {
  return join(root, 'members', member, 'shards', id.slice(0, 2), id);
}

async function interruptedRun(
  root: string,
  repo: Repository,
  journal: PutJournal,
  failSeq: number | 'first',
) {
  const counter = { puts: 0 };
  await expect(
    backup({ ...repo, directory: journaling(lossy(repo.directory, failSeq, counter), journal) }),
  ).rejects.toThrow(/answer was lost/);
  const rows = journal.read();
  const pending = rows.filter((r) => repo.index.getStripe(Number(r.stripe.split('/')[1])) === undefined);
  expect(pending.length).toBeGreaterThan(0);
  for (const r of pending) expect(fs.existsSync(shardPath(root, r.member, r.shard))).toBe(true);
  return pending;
}

describe('the put journal', () => {
  it('commits an interrupted stripe whose shards all landed without sending any again', async () => {
    const root = tempDir('journal-landed');
    const src = join(root, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(join(src, 'a.bin'), detBytes('journal-a', 30 * MiB));
    fs.writeFileSync(join(src, 'b.txt'), 'b\n');
    const repo = await openRepository(localConfig(root, [src]));
    try {
      const journal = new PutJournal(join(repo.config.dataDir, 'put-journal'));
      const pending = await interruptedRun(root, repo, journal, 2);
      const stripes = new Set(pending.map((r) => r.stripe));
      const counter = { puts: 0 };
      const settled = await settleJournal(
        { ...repo, directory: lossy(repo.directory, null, counter) },
        journal,
        1,
        () => {},
      );
      expect(settled).toMatchObject({
        completed: stripes.size,
        shardsLanded: pending.length,
        shardsRebuilt: 0,
        abandoned: 0,
      });
      expect(counter.puts).toBe(0);
      expect(fs.existsSync(journal.path)).toBe(false);
      for (const s of stripes) expect(repo.index.getStripe(Number(s.split('/')[1]))?.stripeId).toBe(s);
      // The next run stores only what the settled stripes do not hold; the restore is exact.
      const again = await backup({ ...repo, directory: journaling(repo.directory, journal) });
      expect(again.stored.objectsDeduplicated).toBeGreaterThan(0);
      const target = join(root, 'out');
      await restore(repo, { target });
      expectSameTree(describeTree(join(target, src)), describeTree(src));
    } finally {
      repo.close();
    }
  });

  it('rebuilds the shards that did not land from k that did, and drops a stripe with fewer than k', async () => {
    const root = tempDir('journal-partial');
    const src = join(root, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(join(src, 'a.bin'), detBytes('journal-p', 20 * MiB));
    const repo = await openRepository(localConfig(root, [src]));
    try {
      const journal = new PutJournal(join(repo.config.dataDir, 'put-journal'));
      let pending = await interruptedRun(root, repo, journal, 1);
      const first = pending.filter((r) => r.stripe === pending[0]!.stripe);
      const { k, m } = first[0]!;
      expect(first).toHaveLength(k + m);
      // m shards did not land: k remain.
      const lost = first.slice(0, m);
      for (const r of lost) fs.rmSync(shardPath(root, r.member, r.shard));
      const counter = { puts: 0 };
      const settled = await settleJournal(
        { ...repo, directory: lossy(repo.directory, null, counter) },
        journal,
        1,
        () => {},
      );
      expect(settled.shardsRebuilt).toBe(m);
      expect(counter.puts).toBe(m);
      for (const r of lost) expect(fs.existsSync(shardPath(root, r.member, r.shard))).toBe(true);

      // Another interrupted run; this time only k-1 shards of its stripe remain.
      fs.writeFileSync(join(src, 'c.bin'), detBytes('journal-c', 12 * MiB));
      pending = await interruptedRun(root, repo, journal, 'first');
      const firstSeq = Math.min(...pending.map((r) => Number(r.stripe.split('/')[1])));
      const doomed = pending.filter((r) => Number(r.stripe.split('/')[1]) === firstSeq);
      expect(doomed).toHaveLength(k + m);
      for (const r of doomed.slice(0, m + 1)) fs.rmSync(shardPath(root, r.member, r.shard));
      const dropped = await settleJournal(repo, journal, 1, () => {});
      expect(dropped.abandoned).toBeGreaterThanOrEqual(1);
      for (const r of doomed) expect(fs.existsSync(shardPath(root, r.member, r.shard))).toBe(false);
      await backup({ ...repo, directory: journaling(repo.directory, journal) });
      const target = join(root, 'out');
      await restore(repo, { target });
      expectSameTree(describeTree(join(target, src)), describeTree(src));
    } finally {
      repo.close();
    }
  });

  it('a failed backup returns only when every put it started has settled', async () => {
    const root = tempDir('journal-settled');
    const src = join(root, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(join(src, 'a.bin'), detBytes('journal-s', 20 * MiB));
    const repo = await openRepository(localConfig(root, [src]));
    try {
      const running = { started: 0, settled: 0 };
      const slow = withPut(repo.directory, async (store, id, bytes) => {
        running.started++;
        try {
          // Shard 0 of every stripe fails at once; the others land 300 ms later.
          if (decodeShardHeader(bytes).header.index === 0) throw new Error('the answer was lost');
          await new Promise((resolve) => setTimeout(resolve, 300));
          await store.put(id, bytes);
        } finally {
          running.settled++;
        }
      });
      await expect(backup({ ...repo, directory: slow })).rejects.toThrow(/answer was lost/);
      expect(running.started).toBeGreaterThan(1);
      expect(running.settled).toBe(running.started);
    } finally {
      repo.close();
    }
  });

  it('reads only well-formed lines, and forgets committed stripes', () => {
    const root = tempDir('journal-read');
    const journal = new PutJournal(join(root, 'put-journal'));
    const row = {
      stripe: 'o/7/0',
      idx: 1,
      shard: 'a'.repeat(64),
      member: 'm1',
      fileBytes: 100,
      k: 2,
      m: 1,
      shardBytes: 64,
    };
    journal.record(row);
    fs.appendFileSync(
      journal.path,
      '{"v":1,"stripe":"o/8/0","idx":9,"shard":"zz"}\nnot json\n{"v":2}\n{"v":1,"str',
    );
    expect(journal.read()).toEqual([row]);
    journal.committed(7);
    journal.rewrite([]);
    expect(journal.read()).toEqual([]);
  });

  it('rewrites the journal atomically: the rows given, mode 0600, no temporary file left', () => {
    const root = tempDir('journal-rewrite');
    const journal = new PutJournal(join(root, 'put-journal'));
    const row = (seq: number) => ({
      stripe: `o/${seq}/0`,
      idx: 0,
      shard: String(seq % 10).repeat(64),
      member: 'm1',
      fileBytes: 100,
      k: 2,
      m: 1,
      shardBytes: 64,
    });
    for (const seq of [1, 2, 3]) journal.record(row(seq));
    journal.rewrite([row(2), row(3)]);
    expect(journal.read()).toEqual([row(2), row(3)]);
    expect(fs.statSync(journal.path).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(root)).toEqual(['put-journal']);
    journal.committed(2);
    journal.rewrite([row(3)]);
    expect(journal.read()).toEqual([row(3)]);
  });

  it('counts files and bytes only as far as the emptiness rule needs', async () => {
    const root = tempDir('census');
    fs.mkdirSync(join(root, 'a', 'b'), { recursive: true });
    for (let i = 0; i < 20; i++) fs.writeFileSync(join(root, 'a', 'b', `f${i}`), 'x'.repeat(10));
    fs.symlinkSync('a', join(root, 'link'));
    expect(await countSources([root], 100, 0)).toEqual({ files: 20, bytes: 200, reached: false });
    const early = await countSources([root], 5, 50);
    expect(early.reached).toBe(true);
    expect(early.files).toBeLessThan(20);
    expect(await countSources([join(root, 'missing')], 1, 0)).toEqual({ files: 0, bytes: 0, reached: false });
  });

  it('leaves out what the scan leaves out: patterns, excluded paths, a tagged cache directory', async () => {
    const root = tempDir('census-excludes');
    const mk = (dir: string, n: number): void => {
      fs.mkdirSync(join(root, dir), { recursive: true });
      for (let i = 0; i < n; i++) fs.writeFileSync(join(root, dir, `f${i}`), 'x'.repeat(10));
    };
    mk('docs', 2);
    mk('node_modules/pkg', 30);
    mk('data-dir/shards', 40);
    mk('cache', 50);
    fs.writeFileSync(join(root, 'cache', 'CACHEDIR.TAG'), 'Signature: 8a477f597d28d172789f06886806bc55\n');
    mk('fake-cache', 3);
    fs.writeFileSync(join(root, 'fake-cache', 'CACHEDIR.TAG'), 'not a tag');
    // Without excludes every file counts (the tagged directory keeps only its tag).
    expect(await countSources([root], 1000, 0)).toMatchObject({ files: 2 + 30 + 40 + 1 + 3 + 1 });
    const excludes = { patterns: ['**/node_modules'], paths: [join(root, 'data-dir')] };
    // The emptied documents are seen as emptied, however much the excluded places hold.
    const found = await countSources([root], 10, 0, excludes);
    expect(found).toEqual({ files: 2 + 1 + 3 + 1, bytes: 2 * 10 + 44 + 3 * 10 + 9, reached: false });
    expect(await countSources([join(root, 'data-dir')], 1, 0, excludes)).toMatchObject({ files: 0 });
  });
});
