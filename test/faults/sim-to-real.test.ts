/**
 * Sim-to-real (issue 9): one scripted scenario (five members, a holder lost, repair) run on five
 * real pb-node daemons and in the simulator's scripted mode (`sim/scripted.ts`) with the same
 * member ids, pledges, stripe ids, shapes and shard sizes. Compared: the holder of every shard
 * index as written (read from the holders' disks) against the simulator's `placeStripe`; the
 * owner's exposure (stored, exposed, unrecoverable bytes) before the loss (the daemons' own
 * repair round), after the loss (the engine over what the surviving disks held) and after the
 * repair (the daemons' round and the disks: zero exposed), and the holders after the repair.
 * See docs/faults.md.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exposure } from '../../engine/index.ts';
import { runScript, type ScriptFigures } from '../../sim/scripted.ts';
import { cli, initNode, type Proc, waitFor } from '../runtime/daemon/_cluster.ts';
import { type DiskShard, shardsOnDisk } from '../runtime/daemon/_group.ts';

const MiB = 1024 * 1024;
const _sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Holder per shard index, per stripe id. */
function holdersByStripe(shards: DiskShard[]): Map<string, (string | null)[]> {
  const out = new Map<string, (string | null)[]>();
  for (const s of shards) {
    const row = out.get(s.stripeId) ?? new Array<string | null>(s.k + s.m).fill(null);
    expect(row[s.index], `two holders of ${s.stripeId}#${s.index}`).toBeNull();
    row[s.index] = s.member;
    out.set(s.stripeId, row);
  }
  return out;
}

interface RoundView {
  plan: { needRepair: number; unrecoverable: number };
  exposure: { owner: string; storedBytes: number; exposedBytes: number; unrecoverableBytes: number }[];
}

const figuresOf = (o: ScriptFigures): ScriptFigures => ({
  storedBytes: o.storedBytes,
  exposedBytes: o.exposedBytes,
  unrecoverableBytes: o.unrecoverableBytes,
});

