/**
 * Round trips through the whole data path with real files: every Scan case of issue 5, lost and
 * corrupt shards, partial and in-place restore, unchanged re-runs, retention and gc.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecoveryCache } from '../../runtime/daemon/recovery/recovery-cache.ts';
import { backup } from '../../runtime/pipeline/backup.ts';
import { EmptySourcesError, PipelineError } from '../../runtime/pipeline/errors.ts';
import { rebuildIndex } from '../../runtime/pipeline/rebuild-index.ts';
import { type LocalConfig, openRepository, type Repository } from '../../runtime/pipeline/repository.ts';
import { restore } from '../../runtime/pipeline/restore.ts';
import { collectGarbage, selectForget } from '../../runtime/pipeline/retention.ts';
import { buildShards, decodeShardHeader } from '../../runtime/pipeline/shard-format.ts';
import type { ListedShard, ShardDirectory, ShardStore } from '../../runtime/store/shard-store.ts';
import {
  describeTree,
  detBytes,
  expectSameTree,
  localConfig,
  OTHER_SECRET_HEX,
  sameBytes,
  tempDir,
} from './helpers.ts';

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;

function eaccess(): NodeJS.ErrnoException {
  const e = new Error('EACCES: permission denied (simulated for root)') as NodeJS.ErrnoException;
  e.code = 'EACCES';
  return e;
}

async function withRepo<T>(config: LocalConfig, fn: (repo: Repository) => Promise<T>): Promise<T> {
  const repo = await openRepository(config);
  try {
    return await fn(repo);
  } finally {
    repo.close();
  }
}

/**
 * A 5 MiB file backed up, then the index lost (the data directory emptied); `before`: the shard
 * ids of each stripe as the index had them, for a rebuild to be compared with.
 */
async function backedUpThenIndexLost(
  label: string,
  seed: string,
): Promise<{ root: string; src: string; config: LocalConfig; before: string[][] }> {
  const root = tempDir(label);
  const src = join(root, 'src');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(join(src, 'a.bin'), detBytes(seed, 5 * MiB));
  const config = localConfig(root, [src]);
  let t = Date.UTC(2026, 5, 1);
  const nowMs = (): number => (t += 60_000);
  const before = await withRepo(config, async (repo) => {
    await backup(repo, { nowMs });
    return repo.index.allStripeSeqs().map((seq) => repo.index.getShards(seq).map((r) => r.shardId));
  });
  for (const f of fs.readdirSync(config.dataDir)) fs.rmSync(join(config.dataDir, f));
  return { root, src, config, before };
}

/** The shard files of every store under `root/<stores>/` (the local members by default). */
function shardFiles(root: string, stores = 'members'): string[] {
  const out: string[] = [];
  const dirs =
    stores === 'members' ? fs.readdirSync(join(root, stores)).map((m) => join(stores, m)) : [stores];
  for (const dir of dirs) {
    const base = join(root, dir, 'shards');
    for (const fan of fs.readdirSync(base))
      for (const f of fs.readdirSync(join(base, fan))) out.push(join(base, fan, f));
  }
  return out;
}

/**
 * `inner` served as another kind of store would: each `get` counted and made by `get`, the other
 * calls passed on, and the calls `extra` gives each store added (a listing, tail reads).
 */
function servedAs(
  inner: ShardDirectory,
  extra: (store: ShardStore) => Partial<ShardStore> = () => ({}),
  get: (store: ShardStore, id: string) => Promise<Uint8Array> = (store, id) => store.get(id),
): { directory: ShardDirectory; counted: { gets: number } } {
  const counted = { gets: 0 };
  const directory: ShardDirectory = {
    members: () => inner.members(),
    storeFor: (member) => {
      const store = inner.storeFor(member);
      return {
        put: (id, b) => store.put(id, b),
        get: (id) => {
          counted.gets++;
          return get(store, id);
        },
        has: (id) => store.has(id),
        list: () => store.list(),
        delete: (id) => store.delete(id),
        usage: () => store.usage(),
        ...extra(store),
      };
    },
  };
  return { directory, counted };
}

