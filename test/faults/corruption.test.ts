/**
 * Corruption on the holders (local mode, the members' shard directories are the holders' disks).
 * - Up to m per stripe: random shard files are flipped (one bit), truncated or deleted, in every
 *   stripe at once (seeded; CI 3 rounds, --long 30). Every damaged data shard is detected on read
 *   (the restore rebuilds exactly those stripes from parity) and the restore is bit-identical.
 * - Beyond m: m+1 shards of one data stripe are damaged; the restore fails with a typed
 *   'unrecoverable' error naming exactly the files that had a chunk in that stripe, and writes
 *   every other file bit-identical.
 * - Audit and repair (four pb-node processes): up to m shard files per stripe are damaged on the
 *   holders; repair rounds (control method `repair`) audit every held shard, quarantine the damaged
 *   ones, and repair their stripes; every stripe is whole again and the restore rebuilds nothing.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import seedrandom from 'seedrandom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeShard } from '../../runtime/pipeline/shard-format.ts';
import { cli, initNode, type Proc, waitFor } from '../runtime/daemon/_cluster.ts';
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
    // The cache names chunks by the first 16 bytes of their ids (docs/formats.md, "Index").
    const inStripe = new Set(
      (db.prepare('SELECT id FROM objects WHERE stripe_seq = ?').all(seq) as { id: Buffer }[]).map((r) =>
        r.id.subarray(0, 16).toString('hex'),
      ),
    );
    const out: string[] = [];
    for (const row of db
      .prepare('SELECT d.path || f.name AS path, f.chunks FROM files f JOIN dirs d ON d.id = f.dir')
      .all() as {
      path: Buffer;
      chunks: Buffer;
    }[]) {
      expect(row.chunks.length % 16).toBe(0);
      for (let i = 0; i < row.chunks.length; i += 16) {
        if (inStripe.has(row.chunks.subarray(i, i + 16).toString('hex'))) {
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
    const r = await pbNode(['local', '-c', config, 'restore', '--target', target, '--json']);
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
});

/** A held shard as its file on a member's disk says. */
interface HeldShard {
  member: string;
  file: string;
  stripeId: string;
  k: number;
  m: number;
  index: number;
}

/** The shards under a daemon's store that verify (SHA-256 = name, body against its trailer). */
function verifiedShards(dir: string, member: string): HeldShard[] {
  const top = join(dir, 'shards', 'store', 'shards');
  if (!fs.existsSync(top)) return [];
  const out: HeldShard[] = [];
  for (const fan of fs.readdirSync(top)) {
    for (const name of fs.readdirSync(join(top, fan))) {
      const file = join(top, fan, name);
      const bytes = fs.readFileSync(file);
      if (createHash('sha256').update(bytes).digest('hex') !== name) continue;
      try {
        const { header } = decodeShard(bytes, true);
        out.push({ member, file, ...header });
      } catch {
        // damaged: not counted
      }
    }
  }
  return out;
}