describe('sim-to-real: five members, a holder lost, repair', () => {
  let root: string;
  const nodes: Proc[] = [];
  const ids = new Map<Proc, string>();

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-sim2real-'));
    const src = join(root, 'home');
    fs.mkdirSync(src);
    fs.writeFileSync(join(src, 'a.bin'), randomBytes(7 * MiB + 123));
    fs.writeFileSync(join(src, 'b.bin'), randomBytes(5 * MiB + 7));
    fs.writeFileSync(join(src, 'c.bin'), randomBytes(9 * MiB));
    const names = ['owner', 'h1', 'h2', 'h3', 'h4'];
    const procs = await Promise.all(
      names.map((n, i) =>
        initNode(root, n, [
          '--pledge',
          `${96 + 8 * i}MiB`, // distinct pledges: placement weights them
          '--schedule',
          'off',
          ...(n === 'owner' ? ['--directories', src] : []),
        ]),
      ),
    );
    for (const p of procs)
      fs.appendFileSync(
        join(p.dir, 'config'),
        '\nrepair = {"intervalMs":1500,"graceMs":60000,"settleMs":5000,"bytesPerSecond":67108864,"concurrency":2,"maxTasks":50}\n',
      );
    nodes.push(...procs);
    await Promise.all(procs.map((p) => p.start()));
    for (const p of procs) ids.set(p, ((await p.call('status')) as { id: string }).id);
    const [owner, ...others] = procs as [Proc, Proc, Proc, Proc, Proc];
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
  }, 240_000);

  afterAll(async () => {
    await Promise.all(nodes.map((p) => p.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('the same placements and the same exposure figures', async () => {
    const [owner, h1, h2, h3, h4] = nodes as [Proc, Proc, Proc, Proc, Proc];
    const ownerId = ids.get(owner)!;
    const lostId = ids.get(h4)!;
    const holders = [h1, h2, h3, h4];
    const members = ((await owner.call('members')) as { id: string; pledgeBytes: number }[]).map((m) => ({
      id: m.id,
      pledgeBytes: m.pledgeBytes,
    }));
    expect(new Set(members.map((m) => m.pledgeBytes)).size).toBe(5);

    const b = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(b.code, b.stderr + b.stdout).toBe(0);
    const written = (JSON.parse(b.stdout) as { stored: { stripes: number } }).stored.stripes;
    expect(written).toBeGreaterThanOrEqual(3);
    const disk = holders.flatMap((h) => shardsOnDisk(h.dir, ids.get(h)!));
    const real = holdersByStripe(disk);
    expect(real.size).toBe(written);

    // The simulator gets the same inputs: member ids, pledges, stripe ids, shapes, shard sizes.
    const stripes = [...real.keys()].sort().map((stripeId) => {
      const s = disk.find((d) => d.stripeId === stripeId)!;
      expect(disk.filter((d) => d.stripeId === stripeId).every((d) => d.fileBytes === s.fileBytes)).toBe(
        true,
      );
      return { stripeId, dataShards: s.k, parityShards: s.m, shardBytes: s.fileBytes };
    });
    const sim = runScript({ owner: ownerId, members, stripes, lost: lostId, tolerance: 1 });
    process.stderr.write(
      `sim-to-real: ${stripes.length} stripes; before ${JSON.stringify(sim.before)}; after loss ${JSON.stringify(sim.afterLoss)}; after repair ${JSON.stringify(sim.afterRepair)}; ${sim.shardsRepaired} shards repaired in ${sim.repairRounds} round(s)\n`,
    );

    // 1. Placements: the holder of every shard index, as written.
    for (const [stripeId, row] of real) expect(row, stripeId).toEqual(sim.placements[stripeId]);
    expect(Object.values(sim.placements).some((p) => p.includes(lostId))).toBe(true);

    // 2. Before the loss: the daemons' own repair round (once every stripe settled).
    for (const p of nodes) {
      const view = await waitFor(
        `${p.dir}: a round over every settled stripe`,
        async () => {
          const r = (await p.call('repair')) as RoundView & { stripes: number; plan: { waiting: number } };
          return r.stripes === written && r.plan.needRepair === 0 ? r : null;
        },
        90_000,
      );
      expect(figuresOf(view.exposure.find((o) => o.owner === ownerId)!)).toEqual(sim.before);
    }
    expect(sim.before.exposedBytes).toBe(0);
    expect(sim.before.storedBytes).toBeGreaterThan(20 * MiB);

    // 3. The loss: h4's disk dies and h4 is removed. What the surviving disks held then, through
    // the engine (the daemons start repairing at once, so their next round is not a fixed point).
    await h4.stop();
    fs.rmSync(h4.dir, { recursive: true, force: true });
    const removed = await cli(['remove', 'h4', '--dir', h1.dir, '--json']);
    expect(removed.code, removed.stderr).toBe(0);
    const nowMs = Date.now();
    const sightings = [
      ...[owner, h1, h2, h3].map((p) => ({ id: ids.get(p)!, lastSeenMs: nowMs, removed: false })),
      { id: lostId, lastSeenMs: 0, removed: true },
    ];
    const figuresFrom = (byStripe: Map<string, (string | null)[]>): ScriptFigures => {
      const report = exposure({
        members: sightings,
        stripes: stripes.map((s) => ({ ...s, owner: ownerId, holders: byStripe.get(s.stripeId)! })),
        tolerance: 1,
        nowMs,
        onlineWindowMs: 0,
      });
      return figuresOf(report.owners.find((o) => o.owner === ownerId)!);
    };
    const survived = holdersByStripe(disk.filter((d) => d.member !== lostId));
    expect(figuresFrom(survived)).toEqual(sim.afterLoss);
    expect(sim.afterLoss.exposedBytes).toBeGreaterThan(0);
    expect(sim.afterLoss.unrecoverableBytes).toBe(0);

    // 4. Repair: rounds until every stripe is whole on the current members.
    const live = (): Map<string, (string | null)[]> =>
      holdersByStripe([h1, h2, h3].flatMap((h) => shardsOnDisk(h.dir, ids.get(h)!)));
    await waitFor(
      'every stripe whole on the current members',
      async () => {
        const now = live();
        return now.size === written && [...now.values()].every((row) => row.every((h) => h !== null));
      },
      150_000,
    );
    const repaired = live();
    for (const [stripeId, row] of repaired) expect(row, stripeId).toEqual(sim.holdersAfterRepair[stripeId]);
    expect(figuresFrom(repaired)).toEqual(sim.afterRepair);
    expect(sim.afterRepair).toEqual({ ...sim.before, exposedBytes: 0, unrecoverableBytes: 0 });
    for (const p of [owner, h1, h2, h3]) {
      const view = await waitFor(
        `${p.dir}: a round that sees the repair`,
        async () => {
          const r = (await p.call('repair')) as RoundView;
          return r.plan.needRepair === 0 ? r : null;
        },
        60_000,
      );
      expect(figuresOf(view.exposure.find((o) => o.owner === ownerId)!)).toEqual(sim.afterRepair);
    }
  }, 420_000);
});

describe('the scripted mode alone', () => {
  const members = ['o', 'a', 'b', 'c', 'd'].map((id, i) => ({ id, pledgeBytes: (64 + 8 * i) * MiB }));
  const stripes = [1, 2, 3, 4, 5, 6].map((n) => ({
    stripeId: `o/${n}/0`,
    dataShards: 2,
    parityShards: 1,
    shardBytes: 4 * MiB,
  }));
  const script = { owner: 'o', members, stripes, lost: 'd', tolerance: 1 };

  it('is deterministic, loses and repairs exactly the lost holder’s shards; refuses a bad script', () => {
    const a = runScript(script);
    expect(runScript(script)).toEqual(a);
    const lostShards = Object.values(a.placements)
      .flat()
      .filter((id) => id === 'd').length;
    expect(lostShards).toBeGreaterThan(0);
    expect(a.shardsRepaired).toBe(lostShards);
    expect(a.before).toEqual({ storedBytes: 6 * 2 * 4 * MiB, exposedBytes: 0, unrecoverableBytes: 0 });
    expect(a.afterLoss.exposedBytes).toBeGreaterThan(0);
    expect(a.afterRepair).toEqual(a.before);
    for (const row of Object.values(a.holdersAfterRepair))
      expect(new Set(row)).toEqual(new Set(['a', 'b', 'c']));
    expect(() => runScript({ ...script, lost: 'o' })).toThrow(/other than the owner/);
    expect(() => runScript({ ...script, owner: 'x' })).toThrow(/not a member/);
    expect(() => runScript({ ...script, stripes: [] })).toThrow(/no stripes/);
  });
});