/** A lost index rebuilt with a recovery's cache keeping the data shards (at most `maxBytes` of them). */
async function withKeptRebuild(
  label: string,
  seed: string,
  use: (t: {
    root: string;
    src: string;
    repo: Repository;
    cache: RecoveryCache;
    lines: string[];
    rebuilt: Awaited<ReturnType<typeof rebuildIndex>>;
    restoreBytes: number;
  }) => Promise<void>,
  maxBytes?: (root: string) => number,
): Promise<void> {
  const { root, src, config } = await backedUpThenIndexLost(label, seed);
  await withRepo(config, async (repo) => {
    const lines: string[] = [];
    const cache = new RecoveryCache(config.dataDir, (line) => lines.push(line), maxBytes?.(root));
    await cache.open();
    const rebuilt = await rebuildIndex(repo.index, repo.directory, repo.keys, repo.owner, config.dataDir, {
      keepDataShards: cache.keep,
    });
    await use({ root, src, repo, cache, lines, rebuilt, restoreBytes: fs.statSync(join(src, 'a.bin')).size });
  });
}

/** The rebuilt index has the shard rows the lost one had, and restores `src` exactly. */
async function expectRebuiltExactly(
  repo: Repository,
  before: string[][],
  root: string,
  src: string,
): Promise<void> {
  const stripes = repo.index.allStripeSeqs();
  expect(stripes.map((seq) => repo.index.getShards(seq).map((r) => r.shardId))).toEqual(before);
  const target = join(root, 'out');
  await restore(repo, { target });
  expectSameTree(describeTree(join(target, src)), describeTree(src));
}

