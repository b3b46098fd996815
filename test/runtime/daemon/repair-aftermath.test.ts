/**
 * After a holder goes away, across five pb-node processes (owner + four holders, k=2 m=1):
 *
 *  - its last sighting survives a restart of every other daemon (last-seen.json): it stays
 *    "last seen at T" and its shards are repaired once the grace counted from T is over, not a
 *    full grace after the restart;
 *  - once it is removed, `pb-node forget --prune` deletes where the shards are now (the owner's
 *    index still named the removed member) and does not fail on the removed member;
 *  - a restore with the owner's own index reads every shard from its current holder: no failed
 *    attempt at the removed member, no stripe rebuilt.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IndexDb } from '../../../runtime/pipeline/index-db.ts';
import { decodeShardHeader } from '../../../runtime/pipeline/shard-format.ts';
import { cli, initNode, type Proc, waitFor } from './_cluster.ts';
import { directAddress } from './_group.ts';

const MiB = 1024 * 1024;
const GRACE_MS = 30_000;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function manifest(root: string): { path: string; sha256: string }[] {
  const out: { path: string; sha256: string }[] = [];
  const walk = (abs: string): void => {
    for (const name of fs.readdirSync(abs).sort()) {
      const p = join(abs, name);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push({ path: relative(root, p), sha256: sha(fs.readFileSync(p)) });
    }
  };
  walk(root);
  return out;
}

/** Stripe ids and shard indices a member holds on its disk (read independently of the daemon). */
function shardsOnDisk(p: Proc): { stripeId: string; index: number; k: number; m: number }[] {
  const root = join(p.dir, 'shards', 'store', 'shards');
  if (!fs.existsSync(root)) return [];
  const out: { stripeId: string; index: number; k: number; m: number }[] = [];
  for (const fan of fs.readdirSync(root))
    for (const name of fs.readdirSync(join(root, fan))) {
      const { header } = decodeShardHeader(fs.readFileSync(join(root, fan, name)));
      out.push({ stripeId: header.stripeId, index: header.index, k: header.k, m: header.m });
    }
  return out;
}

/** Times (ms) of the log lines of `p` matching `re`. */
function logTimes(p: Proc, re: RegExp): number[] {
  const file = join(p.dir, 'pb-node.log');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => re.test(l))
    .map((l) => Date.parse(l.slice(0, l.indexOf(' '))));
}

/** Rewrites `p`'s config to listen on the TCP port it has now (the address in the op log). */
async function pinPort(p: Proc): Promise<void> {
  const port = /\/tcp\/(\d+)/.exec(await directAddress(p))![1];
  const file = join(p.dir, 'config');
  fs.writeFileSync(
    file,
    fs
      .readFileSync(file, 'utf8')
      .replace(/^listen = .*$/m, `listen = ["/ip4/127.0.0.1/tcp/${port}","/p2p-circuit","/webrtc"]`),
  );
}

interface RepairView {
  repairsDone: number;
  failedTasks: number;
  lastPlan: { stripes: number; settling: number; needRepair: number } | null;
}

