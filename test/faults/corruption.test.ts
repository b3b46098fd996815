/**
 * Corruption on the holders (local mode, the members' shard directories are the holders' disks).
 * - Up to m per stripe: random shard files are flipped (one bit), truncated or deleted, in every
 *   stripe at once (seeded; CI 3 rounds, --long 30). Every damaged data shard is detected on read
 *   (the restore rebuilds exactly those stripes from parity) and the restore is bit-identical.
 * - Beyond m: m+1 shards of one data stripe are damaged; the restore fails with a typed
 *   'unrecoverable' error naming exactly the files that had a chunk in that stripe, and writes
 *   every other file bit-identical.
 * - Audit and repair: skipped until the repair worker lands (see the skipped test below).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import seedrandom from 'seedrandom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTree, expectSameTree, tempDir } from '../runtime/helpers.ts';
import { LONG, scaledTimeoutMs } from './_counts.ts';
import { localRepo, MiB, pbJson, pbNode, shardFiles, writeFiles } from './_local.ts';

const root = tempDir('faults-corruption');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

interface StripeShards {
  seq: number;
  k: number;
  m: number;
  /** Shard files in shard order (index 0..k+m-1). */
  files: string[];
  dataOnly: boolean;
}

function stripes(dataDir: string): StripeShards[] {
  const byId = new Map<string, string>();
  for (const files of shardFiles(root).values()) for (const f of files) byId.set(basename(f), f);
  const db = new Database(join(dataDir, 'index.sqlite'), { readonly: true });
  try {
    const rows = db.prepare('SELECT seq, k, m FROM stripes ORDER BY seq').all() as {
      seq: number;
      k: number;
      m: number;
    }[];
    return rows.map((r) => {
      const shards = db
        .prepare('SELECT idx, shard_id FROM shards WHERE stripe_seq = ? ORDER BY idx')
        .all(r.seq) as { idx: number; shard_id: string }[];
      const kinds = db.prepare('SELECT DISTINCT kind FROM objects WHERE stripe_seq = ?').all(r.seq) as {
        kind: number;
      }[];
      return {
        ...r,
        files: shards.map((s) => {
          const f = byId.get(s.shard_id);
          if (!f) throw new Error(`shard ${s.shard_id} of stripe ${r.seq} is on no member`);
          return f;
        }),
        dataOnly: kinds.length === 1 && kinds[0]!.kind === 0,
      };
    });
  } finally {
    db.close();
  }
}

/** Paths of the source files with at least one chunk in stripe `seq` (from the index's file cache). */
function filesInStripe(dataDir: string, seq: number): string[] {
  const db = new Database(join(dataDir, 'index.sqlite'), { readonly: true });
  try {
    const inStripe = new Set(
      (db.prepare('SELECT id FROM objects WHERE stripe_seq = ?').all(seq) as { id: Buffer }[]).map((r) =>
        r.id.toString('hex'),
      ),
    );
    const out: string[] = [];
    for (const row of db.prepare('SELECT path, chunks FROM files').all() as {
      path: Buffer;
      chunks: Buffer;
    }[]) {
      expect(row.chunks.length % 32).toBe(0);
      for (let i = 0; i < row.chunks.length; i += 32) {
        if (inStripe.has(row.chunks.subarray(i, i + 32).toString('hex'))) {
          out.push(row.path.toString());
          break;
        }
      }
    }
    return out.sort();
  } finally {
    db.close();
  }
}

type Damage = 'flip' | 'truncate' | 'delete';

function damage(file: string, how: Damage, random: () => number): void {
  if (how === 'delete') fs.rmSync(file);
  else if (how === 'truncate') fs.truncateSync(file, Math.floor(random() * fs.statSync(file).size));
  else {
    const fd = fs.openSync(file, 'r+');
    const size = fs.fstatSync(fd).size;
    const at = Math.floor(random() * size);
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0]! ^= 1 << Math.floor(random() * 8);
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);
  }
}

