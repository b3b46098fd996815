/**
 * Status that is always true (docs/status.md), on five real pb-node daemons through a lifecycle:
 * the first backup, a change, the second backup, a holder stopped within the grace period, a
 * holder lost and removed while the owner is stopped, the repair, the owner restarted, a pledge
 * change (and the holder's pledge alert opening and clearing), a member joining (migrations), a
 * member removed while every holder paused its repairs (the owner's exposure alert opening, then
 * clearing after the repair), the configured directory deleted. At each step the owner's `pb-node status` is checked against
 * ground truth computed without the daemon: the files in the directory (count, bytes, what
 * changed) and the shards on the members' disks (the engine's exposure over them, what each holds
 * of the owner's). Each step's status text is printed and written to
 * `<test dir>/status-steps.txt`.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exposure, formatSize, ownerStripePlan, placeStripe } from '../../../engine/index.ts';
import type { StatusReport } from '../../../runtime/daemon/status/status-types.ts';
import { cli, initNode, type Proc, waitFor } from './_cluster.ts';
import { type DiskShard, formGroup, shardsOnDisk } from './_group.ts';

const MiB = 1024 * 1024;
const GRACE_MS = 60_000;
/** Bounds the steps assert within. */
const NOTICE_CHANGE_MS = 12_000;
const EXPOSURE_CLEARS_MS = 30_000;
/** The owner's exposure alert opens after this long: longer than a restart's first round. */
const ALERT_HOLD_MS = 20_000;
const PLEDGE_SEEN_MS = 15_000;
const MIGRATIONS_SETTLE_MS = 120_000;

/** Regular files under `root`: how many and their apparent bytes. */
function filesIn(root: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (abs: string): void => {
    for (const name of fs.readdirSync(abs)) {
      const st = fs.lstatSync(join(abs, name));
      if (st.isDirectory()) walk(join(abs, name));
      else if (st.isFile()) {
        files++;
        bytes += st.size;
      }
    }
  };
  walk(root);
  return { files, bytes };
}