describe('after a holder goes away (five pb-node processes)', () => {
  let root: string;
  let src: string;
  const nodes: Proc[] = [];
  const ids = new Map<Proc, string>();
  let stripes = 0;
  let before: { path: string; sha256: string }[] = [];
  /** The holder that goes away, and the three that stay. */
  let victim: Proc;
  let holders: Proc[] = [];

  const repairOf = async (p: Proc): Promise<RepairView> =>
    ((await p.call('status')) as { repair: RepairView }).repair;
  const explained = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      for (const p of nodes) {
        const file = join(p.dir, 'pb-node.log');
        const lines = fs.existsSync(file)
          ? fs
              .readFileSync(file, 'utf8')
              .split('\n')
              .filter((l) => !/sync with|webrtc|cannot reach|refused$/.test(l))
          : [];
        process.stderr.write(`== ${p.dir.split('/').at(-1)}\n${lines.slice(-40).join('\n')}\n`);
      }
      throw error;
    }
  };

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-aftermath-'));
    src = join(root, 'home');
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(join(src, 'a.bin'), randomBytes(20 * MiB));
    fs.writeFileSync(join(src, 'b.bin'), randomBytes(3 * MiB + 5));
    const names = ['owner', 'h1', 'h2', 'h3', 'h4'];
    const procs = await Promise.all(
      names.map((n) =>
        initNode(root, n, [
          '--pledge',
          '128MiB',
          '--schedule',
          'off',
          '--watch-debounce',
          '0s',
          ...(n === 'owner' ? ['--directories', src] : []),
        ]),
      ),
    );
    for (const p of procs)
      fs.appendFileSync(
        join(p.dir, 'config'),
        `\nrepair = {"intervalMs":1500,"graceMs":${GRACE_MS},"settleMs":3000,"bytesPerSecond":67108864}\n`,
      );
    nodes.push(...procs);
    for (const p of procs) await p.start();
    for (const p of procs) ids.set(p, ((await p.call('status')) as { id: string }).id);
    const [owner, ...others] = procs as [Proc, ...Proc[]];
    expect((await cli(['create', '--dir', owner.dir, '--ratio', '1.5', '--tolerance', '1'])).code).toBe(0);
    for (const candidate of others) {
      const code = (await cli(['invite', '--dir', owner.dir])).stdout.trim();
      const joining = cli(['join', code, '--dir', candidate.dir, '--json', '--wait', '60s']);
      const name = candidate.dir.split('/').at(-1)!;
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
        'five members with their pledges',
        async () =>
          ((await p.call('members')) as { pledgeBytes: number }[]).filter((m) => m.pledgeBytes > 0).length ===
          5,
        60_000,
      );
    // Two snapshots: the second no longer has a.bin (its stripes are garbage once the first goes).
    const first = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const old = new Set(others.flatMap((h) => shardsOnDisk(h).map((s) => s.stripeId)));
    fs.rmSync(join(src, 'a.bin'));
    fs.writeFileSync(join(src, 'c.bin'), randomBytes(6 * MiB));
    const second = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(second.code, second.stderr).toBe(0);
    // The holder that goes away: the one holding most shards of the second snapshot's new
    // stripes (live after the prune, so the restore below must find them elsewhere).
    const fresh = (h: Proc): number => shardsOnDisk(h).filter((s) => !old.has(s.stripeId)).length;
    victim = [...others].sort((a, b) => fresh(b) - fresh(a))[0]!;
    expect(fresh(victim)).toBeGreaterThan(0);
    holders = others.filter((h) => h !== victim);
    before = manifest(src);
    stripes = new Set(nodes.slice(1).flatMap((h) => shardsOnDisk(h).map((s) => s.stripeId))).size;
    expect(stripes).toBeGreaterThanOrEqual(4);
    for (const p of nodes)
      await waitFor(
        'a round over every settled stripe',
        async () => {
          const r = await repairOf(p);
          return r.lastPlan?.stripes === stripes && r.lastPlan.settling === 0 && r.lastPlan.needRepair === 0;
        },
        90_000,
      );
  }, 300_000);

  afterAll(async () => {
    await Promise.all(nodes.map((p) => p.stop()));
    if (process.env.PB_KEEP_TEST_DIR === undefined) fs.rmSync(root, { recursive: true, force: true });
    else process.stderr.write(`kept ${root}\n`);
  });

  it(
    'an offline holder stays last-seen-at-T across a restart of the others; repaired a grace after T, not after the restart',
    () =>
      explained(async () => {
        const owner = nodes[0]!;
        const [h1] = holders as [Proc];
        const h4 = victim;
        const h4Id = ids.get(h4)!;
        await h4.stop();
        const goneAtMs = Date.now();
        await waitFor(
          'a round that misses h4',
          async () => ((await h1.call('repair')) as { silent: string[] }).silent.includes(h4Id),
          30_000,
        );
        // Half the grace passes; then every other daemon restarts (the repairer among them).
        await new Promise((r) => setTimeout(r, Math.max(0, goneAtMs + GRACE_MS / 2 - Date.now())));
        const running = [owner, ...holders];
        expect(running.flatMap((p) => logTimes(p, /repair: queued [1-9]\d* repairs/))).toEqual([]);
        // Each comes back on the port the group knows (a daemon on port 0 would get a new one).
        for (const p of running) await pinPort(p);
        const restartAtMs = Date.now();
        await Promise.all(running.map((p) => p.stop()));
        for (const p of running) await p.start();
        // Still "last seen" when it went, on every restarted member (members and the status report).
        for (const p of running) {
          const row = ((await p.call('members')) as { id: string; lastSeenMs: number | null }[]).find(
            (m) => m.id === h4Id,
          )!;
          expect(row.lastSeenMs).not.toBeNull();
          expect(row.lastSeenMs!).toBeLessThanOrEqual(goneAtMs);
          expect(row.lastSeenMs!).toBeGreaterThan(goneAtMs - 20_000);
          const report = (await p.call('report')) as { members: { id: string; lastSeenMs: number | null }[] };
          expect(report.members.find((m) => m.id === h4Id)!.lastSeenMs!).toBeLessThanOrEqual(goneAtMs);
        }
        // Repaired: every stripe has k+m shards on the three others again.
        await waitFor(
          'h4’s shards rebuilt on the others',
          async () => {
            const by = new Map<string, Set<number>>();
            for (const s of holders.flatMap(shardsOnDisk))
              by.set(s.stripeId, (by.get(s.stripeId) ?? new Set()).add(s.index));
            return by.size === stripes && [...by.values()].every((set) => set.size === 3);
          },
          120_000,
        );
        const views = await Promise.all(holders.map(repairOf));
        expect(views.reduce((n, v) => n + v.repairsDone, 0)).toBeGreaterThan(0);
        expect(views.reduce((n, v) => n + v.failedTasks, 0)).toBe(0);
        // The repairs were planned before a full grace had passed since the repairer restarted:
        // the grace ran from h4's last sighting, which the restart did not reset. (Compared with
        // each repairer's own start, logged: on a loaded machine the four restarts alone can take
        // longer than half the grace.)
        const queued = holders.flatMap((p) => logTimes(p, /repair: queued [1-9]\d* repairs/));
        expect(queued.length).toBeGreaterThan(0);
        expect(Math.min(...queued)).toBeGreaterThanOrEqual(goneAtMs + GRACE_MS - 5_000);
        let planners = 0;
        for (const p of holders) {
          const startedMs = Math.max(...logTimes(p, /pb-node \S+ started; listening/));
          expect(startedMs).toBeGreaterThanOrEqual(restartAtMs);
          const after = logTimes(p, /repair: queued [1-9]\d* repairs/).filter((t) => t >= startedMs);
          if (after.length === 0) continue;
          planners++;
          expect(Math.min(...after)).toBeLessThan(startedMs + GRACE_MS);
        }
        expect(planners).toBeGreaterThan(0);
      }),
    300_000,
  );

  let ownerCopy = '';

  it(
    'forget --prune after the removal: deletes go where the shards are now; the removed member does not fail it',
    () =>
      explained(async () => {
        const owner = nodes[0]!;
        const [h1] = holders as [Proc];
        const h4Id = ids.get(victim)!;
        const removed = await cli(['remove', victim.dir.split('/').at(-1)!, '--dir', h1.dir, '--json']);
        expect(removed.code, removed.stderr).toBe(0);
        await waitFor(
          'the owner sees h4 removed',
          async () => !((await owner.call('members')) as { id: string }[]).some((m) => m.id === h4Id),
          30_000,
        );
        // A copy of the owner's data directory, index included, for the restore below (the
        // prune moves the original index's rows).
        await pinPort(owner);
        await owner.stop();
        ownerCopy = join(root, 'owner-copy');
        fs.cpSync(owner.dir, ownerCopy, { recursive: true });
        for (const f of ['daemon.pid', 'control.sock']) fs.rmSync(join(ownerCopy, f), { force: true });
        fs.rmSync(join(ownerCopy, 'shards'), { recursive: true, force: true });
        const index = new IndexDb(join(owner.dir, 'backup', 'index.sqlite'));
        const onH4 = index.shardLocations().filter((r) => r.member === h4Id).length;
        index.close();
        expect(onH4).toBeGreaterThan(0);
        await owner.start();

        const r = await cli(['forget', '--dir', owner.dir, '--keep-last', '1', '--prune', '--json']);
        expect(r.code, r.stderr + r.stdout).toBe(0);
        const summary = JSON.parse(r.stdout) as {
          forgotten: string[];
          gc: { stripesDeleted: number; stripesKept: number; shardsDeleted: number };
        };
        expect(summary.forgotten).toHaveLength(1);
        expect(summary.gc.stripesDeleted).toBeGreaterThan(0);
        expect(summary.gc.shardsDeleted).toBe(3 * summary.gc.stripesDeleted);
        // Nothing of the freed stripes is left on any current holder's disk.
        const left = new Set(holders.flatMap(shardsOnDisk).map((s) => s.stripeId));
        expect(left.size).toBe(summary.gc.stripesKept);
        expect(logTimes(owner, /forget: \d+ shard rows moved to their current holders/).length).toBe(1);
      }),
    180_000,
  );

  it(
    'a restore with the owner’s own index reads every shard from its current holder',
    () =>
      explained(async () => {
        const [h1] = holders as [Proc];
        const h4Id = ids.get(victim)!;
        const words = join(root, 'words');
        fs.writeFileSync(words, fs.readFileSync(join(ownerCopy, 'secret'), 'utf8'), { mode: 0o600 });
        const target = join(root, 'restored');
        const r = await cli([
          'restore',
          '--peer',
          await directAddress(h1),
          '--secret-file',
          words,
          '--target',
          target,
          '--dir',
          ownerCopy,
          '--json',
        ]);
        expect(r.code, r.stderr + r.stdout).toBe(0);
        const summary = JSON.parse(r.stdout) as {
          rebuilt: unknown;
          located: { moved: number; missing: number; unreachable: string[] } | null;
          badShards: string[];
          rebuiltStripes: number;
        };
        expect(summary.rebuilt).toBeNull(); // the owner's own index, not rebuilt
        expect(summary.located).not.toBeNull();
        expect(summary.located!.moved).toBeGreaterThan(0);
        expect(summary.located!.unreachable).toEqual([]);
        expect(summary.badShards.filter((b) => b.includes(h4Id))).toEqual([]);
        expect(summary.badShards).toEqual([]);
        expect(summary.rebuiltStripes).toBe(0);
        expect(manifest(join(target, src))).toEqual(before);
      }),
    180_000,
  );
});