describe('audit and repair across pb-node processes', () => {
  const dir = join(root, 'cluster');
  const nodes: Proc[] = [];
  const names = ['owner', 'h1', 'h2', 'h3'];
  const ids = new Map<Proc, string>();
  let home = '';

  const logs = (): string =>
    nodes
      .map((p) => {
        const file = join(p.dir, 'pb-node.log');
        const lines = fs.existsSync(file)
          ? fs
              .readFileSync(file, 'utf8')
              .split('\n')
              .filter((l) => !/sync with|webrtc dial|cannot reach/.test(l))
          : [];
        return `== ${basename(p.dir)}\n${lines.slice(-25).join('\n')}`;
      })
      .join('\n');
  const explained = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      process.stderr.write(`${logs()}\n`);
      throw error;
    }
  };

  beforeAll(async () => {
    fs.mkdirSync(dir, { recursive: true });
    home = join(dir, 'home');
    writeFiles(home, 'audit', 10, 4 * MiB, 'plan');
    const procs = await Promise.all(
      names.map((n) =>
        initNode(dir, n, [
          '--pledge',
          '96MiB',
          '--schedule',
          'off',
          ...(n === 'owner' ? ['--directories', home] : []),
        ]),
      ),
    );
    // Rounds only on demand (and the first after start); every shard audited in one round.
    for (const p of procs)
      fs.appendFileSync(
        join(p.dir, 'config'),
        '\nrepair = {"intervalMs":600000,"graceMs":60000,"settleMs":0,"bytesPerSecond":0,"auditBytesPerRound":1073741824}\n',
      );
    nodes.push(...procs);
    await Promise.all(procs.map((p) => p.start()));
    for (const p of procs) ids.set(p, ((await p.call('status')) as { id: string }).id);
    const [owner, ...others] = procs as [Proc, Proc, Proc, Proc];
    expect((await cli(['create', '--dir', owner.dir, '--ratio', '1.5', '--tolerance', '1'])).code).toBe(0);
    for (const candidate of others) {
      const code = (await cli(['invite', '--dir', owner.dir])).stdout.trim();
      const joining = cli(['join', code, '--dir', candidate.dir, '--json', '--wait', '60s']);
      const name = basename(candidate.dir);
      await waitFor(
        `${name}'s request`,
        async () => ((await owner.call('requests')) as { name: string }[]).some((r) => r.name === name),
        60_000,
      );
      expect((await cli(['approve', name, '--dir', owner.dir])).code).toBe(0);
      expect(JSON.parse((await joining).stdout)).toMatchObject({ outcome: 'approved' });
    }
    for (const p of procs)
      await waitFor(
        'four members with their pledges',
        async () =>
          ((await p.call('members')) as { pledgeBytes: number }[]).filter((m) => m.pledgeBytes > 0).length ===
          4,
        60_000,
      );
  }, 240_000);

  afterAll(async () => {
    await Promise.all(nodes.map((p) => p.stop()));
  });

  let written = 0;
  const holderProcs = (): Proc[] => nodes.slice(1);
  const held = (): HeldShard[] => holderProcs().flatMap((h) => verifiedShards(h.dir, ids.get(h)!));
  /** Every stripe has k+m verified shards, each on a different holder. */
  const whole = (): boolean => {
    const byStripe = new Map<string, HeldShard[]>();
    for (const s of held()) byStripe.set(s.stripeId, [...(byStripe.get(s.stripeId) ?? []), s]);
    if (byStripe.size !== written) return false;
    for (const shards of byStripe.values()) {
      const { k, m } = shards[0]!;
      if (new Set(shards.map((s) => s.index)).size !== k + m) return false;
      if (new Set(shards.map((s) => s.member)).size !== k + m) return false;
    }
    return true;
  };
  /** The owner's words and one holder's address restore everything, bit-identical. */
  const restoreExact = async (name: string): Promise<void> => {
    const [owner, h1] = nodes as [Proc, Proc];
    const words = join(dir, 'words');
    fs.writeFileSync(words, fs.readFileSync(join(owner.dir, 'secret'), 'utf8'), { mode: 0o600 });
    const status = (await h1.call('status')) as { addresses: string[] };
    const address = status.addresses.find((a) => a.includes('/tcp/') && !a.includes('p2p-circuit'))!;
    const target = join(dir, name);
    const r = await cli([
      'restore',
      '--peer',
      address,
      '--secret-file',
      words,
      '--target',
      target,
      '--dir',
      join(dir, `${name}-owner`),
      '--test-network',
      '--json',
    ]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expectSameTree(describeTree(join(target, home)), describeTree(home));
  };
  const roundsUntilWhole = (timeoutMs: number): Promise<boolean> =>
    waitFor(
      'every stripe whole again',
      async () => {
        for (const h of holderProcs()) await h.call('repair').catch(() => undefined);
        return whole();
      },
      timeoutMs,
    );

  it(
    'audit and repair: damaged shards are found by the periodic audit and repaired',
    () =>
      explained(async () => {
        const [owner, ...holders] = nodes as [Proc, Proc, Proc, Proc];
        const b = await cli(['backup', '--dir', owner.dir, '--json']);
        expect(b.code, b.stderr + b.stdout).toBe(0);
        written = (JSON.parse(b.stdout) as { stored: { stripes: number } }).stored.stripes;
        expect(written).toBeGreaterThanOrEqual(3);
        expect(whole()).toBe(true);

        // Up to m shard files per stripe damaged on the holders: flipped, truncated or deleted.
        const seed = process.env.PB_FAULTS_SEED ?? 'pb-faults-audit-1';
        const random = seedrandom(seed);
        const byStripe = new Map<string, HeldShard[]>();
        for (const s of held()) byStripe.set(s.stripeId, [...(byStripe.get(s.stripeId) ?? []), s]);
        let injected = 0;
        let deleted = 0;
        const kinds: Damage[] = ['flip', 'truncate', 'delete'];
        for (const shards of byStripe.values()) {
          const count = injected < 3 ? shards[0]!.m : Math.floor(random() * (shards[0]!.m + 1));
          const chosen = [...shards].sort(() => random() - 0.5).slice(0, count);
          for (const s of chosen) {
            const how = kinds[injected++ % 3]!;
            if (how === 'delete') deleted++;
            damage(s.file, how, random);
          }
        }
        expect(injected).toBeGreaterThanOrEqual(3);
        expect(whole()).toBe(false);

        // Rounds on every holder: each audits its shards, then the planner repairs the stripes.
        await roundsUntilWhole(90_000);
        const statuses = await Promise.all(
          holders.map(
            async (h) =>
              (
                (await h.call('status')) as {
                  repair: {
                    corruptFound: number;
                    auditedShards: number;
                    repairsDone: number;
                    failedTasks: number;
                  };
                }
              ).repair,
          ),
        );
        const sum = (f: (r: (typeof statuses)[number]) => number): number =>
          statuses.reduce((n, r) => n + f(r), 0);
        expect(sum((r) => r.corruptFound)).toBe(injected);
        expect(sum((r) => r.auditedShards)).toBeGreaterThanOrEqual(written * 3);
        expect(sum((r) => r.repairsDone)).toBeGreaterThan(0);
        // Damaged files are in quarantine, not in the store (deleted ones are simply gone).
        const quarantined = holders.flatMap((h) => {
          const q = join(h.dir, 'shards', 'store', 'quarantine');
          return fs.existsSync(q) ? fs.readdirSync(q) : [];
        });
        expect(quarantined.length).toBe(injected - deleted);

        await restoreExact('restored');
        console.log(
          `audit and repair (seed ${seed}): ${written} stripes, ${injected} shard files damaged, all found and repaired; data lost: 0`,
        );
      }),
    scaledTimeoutMs(150_000, 600_000),
  );
  it(
    'a repairer killed (kill -9) mid-repair: after its restart the next rounds finish, nothing lost, no partial shard',
    () =>
      explained(async () => {
        expect(written).toBeGreaterThan(0); // the test above backed up
        const [h1, h2, h3] = holderProcs() as [Proc, Proc, Proc];
        // A bandwidth cap on the would-be repairers, so a repair takes seconds and a kill lands in it.
        // Each keeps its port (the address the group knows: a restore dials it from the op log).
        for (const p of [h2, h3]) {
          const address = ((await p.call('status')) as { addresses: string[] }).addresses.find(
            (a) => a.includes('/tcp/') && !a.includes('p2p-circuit'),
          )!;
          const port = /\/tcp\/(\d+)/.exec(address)![1];
          await p.stop();
          const config = join(p.dir, 'config');
          fs.writeFileSync(
            config,
            fs
              .readFileSync(config, 'utf8')
              .replace('"bytesPerSecond":0', '"bytesPerSecond":2097152')
              .replace(/^listen = .*$/m, `listen = ["/ip4/127.0.0.1/tcp/${port}","/p2p-circuit","/webrtc"]`),
          );
          await p.start();
        }
        // h1's disk loses every shard while it stays online; its audit finds them gone.
        const h1Shards = verifiedShards(h1.dir, ids.get(h1)!);
        expect(h1Shards.length).toBe(written);
        for (const s of h1Shards) fs.rmSync(s.file);
        await h1.call('repair');
        expect(
          ((await h1.call('status')) as { repair: { corruptFound: number } }).repair.corruptFound,
        ).toBeGreaterThanOrEqual(written);
        // The member that queues a repair is the repairer: killed (kill -9) while it runs.
        const repairer = await waitFor(
          'a member that queues a repair',
          async () => {
            for (const p of [h2, h3]) {
              const r = (await p.call('repair')) as { queuedNow: { repairs: number } };
              if (r.queuedNow.repairs > 0) return p;
            }
            return null;
          },
          60_000,
        );
        await waitFor(
          'the repair running',
          async () => ((await repairer.call('status')) as { repair: { running: number } }).repair.running > 0,
          30_000,
        );
        await new Promise((r) => setTimeout(r, 1000)); // into the transfer (seconds at the cap)
        const child = repairer.child!;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
        repairer.child = null;
        expect(whole()).toBe(false); // cut off mid-repair
        // No partial shard on the new holder: every file in its store verifies, nothing half-written.
        const h1Store = join(h1.dir, 'shards', 'store');
        for (const fan of fs.readdirSync(join(h1Store, 'shards')))
          for (const name of fs.readdirSync(join(h1Store, 'shards', fan)))
            expect(
              createHash('sha256')
                .update(fs.readFileSync(join(h1Store, 'shards', fan, name)))
                .digest('hex'),
            ).toBe(name);
        expect(fs.readdirSync(join(h1Store, 'tmp'))).toEqual([]);
        // Restarted, the next rounds complete the repair.
        await repairer.start();
        await roundsUntilWhole(90_000);
        expect(verifiedShards(h1.dir, ids.get(h1)!).length).toBe(written);
        await restoreExact('restored-after-kill');
        console.log(`repairer killed mid-repair: ${written} stripes whole after its restart; data lost: 0`);
      }),
    scaledTimeoutMs(150_000, 300_000),
  );
});