describe('corruption of shard files on the holders', () => {
  let config = '';
  let src = '';
  let data = '';
  const pristine = join(root, 'members-pristine');

  beforeAll(async () => {
    ({ config, src, data } = await localRepo(root));
    writeFiles(src, 'corrupt', 14, 6 * MiB, 'plan');
    await pbJson(config, ['backup']);
    fs.cpSync(join(root, 'members'), pristine, { recursive: true });
  }, 120_000);

  const putBack = () => {
    fs.rmSync(join(root, 'members'), { recursive: true, force: true });
    fs.cpSync(pristine, join(root, 'members'), { recursive: true });
  };

  it(
    'up to m damaged shards per stripe: detected on read, restore exact',
    async () => {
      const seed = process.env.PB_FAULTS_SEED ?? 'pb-faults-corruption-1';
      const random = seedrandom(seed);
      const rounds = LONG ? 30 : 3;
      let injected = 0;
      const all = stripes(data);
      expect(all.length).toBeGreaterThanOrEqual(3);
      for (let round = 0; round < rounds; round++) {
        putBack();
        let expectRebuilt = 0;
        for (const s of all) {
          const count = Math.floor(random() * (s.m + 1)); // 0..m shards of this stripe
          const order = s.files
            .map((_, i) => i)
            .sort(() => random() - 0.5)
            .slice(0, count);
          for (const i of order) {
            damage(s.files[i]!, (['flip', 'truncate', 'delete'] as const)[Math.floor(random() * 3)]!, random);
            injected++;
          }
          if (order.some((i) => i < s.k)) expectRebuilt++;
        }
        const target = join(root, `restore-${round}`);
        const summary = await pbJson<{ rebuiltStripes: number }>(config, ['restore', '--target', target]);
        expect(summary.rebuiltStripes).toBe(expectRebuilt);
        expectSameTree(describeTree(join(target, src)), describeTree(src));
        fs.rmSync(target, { recursive: true, force: true });
      }
      console.log(
        `corruption (seed ${seed}): ${rounds} rounds over ${all.length} stripes, ${injected} shard files damaged; data lost: 0`,
      );
    },
    scaledTimeoutMs(180_000, 1_800_000),
  );

  it('beyond m in one stripe: the restore names exactly the unrecoverable files', async () => {
    putBack();
    const all = stripes(data);
    const victim = all.find((s) => s.dataOnly);
    expect(victim, 'a stripe holding file data only').toBeDefined();
    const expected = filesInStripe(data, victim!.seq);
    expect(expected.length).toBeGreaterThan(0);
    for (let i = 0; i <= victim!.m; i++) damage(victim!.files[i]!, 'delete', Math.random);
    const target = join(root, 'restore-beyond-m');
    const r = await pbNode(['-c', config, 'restore', '--target', target, '--json']);
    expect(r.code).toBe(1);
    const err = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(err.error.code).toBe('unrecoverable');
    const named = [...err.error.message.matchAll(/^\s*file (.+?): /gm)].map((m) => m[1]!).sort();
    expect(named).toEqual(expected.map((p) => join(target, p)).sort());
    // Every other file is there, bit-identical.
    const lost = new Set(expected);
    let kept = 0;
    for (const rel of fs.readdirSync(src, { recursive: true, encoding: 'utf8' })) {
      const path = join(src, rel);
      if (!fs.statSync(path).isFile()) continue;
      const out = join(target, path);
      if (lost.has(path)) expect(fs.existsSync(out)).toBe(false);
      else {
        const h = (p: string) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');
        expect(h(out)).toBe(h(path));
        kept++;
      }
    }
    console.log(
      `beyond m: stripe ${victim!.seq} lost; restore named ${named.length} files exactly, ${kept} restored exactly`,
    );
    putBack();
  }, 120_000);

  it.skip('audit and repair: damaged shards are found by the periodic audit and repaired (waits for the repair worker)', () => {
    // Lands with the repair worker (issue 8): damage up to m shards per stripe on daemon holders,
    // let the audit run, expect every damaged shard re-created on a live holder and a clean
    // `pb-node restore` with no stripe rebuilt from parity. The repair worker is built on another
    // branch; this test is written when both are merged.
  });
});