describe('backup and restore round trips', () => {
  it('every scan case: empty files and dirs, symlinks, odd names, sparse, unreadable and changing files', async () => {
    const root = tempDir('scan');
    const src = join(root, 'src');
    fs.mkdirSync(join(src, 'emptydir'), { recursive: true });
    fs.mkdirSync(join(src, 'nested/a/b/c'), { recursive: true });
    fs.mkdirSync(join(src, 'private'), { mode: 0o750 });
    fs.writeFileSync(join(src, 'empty.txt'), '');
    fs.writeFileSync(join(src, 'small.txt'), 'hello\n');
    fs.writeFileSync(join(src, 'medium.bin'), detBytes('medium', 3 * MiB + 17));
    fs.writeFileSync(join(src, 'nested/a/dup.bin'), detBytes('medium', 3 * MiB + 17)); // duplicate content
    fs.writeFileSync(join(src, 'private/tool.sh'), '#!/bin/sh\n', { mode: 0o755 });
    fs.writeFileSync(join(src, 'private/key'), 'k', { mode: 0o600 });
    fs.symlinkSync('small.txt', join(src, 'link-in'));
    fs.symlinkSync('/etc/passwd', join(src, 'link-out')); // outside the tree: stored as a link
    fs.symlinkSync('nested', join(src, 'link-dir')); // never followed
    fs.symlinkSync('does-not-exist', join(src, 'dangling'));
    const oddName = Buffer.concat([
      Buffer.from(src),
      Buffer.from('/'),
      Buffer.from([0x66, 0xff, 0xfe, 0x80]),
    ]);
    fs.writeFileSync(oddName, 'not utf-8');
    fs.writeFileSync(join(src, 'new\nline.txt'), 'newline in the name');
    const sparse = join(src, 'sparse.img');
    const fd = fs.openSync(sparse, 'w');
    fs.writeSync(fd, Buffer.from('head'), 0, 4, 0);
    fs.writeSync(fd, Buffer.from('middle'), 0, 6, 40 * MiB);
    fs.ftruncateSync(fd, 64 * MiB);
    fs.closeSync(fd);
    fs.writeFileSync(join(src, 'locked.txt'), 'secret', { mode: 0o000 });
    fs.writeFileSync(join(src, 'grows-once.log'), detBytes('log', 2 * MiB));
    fs.writeFileSync(join(src, 'always-changing.log'), 'v0');
    const config = localConfig(root, [src], { workers: 2 });
    const summary = await withRepo(config, (repo) =>
      backup(repo, {
        hooks: {
          beforeRead: (path) => {
            if (isRoot && path.toString().endsWith('/locked.txt')) throw eaccess();
          },
          onFileBatch: (path, attempt) => {
            const p = path.toString();
            if (p.endsWith('/grows-once.log') && attempt === 1) fs.appendFileSync(p, 'appended while read');
            if (p.endsWith('/always-changing.log')) fs.appendFileSync(p, `+${attempt}`);
          },
        },
      }),
    );
    expect(summary.warnings.some((w) => w.includes('locked.txt') && w.includes('EACCES'))).toBe(true);
    expect(summary.warnings.some((w) => w.includes('always-changing.log') && w.includes('torn'))).toBe(true);
    expect(summary.warnings.some((w) => w.includes('grows-once.log'))).toBe(false);
    expect(summary.scan.symlinks).toBe(4);

    const target = join(root, 'restored');
    const restored = await withRepo(config, (repo) => restore(repo, { target }));
    expect(restored.tornFiles.some((t) => t.endsWith('always-changing.log'))).toBe(true);
    const expected = describeTree(src);
    const actual = describeTree(join(target, src));
    expected.delete('/locked.txt');
    expected.delete('/always-changing.log');
    expect(actual.has('/locked.txt')).toBe(false);
    expect(actual.get('/always-changing.log')).toMatch(/^file/);
    actual.delete('/always-changing.log');
    expectSameTree(actual, expected);
    expect(fs.readlinkSync(join(target, src, 'link-out'))).toBe('/etc/passwd');
    expect(fs.lstatSync(join(target, src, 'link-dir')).isSymbolicLink()).toBe(true);
    expect(
      fs
        .readFileSync(join(target, src, 'grows-once.log'))
        .toString()
        .endsWith('appended while read'),
    ).toBe(true);
    // The sparse file stays sparse.
    expect(fs.statSync(join(target, src, 'sparse.img')).blocks * 512).toBeLessThan(16 * MiB);
    fs.chmodSync(join(src, 'locked.txt'), 0o600);
  });

  it('a file over 4 GiB (sparse) round trips', async () => {
    const root = tempDir('big');
    const src = join(root, 'src');
    fs.mkdirSync(src);
    const big = join(src, 'big.img');
    const size = 4 * 1024 * MiB + 4097;
    const fd = fs.openSync(big, 'w');
    fs.writeSync(fd, detBytes('start', 1 * MiB), 0, MiB, 0);
    fs.writeSync(fd, detBytes('end', 3000), 0, 3000, size - 3000);
    fs.writeSync(fd, Buffer.from('past 2^32'), 0, 9, 2 ** 32 + 5);
    fs.closeSync(fd);
    const config = localConfig(root, [src]);
    const summary = await withRepo(config, (repo) => backup(repo));
    expect(summary.scan.bytes).toBe(size);
    const target = join(root, 'out');
    await withRepo(config, (repo) => restore(repo, { target }));
    const out = join(target, big);
    expect(fs.statSync(out).size).toBe(size);
    expect(sameBytes(out, big)).toBe(true);
    expect(fs.statSync(out).blocks * 512).toBeLessThan(64 * MiB); // holes stay holes
  }, 60_000);

  it('restores with any m shards of every stripe deleted or corrupted; m+1 lost is a clear error', async () => {
    const root = tempDir('loss');
    const src = join(root, 'src');
    fs.mkdirSync(src);
    for (let i = 0; i < 4; i++) fs.writeFileSync(join(src, `f${i}.bin`), detBytes(`loss${i}`, 5 * MiB + i));
    const config = localConfig(root, [src]);
    await withRepo(config, async (repo) => {
      await backup(repo);
      expect(repo.m).toBe(2);
      let n = 0;
      for (const seq of repo.index.allStripeSeqs()) {
        const shards = repo.index.getShards(seq);
        // Lose m shards, choosing data and parity positions differently per stripe.
        for (const s of [shards[n % shards.length]!, shards[(n + 1) % shards.length]!]) {
          const member = config.members.find((mb) => mb.id === s.member)!;
          const path = join(member.dir, 'shards', s.shardId.slice(0, 2), s.shardId);
          if (n % 2 === 0) fs.rmSync(path);
          else {
            const bytes = fs.readFileSync(path);
            bytes[bytes.length - 1]! ^= 0x01;
            fs.writeFileSync(path, bytes);
          }
        }
        n++;
      }
      const target = join(root, 'out');
      const summary = await restore(repo, { target });
      expect(summary.rebuiltStripes).toBeGreaterThan(0);
      expectSameTree(describeTree(join(target, src)), describeTree(src));

      // One more loss in the first data stripe: unrecoverable, named, and nothing short is left.
      const seq = repo.index.allStripeSeqs()[0]!;
      for (const s of repo.index.getShards(seq)) await repo.directory.storeFor(s.member).delete(s.shardId);
      const target2 = join(root, 'out2');
      const error = await restore(repo, { target: target2 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PipelineError);
      expect((error as PipelineError).code).toBe('unrecoverable');
      expect((error as Error).message).toMatch(/f0\.bin/);
      expect((error as Error).message).toMatch(/cannot be read/);
      const left = fs.existsSync(join(target2, src)) ? fs.readdirSync(join(target2, src)) : [];
      expect(left.filter((f) => f.includes('pb-tmp'))).toEqual([]);
      expect(left).not.toContain('f0.bin');
    });
  });

  it('a wrong secret fails with a clear error', async () => {
    const root = tempDir('secret');
    const src = join(root, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(join(src, 'a'), 'a');
    const config = localConfig(root, [src]);
    await withRepo(config, (repo) => backup(repo));
    fs.writeFileSync(join(root, 'other-secret'), OTHER_SECRET_HEX);
    const error = await openRepository({ ...config, secretFile: join(root, 'other-secret') }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PipelineError);
    expect((error as PipelineError).code).toBe('wrong-secret');
    expect((error as Error).message).toMatch(/wrong recovery secret/);
  });

  it('unchanged files are not read again; partial and in-place restore; forget and gc', async () => {
    const root = tempDir('rerun');
    const src = join(root, 'src');
    fs.mkdirSync(join(src, 'keep'), { recursive: true });
    fs.mkdirSync(join(src, 'other'));
    fs.writeFileSync(join(src, 'keep/a.bin'), detBytes('a', 2 * MiB));
    fs.writeFileSync(join(src, 'other/b.bin'), detBytes('b', 2 * MiB));
    const config = localConfig(root, [src]);
    let t = Date.UTC(2026, 0, 1);
    const nowMs = (): number => t;
    await withRepo(config, async (repo) => {
      const first = await backup(repo, { nowMs });
      expect(first.scan.filesRead).toBe(2);
      t += 86_400_000;
      const second = await backup(repo, { nowMs });
      expect(second.scan.filesRead).toBe(0);
      expect(second.scan.filesUnchanged).toBe(2);
      expect(second.stored.objectsStored).toBe(1); // only the new snapshot object
      fs.writeFileSync(join(src, 'other/b.bin'), detBytes('b2', 3 * MiB));
      t += 86_400_000;
      const third = await backup(repo, { nowMs });
      expect(third.scan.filesRead).toBe(1);

      // Partial restore of the first snapshot.
      const target = join(root, 'part');
      await restore(repo, { snapshot: first.snapshotId, target, include: join(src, 'other') });
      expect(fs.existsSync(join(target, src, 'keep/a.bin'))).toBe(false);
      expect(fs.readFileSync(join(target, src, 'other/b.bin')).equals(detBytes('b', 2 * MiB))).toBe(true);

      // Forget all but the newest, gc, and the newest still restores in place.
      const { forget } = selectForget(
        repo.index.listSnapshots().map((s) => ({ id: s.id.toString('hex'), timeMs: s.timeMs })),
        { keepLast: 1 },
      );
      expect(forget.length).toBe(2);
      repo.index.deleteSnapshots(forget.map((s) => Buffer.from(s.id, 'hex')));
      // An orphan shard of this owner (as a killed run leaves behind) is collected too.
      const [orphan] = buildShards(`${repo.owner}/999/0`, repo.owner, 1, 1, [
        Buffer.alloc(8),
        Buffer.alloc(8),
      ]);
      await repo.directory.storeFor('m1').put(orphan!.id, orphan!.bytes);
      const before = shardFiles(root).length;
      const gc = await collectGarbage(repo);
      expect(gc.stripesDeleted).toBeGreaterThan(0);
      expect(gc.orphanShardsDeleted).toBe(1);
      expect(shardFiles(root).length).toBe(before - gc.shardsDeleted - 1);
      const expected = describeTree(src);
      fs.rmSync(src, { recursive: true });
      await restore(repo);
      expectSameTree(describeTree(src), expected);
      // After gc, the scan cache no longer names deleted chunks: b's old version is read if it reappears.
      fs.writeFileSync(join(src, 'other/b.bin'), detBytes('b', 2 * MiB));
      const fourth = await backup(repo, { nowMs });
      expect(fourth.scan.filesRead).toBe(2);
    });
  });

  it('rebuilds a lost index from the shards alone, then restores and deduplicates as before', async () => {
    const root = tempDir('rebuild');
    const src = join(root, 'src');
    fs.mkdirSync(join(src, 'd'), { recursive: true });
    fs.writeFileSync(join(src, 'd/a.bin'), detBytes('ra', 3 * MiB));
    fs.writeFileSync(join(src, 'b.txt'), 'b');
    const config = localConfig(root, [src]);
    let t = Date.UTC(2026, 5, 1);
    const nowMs = (): number => (t += 60_000);
    const snapshots = await withRepo(config, async (repo) => {
      await backup(repo, { nowMs });
      fs.writeFileSync(join(src, 'b.txt'), 'b2');
      await backup(repo, { nowMs });
      return repo.index.listSnapshots().map((s) => s.id.toString('hex'));
    });
    for (const f of fs.readdirSync(config.dataDir)) fs.rmSync(join(config.dataDir, f));
    await withRepo(config, async (repo) => {
      const summary = await rebuildIndex(repo.index, repo.directory, repo.keys, repo.owner, config.dataDir);
      expect(summary.unreadableStripes).toEqual([]);
      expect(summary.snapshots).toBe(2);
      expect(repo.index.listSnapshots().map((s) => s.id.toString('hex'))).toEqual(snapshots);
      const target = join(root, 'out');
      let last = { bytesWritten: 0, bytesTotal: -1, files: -1 };
      await restore(repo, {
        target,
        onProgress: (p) =>
          (last = { bytesWritten: p.bytesWritten, bytesTotal: p.bytesTotal, files: p.files }),
      });
      expectSameTree(describeTree(join(target, src)), describeTree(src));
      // The last progress report counts every restored file and byte (a progress line said "0 files").
      expect(last).toEqual({ bytesWritten: 3 * MiB + 2, bytesTotal: 3 * MiB + 2, files: 2 });
      const again = await backup(repo, { nowMs });
      expect(again.scan.filesRead).toBe(2); // the scan cache is not rebuilt...
      expect(again.stored.objectsStored).toBe(1); // ...but every chunk and tree is found: only the snapshot is new
      await expect(
        rebuildIndex(repo.index, repo.directory, repo.keys, repo.owner, config.dataDir),
      ).rejects.toThrow(/not empty/);
    });
  });

  it("rebuilds from a local disk reading each shard's trailer from its tail, and k whole shards per stripe", async () => {
    const { root, src, config, before } = await backedUpThenIndexLost('rebuild-tails', 'tl');
    await withRepo(config, async (repo) => {
      let tails = 0;
      const { directory, counted } = servedAs(repo.directory, (store) => ({
        readTail: (id, maxBytes) => {
          tails++;
          return store.readTail!(id, maxBytes);
        },
      }));
      const summary = await rebuildIndex(repo.index, directory, repo.keys, repo.owner, config.dataDir);
      expect(summary.unreadableStripes).toEqual([]);
      const stripes = repo.index.allStripeSeqs();
      const k = repo.index.getStripe(stripes[0]!)!.k;
      expect(tails).toBe(before.flat().length);
      expect(counted.gets).toBe(stripes.length * k);
      await expectRebuiltExactly(repo, before, root, src);
    });
  });

  it('rebuilds from listed trailers (no download just to read them); a listed id that lies is replaced', async () => {
    const { root, src, config, before } = await backedUpThenIndexLost('rebuild-listed', 'la');
    await withRepo(config, async (repo) => {
      let lied = 0;
      // Members that list their shards with trailer fields, as a holder's catalog does; the
      // first parity shard listed is given a wrong id (a holder's listing is never trusted).
      const { directory, counted } = servedAs(repo.directory, (store) => ({
        listOwned: async (owner: string): Promise<ListedShard[]> => {
          const out: ListedShard[] = [];
          for (const id of await store.list()) {
            const { header } = decodeShardHeader(await store.get(id));
            if (header.owner !== owner) continue;
            const lie = header.index >= header.k && lied === 0;
            if (lie) lied++;
            out.push({
              id: lie ? 'f'.repeat(64) : id,
              stripeId: header.stripeId,
              k: header.k,
              m: header.m,
              index: header.index,
              bodyBytes: header.bodyBytes,
            });
          }
          return out;
        },
      }));
      const summary = await rebuildIndex(repo.index, directory, repo.keys, repo.owner, config.dataDir);
      expect(lied).toBe(1);
      expect(summary.unreadableStripes).toEqual([]);
      expect(summary.snapshots).toBe(1);
      // Each stripe costs k gets (the listing reads the inner stores, as a holder's catalog would):
      // no pass over every shard.
      const stripes = repo.index.allStripeSeqs();
      const k = repo.index.getStripe(stripes[0]!)!.k;
      expect(counted.gets).toBe(stripes.length * k);
      await expectRebuiltExactly(repo, before, root, src);
    });
  });

  it('rebuilds from shards in memory of their own (hashed off the main thread); a bad body is named and another shard read', async () => {
    const { root, src, config, before } = await backedUpThenIndexLost('rebuild-owned', 'ob');
    await withRepo(config, async (repo) => {
      let damaged = 0;
      // As a member over the network hands them over: each shard in a buffer of its own. The
      // first data shard read for its body (its second read: the first is for its trailer)
      // arrives with one byte of its body changed (its trailer intact).
      const reads = new Map<string, number>();
      const { directory, counted } = servedAs(repo.directory, undefined, async (store, id) => {
        const bytes = new Uint8Array(await store.get(id));
        reads.set(id, (reads.get(id) ?? 0) + 1);
        if (damaged === 0 && reads.get(id) === 2 && decodeShardHeader(bytes).header.index === 0) {
          damaged++;
          bytes[100] = bytes[100]! ^ 0xff;
        }
        return bytes;
      });
      const summary = await rebuildIndex(repo.index, directory, repo.keys, repo.owner, config.dataDir);
      expect(damaged).toBe(1);
      expect(summary.unreadableStripes).toEqual([]);
      // Every shard's trailer is read once (a directory without listings), then k per stripe and
      // one more for the damaged one.
      const stripes = repo.index.allStripeSeqs();
      const k = repo.index.getStripe(stripes[0]!)!.k;
      const shards = before.flat().length;
      expect(counted.gets).toBe(shards + stripes.length * k + 1);
      await expectRebuiltExactly(repo, before, root, src);
    });
  });

  it('a recovery keeps the data shards its rebuild downloaded: the restore reads them from this disk, not from the members', async () => {
    await withKeptRebuild('rebuild-kept', 'kc', async ({ root, src, repo, cache, lines, restoreBytes }) => {
      const dataShards = repo.index
        .allStripeSeqs()
        .flatMap((seq) => repo.index.getShards(seq).filter((r) => r.idx < repo.index.getStripe(seq)!.k));
      await cache.settle(restoreBytes);
      expect(lines.join('\n')).toMatch(/the restore reads the \d+ shards .* from this disk/);
      const kept = shardFiles(repo.config.dataDir, 'recovery-cache');
      expect(kept.map((f) => f.split('/').at(-1)).sort()).toEqual(dataShards.map((r) => r.shardId).sort());
      // The members lose every data shard: only the kept copies (and the parity) remain.
      for (const f of shardFiles(root)) if (dataShards.some((r) => f.endsWith(r.shardId))) fs.rmSync(f);
      const target = join(root, 'out');
      const summary = await restore({ ...repo, directory: cache.directory(repo.directory) }, { target });
      expectSameTree(describeTree(join(target, src)), describeTree(src));
      expect(summary.badShards).toEqual([]);
      expect(summary.rebuiltStripes).toBe(0);
      await cache.remove();
      expect(fs.existsSync(cache.root)).toBe(false);
    });
  });

  it('a kept shard that is damaged is read from its member; kept shards the disk cannot spare are removed before the restore', async () => {
    await withKeptRebuild(
      'rebuild-kept-bad',
      'kd',
      async ({ root, src, repo, cache, lines, restoreBytes }) => {
        await cache.settle(restoreBytes);
        const first = shardFiles(repo.config.dataDir, 'recovery-cache')[0]!;
        const bytes = fs.readFileSync(first);
        bytes[1000] = bytes[1000]! ^ 0xff;
        fs.writeFileSync(first, bytes);
        const reading = { ...repo, directory: cache.directory(repo.directory) };
        const target = join(root, 'out');
        await restore(reading, { target });
        expectSameTree(describeTree(join(target, src)), describeTree(src));
        // A restore larger than the disk could hold beside the kept shards: they go, and the
        // members serve every read.
        await cache.settle(2 ** 52);
        expect(lines.at(-1)).toMatch(/^removing the .* of downloaded shards: .* free, the restore needs/);
        expect(fs.existsSync(cache.root)).toBe(false);
        const again = join(root, 'again');
        await restore(reading, { target: again });
        expectSameTree(describeTree(join(again, src)), describeTree(src));
      },
    );
  });

  it('a cache that fills up stops keeping, says so, and the restore downloads what it lacks', async () => {
    // Room for one shard: the first stripe's second data shard does not fit.
    const oneShard = (root: string) => fs.statSync(shardFiles(root)[0]!).size;
    await withKeptRebuild(
      'rebuild-kept-full',
      'kf',
      async ({ root, src, repo, cache, lines, rebuilt, restoreBytes }) => {
        expect(rebuilt.unreadableStripes).toEqual([]);
        await cache.settle(restoreBytes);
        expect(lines).toEqual([
          expect.stringMatching(
            /^stopped keeping downloaded shards after 0 \(0 B\): .* does not fit: .*; the restore downloads the others$/,
          ),
        ]);
        expect(fs.existsSync(cache.root)).toBe(false);
        const target = join(root, 'out');
        await restore({ ...repo, directory: cache.directory(repo.directory) }, { target });
        expectSameTree(describeTree(join(target, src)), describeTree(src));
      },
      oneShard,
    );
  });

  it('every file mode comes back exactly, new directories and existing ones, under every policy', async () => {
    const root = tempDir('modes');
    const src = join(root, 'src');
    fs.mkdirSync(join(src, 'sub'), { recursive: true });
    // Small files take their mode at creation when the umask leaves it whole; the others (the
    // umask clears a bit, or setuid/setgid/sticky) are set afterwards: both must be exact.
    const modes = [0o644, 0o600, 0o755, 0o444, 0o664, 0o666, 0o640, 0o4755, 0o2755, 0o1644, 0o000];
    for (const [i, mode] of modes.entries()) {
      for (const dir of [src, join(src, 'sub')]) {
        const path = join(dir, `m${mode.toString(8)}`);
        fs.writeFileSync(path, `file ${i}\n`);
        fs.chmodSync(path, mode);
      }
    }
    const config = localConfig(root, [src]);
    await withRepo(config, async (repo) => {
      await backup(repo);
      const fresh = join(root, 'fresh');
      await restore(repo, { target: fresh, overwrite: 'never' });
      expectSameTree(describeTree(join(fresh, src)), describeTree(src));
      // Into directories that exist (lstat path): files missing there are written, modes exact.
      const existing = join(root, 'existing');
      fs.mkdirSync(join(existing, src, 'sub'), { recursive: true });
      await restore(repo, { target: existing, overwrite: 'if-newer' });
      expectSameTree(describeTree(join(existing, src)), describeTree(src));
    });
  });

  it('refuses to back up emptied sources over a non-empty snapshot', async () => {
    const root = tempDir('empty');
    const src = join(root, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(join(src, 'a'), 'a');
    const config = localConfig(root, [src]);
    await withRepo(config, async (repo) => {
      await backup(repo);
      fs.rmSync(join(src, 'a'));
      await expect(backup(repo)).rejects.toThrow(/emptiness/);
      // The daemon tells this refusal apart by its class and field, not by its text.
      await expect(backup(repo)).rejects.toBeInstanceOf(EmptySourcesError);
      await expect(backup(repo)).rejects.toMatchObject({ code: 'invalid-argument', previousFiles: 1 });
      await expect(backup(repo, { allowEmpty: true })).resolves.toBeTruthy();
    });
  });
});

describe('retention policy', () => {
  it('keeps the last, daily and weekly snapshots as restic does', () => {
    const day = 86_400_000;
    const base = Date.UTC(2026, 10, 2, 12); // a Monday
    const snaps = Array.from({ length: 30 }, (_, i) => ({
      id: `s${String(i).padStart(2, '0')}`,
      timeMs: base + i * day * 0.5,
    }));
    expect(selectForget(snaps, { keepLast: 3 }).keep.map((s) => s.id)).toEqual(['s29', 's28', 's27']);
    const daily = selectForget(snaps, { keepDaily: 3 }).keep.map((s) => s.id);
    expect(daily).toEqual(['s29', 's28', 's26']);
    const weekly = selectForget(snaps, { keepWeekly: 2 }).keep.map((s) => s.id);
    expect(weekly.length).toBe(2);
    expect(weekly[0]).toBe('s29');
    expect(() => selectForget(snaps, {})).toThrow(/must keep something/);
  });
});