describe('status through a lifecycle on five daemons, against ground truth', () => {
  let root: string;
  let src: string;
  const nodes: Proc[] = [];
  const ids = new Map<Proc, string>();
  const stepsFile = (): string => join(root, 'status-steps.txt');

  const logs = (): string =>
    nodes
      .map((p) => {
        const file = join(p.dir, 'pb-node.log');
        const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n') : [];
        return `== ${p.dir.split('/').at(-1)}\n${lines
          .filter((l) => !/sync with|webrtc dial|cannot reach/.test(l))
          .slice(-20)
          .join('\n')}`;
      })
      .join('\n');

  const report = async (p: Proc): Promise<StatusReport> => (await p.call('report')) as StatusReport;
  /** The status text as a person sees it, recorded for the step. */
  const printStep = async (p: Proc, step: string): Promise<string> => {
    const r = await cli(['status', '--dir', p.dir]);
    expect(r.code, r.stderr).toBe(0);
    const text = `=== ${step}\n${r.stdout.trimEnd()}\n\n`;
    fs.appendFileSync(stepsFile(), text);
    console.log(text);
    return r.stdout;
  };

  /** The bytes of the shard files on `p`'s disk (only the owner backs up: all of them its). */
  const shardFilesBytes = (p: Proc): number =>
    shardsOnDisk(p.dir, ids.get(p)!).reduce((n, x) => n + x.fileBytes, 0);
  /** The keys of `p`'s open alert episodes. */
  const openAlerts = async (p: Proc): Promise<string[]> =>
    ((await p.call('alerts')) as { episodes: { key: string; openedAtMs: number | null }[] }).episodes
      .filter((e) => e.openedAtMs !== null)
      .map((e) => e.key);
  const logLines = (p: Proc, re: RegExp): string[] =>
    fs
      .readFileSync(join(p.dir, 'pb-node.log'), 'utf8')
      .split('\n')
      .filter((l) => re.test(l));
  const quiet = ['--schedule', 'off', '--watch-debounce', '0s'];
  /** Fast repair rounds everywhere; the owner checks its alert conditions every second. */
  const configure = (p: Proc, name: string): void => {
    fs.appendFileSync(
      join(p.dir, 'config'),
      `\nrepair = {"intervalMs":1500,"graceMs":${GRACE_MS},"settleMs":15000,"bytesPerSecond":67108864,"concurrency":2,"maxTasks":50}\n`,
    );
    fs.appendFileSync(
      join(p.dir, 'config'),
      `\nalerts = {"checkIntervalMs":1000,"exposureGraceMs":${name === 'owner' ? ALERT_HOLD_MS : 3_600_000}}\n`,
    );
  };
  /** A new member, invited by `inviter` and approved, with the group's pledges seen by all. */
  const joinMember = async (inviter: Proc, name: string): Promise<Proc> => {
    const p = await initNode(root, name, ['--pledge', '96MiB', ...quiet]);
    configure(p, name);
    await p.start();
    nodes.push(p);
    ids.set(p, ((await p.call('status')) as { id: string }).id);
    const code = (await cli(['invite', '--dir', inviter.dir])).stdout.trim();
    const joining = cli(['join', code, '--dir', p.dir, '--json', '--wait', '60s']);
    await waitFor(
      `${name}'s request`,
      async () => ((await inviter.call('requests')) as { name: string }[]).some((x) => x.name === name),
      60_000,
    );
    expect((await cli(['approve', name, '--dir', inviter.dir])).code).toBe(0);
    expect((await joining).stdout).toMatch(/"approved"/);
    const running = nodes.filter((x) => x.child !== null && x.child.exitCode === null);
    const count = running.length;
    for (const n of running)
      await waitFor(
        `${count} members with pledges on ${n.dir.split('/').at(-1)}`,
        async () =>
          ((await n.call('members')) as { pledgeBytes: number }[]).filter((m) => m.pledgeBytes > 0).length ===
          count,
        60_000,
      );
    return p;
  };

  /** The owner's shards on the current holders' disks, and the engine's exposure over them. */
  const truth = (owner: Proc, holders: Proc[], removed: string[] = []) => {
    const ownerId = ids.get(owner)!;
    const shards = holders.flatMap((h) => shardsOnDisk(h.dir, ids.get(h)!));
    const byStripe = new Map<string, DiskShard[]>();
    for (const s of shards) byStripe.set(s.stripeId, [...(byStripe.get(s.stripeId) ?? []), s]);
    const nowMs = Date.now();
    const exp = exposure({
      members: [
        { id: ownerId, lastSeenMs: nowMs, removed: false },
        ...holders.map((h) => ({ id: ids.get(h)!, lastSeenMs: nowMs, removed: false })),
        ...removed.map((id) => ({ id, lastSeenMs: 0, removed: true })),
      ],
      stripes: [...byStripe.values()].map((s) => {
        const holdersOf: (string | null)[] = new Array(s[0]!.k + s[0]!.m).fill(null);
        for (const x of s) holdersOf[x.index] = x.member;
        return {
          stripeId: s[0]!.stripeId,
          owner: ownerId,
          dataShards: s[0]!.k,
          parityShards: s[0]!.m,
          shardBytes: s[0]!.bodyBytes, // the engine counts k shard bodies per stripe
          holders: holdersOf,
        };
      }),
      tolerance: 1,
      nowMs,
      graceMs: GRACE_MS,
      onlineWindowMs: 0,
    });
    const bodyOf = (member: string): number =>
      shards.filter((s) => s.member === member).reduce((n, s) => n + s.bodyBytes, 0);
    const filesOf = (member: string): number =>
      shards.filter((s) => s.member === member).reduce((n, s) => n + s.fileBytes, 0);
    const whole = [...byStripe.values()].every((s) => {
      const { k, m } = s[0]!;
      return new Set(s.map((x) => x.index)).size === k + m && new Set(s.map((x) => x.member)).size === k + m;
    });
    return { stripes: byStripe.size, exposedBytes: exp.totals.exposedBytes, bodyOf, filesOf, whole };
  };

  /** Whether every stripe of the owner's sits on exactly the members its placement names. */
  const insidePlacement = (
    owner: Proc,
    holders: Proc[],
    members: readonly { id: string; pledgeBytes: number }[],
  ): boolean => {
    const byStripe = new Map<string, DiskShard[]>();
    for (const h of holders)
      for (const s of shardsOnDisk(h.dir, ids.get(h)!))
        byStripe.set(s.stripeId, [...(byStripe.get(s.stripeId) ?? []), s]);
    return [...byStripe.values()].every((s) => {
      const plan = ownerStripePlan(members, ids.get(owner)!, s[0]!.k + s[0]!.m);
      const placed = placeStripe(plan, s[0]!.stripeId);
      return s.length === placed.length && s.every((x) => placed.includes(x.member));
    });
  };

  /** Every stripe of the owner's on `holders`' disks: which holder keeps which shard index. */
  const placementText = (holders: Proc[]): string => {
    const nameOf = (id: string): string =>
      holders
        .find((h) => ids.get(h) === id)
        ?.dir.split('/')
        .at(-1) ?? id;
    const byStripe = new Map<string, string[]>();
    for (const h of holders)
      for (const s of shardsOnDisk(h.dir, ids.get(h)!))
        byStripe.set(s.stripeId, [...(byStripe.get(s.stripeId) ?? []), `${s.index}@${nameOf(s.member)}`]);
    return [...byStripe].map(([id, at]) => `${id.slice(0, 12)}: ${at.sort().join(' ')}`).join('; ');
  };
  /** The last repair lines of each holder's log. */
  const repairLogTail = (holders: Proc[]): string =>
    holders
      .map((h) => {
        const lines = fs
          .readFileSync(join(h.dir, 'pb-node.log'), 'utf8')
          .split('\n')
          .filter((l) => /repair|migrat/.test(l))
          .slice(-4);
        return `${h.dir.split('/').at(-1)}: ${lines.join(' | ')}`;
      })
      .join('\n');

  /**
   * The owner's report once what it says each holder holds of its backup and uses of its pledge
   * equals the disks (usage answers are remembered USAGE_FRESH_MS, shards move until then).
   */
  const agreesWithDisks = (owner: Proc, holders: Proc[], removed: string[], what: string) =>
    waitFor(
      what,
      async () => {
        const x = await report(owner);
        const t = truth(owner, holders, removed);
        const rows = holders.map((h) => x.members.find((m) => m.id === ids.get(h)));
        if (x.members.length !== holders.length + 1) throw new Error(`${x.members.length} members listed`);
        // A mismatch is thrown (not returned) so that a timeout names it.
        const off = rows
          .filter(
            (m) =>
              m === undefined || m.holdsOfMineBytes !== t.bodyOf(m.id) || m.usedBytes !== t.filesOf(m.id),
          )
          .map((m) =>
            m === undefined
              ? 'a holder is missing'
              : `${m.name}: holds mine ${m.holdsOfMineBytes} (disk ${t.bodyOf(m.id)}), used ${m.usedBytes} (disk ${t.filesOf(m.id)})`,
          );
        if (off.length > 0) throw new Error(off.join('; '));
        return x;
      },
      EXPOSURE_CLEARS_MS,
    );

  /** What every step checks: members, addresses, the snapshot against the directory, holdings. */
  const checkCommon = async (
    owner: Proc,
    r: StatusReport,
    holders: Proc[],
    t: ReturnType<typeof truth>,
  ): Promise<void> => {
    expect(r.members.map((m) => m.name).sort()).toEqual(
      [nodes[0]!, ...holders].map((p) => p.dir.split('/').at(-1)!).sort(),
    );
    for (const m of r.members) {
      expect(m.addresses?.length ?? 0, `${m.name} has an address`).toBeGreaterThan(0);
      expect(m.addresses![0]).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${m.id}$`));
    }
    // How each connected holder is reached: the paths of its connections (on loopback direct or
    // WebRTC, or a relay through another member while a restarted one's new port is not yet known).
    for (const m of r.members.filter((x) => !x.self && x.connected))
      expect(m.reach, `${m.name} reach`).toMatch(
        /^(direct|webrtc|relay)( \+ (webrtc|relay))*( [\d.]+ [kMG]?B\/s)?$/,
      );
    expect(r.backup.stripes).toBe(t.stripes);
    // What each holder holds of this owner's backup: the shard bodies on its disk.
    for (const h of holders) {
      const row = r.members.find((m) => m.id === ids.get(h))!;
      expect(row.holdsOfMineBytes, `${row.name} holds of mine`).toBe(t.bodyOf(ids.get(h)!));
    }
    // Its pledge use is its own answer (only the owner backs up here: the shard files on its
    // disk). A loaded machine may let one question time out; status then says "unknown" (null),
    // which is true but not what this step checks: ask again, within a bound.
    const answered = (x: StatusReport): boolean =>
      holders.every((h) => x.members.find((m) => m.id === ids.get(h))?.usedBytes !== null);
    const withUse = answered(r)
      ? r
      : await waitFor('every holder to answer its usage', async () => {
          const x = await report(owner);
          return answered(x) ? x : null;
        });
    for (const h of holders) {
      const row = withUse.members.find((m) => m.id === ids.get(h))!;
      expect(row.usedBytes, `${row.name} used`).toBe(t.filesOf(ids.get(h)!));
    }
    expect(r.backup.words).not.toMatch(/ 0 s|\d+ days/);
  };

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-status-life-'));
    src = join(root, 'home');
    fs.mkdirSync(join(src, 'sub'), { recursive: true });
    fs.writeFileSync(join(src, 'a.bin'), randomBytes(7 * MiB + 123));
    fs.writeFileSync(join(src, 'sub', 'b.bin'), randomBytes(5 * MiB + 7));
    fs.writeFileSync(join(src, 'sub', 'c.bin'), randomBytes(9 * MiB));
    fs.writeFileSync(join(src, 'note.txt'), 'status\n');
    const { procs, ids: formed } = await formGroup(
      root,
      ['owner', 'h1', 'h2', 'h3', 'h4'],
      { owner: [...quiet, '--directories', src], h1: quiet, h2: quiet, h3: quiet, h4: quiet },
      '96MiB',
      { beforeStart: configure },
    );
    nodes.push(...procs);
    for (const [p, id] of formed) ids.set(p, id);
    for (const p of procs)
      await waitFor(
        'five members with pledges and addresses',
        async () =>
          ((await p.call('members')) as { pledgeBytes: number; addresses: string[] }[]).filter(
            (m) => m.pledgeBytes > 0 && m.addresses.length > 0,
          ).length === 5,
        60_000,
      );
  }, 240_000);

  afterAll(async () => {
    await Promise.all(nodes.map((p) => p.stop()));
    if (process.env.PB_KEEP_TEST_DIR === undefined) fs.rmSync(root, { recursive: true, force: true });
    else process.stderr.write(`kept ${root}\n`);
  });

  it('every step: status agrees with the disks and the directory within the stated time', async () => {
    const [owner, h1, h2, h3, h4] = nodes as [Proc, Proc, Proc, Proc, Proc];
    try {
      // 1. The first backup: up to date the moment it commits.
      const first = await cli(['backup', '--dir', owner.dir, '--json']);
      expect(first.code, first.stderr + first.stdout).toBe(0);
      let r = await report(owner);
      let t = truth(owner, [h1, h2, h3, h4]);
      expect(r.backup.upToDate, r.backup.words).toBe(true);
      expect(r.backup).toMatchObject({ pendingBytes: 0, pendingFiles: 0 });
      expect(r.backup.lastSnapshot).toMatchObject(filesIn(src));
      expect(r.backup.words).toMatch(/^yes, everything is backed up/);
      expect(r.exposure.exposedBytes).toBe(t.exposedBytes);
      expect(t.exposedBytes).toBe(0);
      await checkCommon(owner, r, [h1, h2, h3, h4], t);
      expect(r.backup.sizeWords).toContain(
        `with redundancy (from ${formatSize(filesIn(src).bytes)} of files in the last snapshot`,
      );
      await printStep(owner, '1. after the first backup');

      // 2. A change: noticed within NOTICE_CHANGE_MS, exactly the changed files.
      fs.writeFileSync(join(src, 'sub', 'new.bin'), randomBytes(3 * MiB));
      fs.appendFileSync(join(src, 'note.txt'), 'changed\n');
      const changedAt = Date.now();
      r = await waitFor(
        'the change in status',
        async () => {
          const x = await report(owner);
          return x.backup.pendingFiles === 2 ? x : null;
        },
        NOTICE_CHANGE_MS,
      );
      expect(Date.now() - changedAt).toBeLessThan(NOTICE_CHANGE_MS);
      expect(r.backup.upToDate).toBe(false);
      const pendingBytes = 3 * MiB + fs.statSync(join(src, 'note.txt')).size;
      expect(r.backup.pendingBytes).toBe(pendingBytes);
      expect(r.backup.words).toMatch(
        new RegExp(
          `^no: ${formatSize(pendingBytes).replace('.', '\\.')} in 2 changed files not backed up yet`,
        ),
      );
      await printStep(owner, '2. after a change (a new 3 MiB file, an edited note)');

      // 3. The second backup: up to date the moment it commits.
      const second = await cli(['backup', '--dir', owner.dir, '--json']);
      expect(second.code, second.stderr).toBe(0);
      r = await report(owner);
      t = truth(owner, [h1, h2, h3, h4]);
      expect(r.backup.upToDate, r.backup.words).toBe(true);
      expect(r.backup.lastSnapshot).toMatchObject(filesIn(src));
      expect(r.exposure.exposedBytes).toBe(0);
      await checkCommon(owner, r, [h1, h2, h3, h4], t);
      await printStep(owner, '3. after the second backup');

      // 4. A holder stopped within the grace period: nothing exposed, nothing repaired.
      await h2.stop();
      r = await waitFor(
        'h2 not connected',
        async () => {
          const x = await report(owner);
          return x.members.find((m) => m.id === ids.get(h2))?.connected === false ? x : null;
        },
        30_000,
      );
      expect(r.exposure.exposedBytes).toBe(0);
      expect(r.exposure.unrecoverableBytes).toBe(0);
      expect(r.backup.upToDate).toBe(true);
      expect(r.members.find((m) => m.id === ids.get(h2))!.availability).not.toBe('lost');
      // Never "online" for a member without a connection: the reach column says so.
      expect(r.members.find((m) => m.id === ids.get(h2))!.reach).toMatch(/^(not connected now|away)/);
      await printStep(owner, '4. h2 stopped (within the grace period)');
      await h2.start();
      await waitFor(
        'h2 connected again',
        async () => (await report(owner)).members.find((m) => m.id === ids.get(h2))?.connected === true,
        60_000,
      );

      // 5. The owner stops; h4's disk dies and h4 is removed; the others repair.
      await owner.stop();
      await h4.stop();
      fs.rmSync(h4.dir, { recursive: true, force: true });
      const removed = await cli(['remove', 'h4', '--dir', h1.dir, '--json']);
      expect(removed.code, removed.stderr).toBe(0);
      const holders = [h1, h2, h3];
      await waitFor('every stripe whole on h1, h2, h3', async () => truth(owner, holders).whole, 180_000);
      t = truth(owner, holders, [ids.get(h4)!]);
      expect(t.exposedBytes).toBe(0);
      const h1View = await report(h1);
      fs.appendFileSync(
        stepsFile(),
        `=== 5. repaired while the owner was stopped (h1's view of the group)\n${JSON.stringify(h1View.repair)}\n\n`,
      );

      // 6. The owner restarts: exposure 0 within EXPOSURE_CLEARS_MS, every field on the disks.
      await owner.start();
      const restartedAt = Date.now();
      r = await waitFor(
        'the restarted owner sees the repaired group',
        async () => {
          const x = await report(owner);
          return x.members.length === 4 && x.exposure.exposedBytes === 0 && x.backup.upToDate ? x : null;
        },
        EXPOSURE_CLEARS_MS,
      );
      expect(Date.now() - restartedAt).toBeLessThan(EXPOSURE_CLEARS_MS);
      expect(r.exposure).toMatchObject({ exposedBytes: 0, unrecoverableBytes: 0, unreadableNowBytes: 0 });
      expect(r.exposure.words).toMatch(/^none: every stripe survives 1 more lost member/);
      await checkCommon(owner, r, holders, truth(owner, holders, [ids.get(h4)!]));
      // Alerts read the same numbers: no exposure episode open or pending once status is healthy
      // (within two checks), and none ever opened.
      const alerts = await waitFor(
        'no alert condition pending',
        async () => {
          const out = (await cli(['alerts', 'list', '--dir', owner.dir])).stdout;
          return /within their grace period/.test(out) ? null : out;
        },
        5_000,
      );
      expect(alerts).toContain('no open alerts');
      expect(fs.readFileSync(join(owner.dir, 'pb-node.log'), 'utf8')).not.toMatch(/ALERT opened: .*exposed/);
      await printStep(owner, '6. the owner restarted after the repair');

      // 8. A pledge change: h1 lowers its pledge close to what it holds. Its own status and the
      // owner's member row follow within PLEDGE_SEEN_MS; h1's pledge alert opens (its own
      // numbers: the shard files on its disk over the pledge) and clears when the pledge is raised.
      const h1Used = shardFilesBytes(h1);
      const tight = Math.ceil(h1Used / 0.95);
      const lowered = await cli(['pledge', String(tight), '--dir', h1.dir, '--json']);
      expect(lowered.code, lowered.stderr).toBe(0);
      const h1Report = await report(h1);
      expect(h1Report.pledge).toMatchObject({ pledgeBytes: tight, usedBytes: h1Used });
      expect(h1Report.pledge.usedFraction).toBeGreaterThanOrEqual(0.9);
      // Every owner of what h1 holds is a member (h4 held, never owned, a backup).
      expect(h1Report.pledge.formerMembersBytes).toBe(0);
      await waitFor(
        'the owner sees h1’s new pledge',
        async () => (await report(owner)).members.find((m) => m.id === ids.get(h1))?.pledgeBytes === tight,
        PLEDGE_SEEN_MS,
      );
      await waitFor(
        'h1’s pledge alert open',
        async () => (await openAlerts(h1)).includes('pledge-nearly-full'),
        5_000,
      );
      await printStep(h1, '8. h1 lowered its pledge close to what it holds (h1’s status)');
      expect((await cli(['pledge', '96MiB', '--dir', h1.dir])).code).toBe(0);
      await waitFor('h1’s pledge alert cleared', async () => (await openAlerts(h1)).length === 0, 5_000);
      expect(
        logLines(h1, /ALERT (opened|cleared): (?!.*asks to join)/).map(
          (l) => l.split('ALERT ')[1]!.split(':')[0],
        ),
      ).toEqual(['opened', 'cleared']);

      // 9. A member joins: migrations move some of the owner's shards to it; both copies count
      // while they move (never exposed), and every field follows the disks once they settle.
      const stripesBefore = truth(owner, [h1, h2, h3], [ids.get(h4)!]).stripes;
      const h5 = await joinMember(owner, 'h5');
      const withH5 = [h1, h2, h3, h5];
      const lost = [ids.get(h4)!];
      // Settled: every stripe whole and on exactly the members its placement over the current
      // group names (no migration left to run, on any holder), whether or not h5 is among them.
      await waitFor(
        'migrations to h5 settled',
        async () => {
          const x = truth(owner, withH5, lost);
          const members = (await owner.call('members')) as { id: string; pledgeBytes: number }[];
          if (x.whole && x.stripes === stripesBefore && insidePlacement(owner, withH5, members)) return x;
          // Thrown, not returned, so that a timeout names where every shard sits and what the
          // holders' repair workers last said.
          throw new Error(`${placementText(withH5)}\n${repairLogTail(withH5)}`);
        },
        MIGRATIONS_SETTLE_MS,
      );
      r = await agreesWithDisks(owner, withH5, lost, 'the owner’s holdings follow the migrations');
      expect(r.exposure.exposedBytes).toBe(0);
      await checkCommon(owner, r, withH5, truth(owner, withH5, lost));
      await printStep(owner, '9. h5 joined; some shards migrated to it');

      // 10. An alert episode: repairs paused on every holder, h5 removed. Its shards stop counting
      // at once: status says exposed (the engine over the disks says the same bytes), the exposure
      // alert opens after its hold, and clears once the holders resume and repair.
      for (const h of [h1, h2, h3]) expect((await cli(['pause', '--dir', h.dir])).code).toBe(0);
      expect((await cli(['remove', 'h5', '--dir', h1.dir, '--json'])).code).toBe(0);
      const removedAt = Date.now();
      const without = [ids.get(h4)!, ids.get(h5)!];
      r = await waitFor(
        'the owner sees h5’s shards gone',
        async () => {
          const x = await report(owner);
          return x.members.length === 4 && x.exposure.exposedBytes > 0 ? x : null;
        },
        PLEDGE_SEEN_MS,
      );
      expect(r.exposure.exposedBytes).toBe(truth(owner, [h1, h2, h3], without).exposedBytes);
      expect(r.exposure.words).not.toMatch(/^none/);
      await printStep(owner, '10. h5 removed while every holder paused its repairs');
      await waitFor(
        'the exposure alert open',
        async () => (await openAlerts(owner)).includes('exposure'),
        ALERT_HOLD_MS + 10_000,
      );
      expect(Date.now() - removedAt).toBeGreaterThanOrEqual(ALERT_HOLD_MS - 2_000);
      await h5.stop();
      for (const h of [h1, h2, h3]) expect((await cli(['resume', '--dir', h.dir])).code).toBe(0);
      await waitFor('repaired on h1, h2, h3', async () => truth(owner, [h1, h2, h3], without).whole, 120_000);
      const repairedAt = Date.now();
      await waitFor(
        'exposure back to none, the alert cleared',
        async () =>
          (await report(owner)).exposure.exposedBytes === 0 && (await openAlerts(owner)).length === 0,
        EXPOSURE_CLEARS_MS,
      );
      r = await agreesWithDisks(owner, [h1, h2, h3], without, 'the owner’s holdings follow the repair');
      expect(Date.now() - repairedAt).toBeLessThan(EXPOSURE_CLEARS_MS);
      await checkCommon(owner, r, [h1, h2, h3], truth(owner, [h1, h2, h3], without));
      expect(
        logLines(owner, /ALERT (opened|cleared): (?!.*asks to join)/).map(
          (l) => l.split('ALERT ')[1]!.split(':')[0],
        ),
      ).toEqual(['opened', 'cleared']);
      await printStep(owner, '11. repaired after the holders resumed: the alert cleared');

      // 12. The configured directory is deleted: backup refuses with the restore command, and
      // status says so (not "not backed up yet") with a member's address, within NOTICE_CHANGE_MS.
      fs.rmSync(src, { recursive: true, force: true });
      const gone = await cli(['backup', '--dir', owner.dir]);
      expect(gone.code).not.toBe(0);
      expect(gone.stderr).toMatch(
        /does not exist; if it was deleted after a backup, restore it: pb-node restore --path \S+ --overwrite never/,
      );
      r = await waitFor(
        'the missing directory in status',
        async () => {
          const x = await report(owner);
          return (x.backup.missingDirectories ?? []).length > 0 ? x : null;
        },
        NOTICE_CHANGE_MS,
      );
      expect(r.backup.missingDirectories).toEqual([src]);
      expect(r.backup.upToDate).toBe(false);
      expect(r.backup.words).toMatch(
        /^no: the configured directory .* does not exist \(deleted\? to restore: pb-node restore --path \S+ --overwrite never\)/,
      );
      // The hint works as printed: the deleted directory comes back, every file as backed up.
      const hint = /pb-node restore (--path \S+) --overwrite never/.exec(r.backup.words)!;
      const back = await cli([
        'restore',
        '--path',
        src,
        '--overwrite',
        'never',
        '--dir',
        owner.dir,
        '--json',
      ]);
      expect(back.code, back.stderr).toBe(0);
      expect(hint[1]).toBe(`--path ${src}`);
      expect(filesIn(src).files).toBeGreaterThan(0);
      expect(r.backup.words).not.toMatch(/not backed up yet/);
      await printStep(owner, '12. the configured directory deleted');
    } catch (error) {
      process.stderr.write(`${logs()}\n`);
      throw error;
    }
  }, 600_000);
});
