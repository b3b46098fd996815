/**
 * `pb-node status` against live daemons: four real processes on 127.0.0.1 with an 8x skew of
 * pledges (256 MiB vs three 32 MiB), the owner backs up a small tree, a fifth node asks to join.
 * The report's numbers are checked against hand-computed values and against what each process
 * says about itself, the empty-directory refusal shows, `--json` is validated against docs/status.schema.json, and the human output
 * carries the dashboard address with its token.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../../runtime/daemon/status/status-report.ts';
import { cli, initNode, type Proc, waitFor } from './_cluster.ts';
import { validate } from './_schema.ts';

const MiB = 1024 * 1024;
const schema = JSON.parse(
  fs.readFileSync(join(import.meta.dirname, '../../../docs/status.schema.json'), 'utf8'),
) as Record<string, unknown>;

async function statusJson(p: Proc): Promise<StatusReport> {
  const r = await cli(['status', '--dir', p.dir, '--json']);
  expect(r.code, `${r.stderr}${r.stdout}`).toBe(0);
  const report = JSON.parse(r.stdout) as StatusReport;
  expect(validate(schema, report)).toEqual([]);
  return report;
}

describe('pb-node status on a live group', () => {
  let root: string;
  let src: string;
  const nodes: Proc[] = [];
  const ids = new Map<string, string>();
  let joining: Promise<unknown> | null = null;

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-status-'));
    src = join(root, 'home');
    fs.mkdirSync(join(src, 'sub'), { recursive: true });
    fs.writeFileSync(join(src, 'a.bin'), randomBytes(2 * MiB + 1234));
    fs.writeFileSync(join(src, 'sub', 'b.txt'), 'status is honest\n'.repeat(1000));
    const pledges: Record<string, string> = { owner: '256MiB', m2: '32MiB', m3: '32MiB', m4: '32MiB' };
    const procs = await Promise.all(
      Object.entries(pledges).map(([name, pledge]) =>
        initNode(root, name, [
          '--pledge',
          pledge,
          ...(name === 'owner' ? ['--directories', src, '--schedule', 'off', '--watch-debounce', '0s'] : []),
        ]),
      ),
    );
    nodes.push(...procs);
    await Promise.all(procs.map((p) => p.start()));
    for (const p of procs) ids.set(p.dir.split('/').at(-1)!, ((await p.call('status')) as { id: string }).id);
    const [owner, ...others] = procs as [Proc, Proc, Proc, Proc];
    expect((await cli(['create', '--dir', owner.dir, '--ratio', '1.5', '--tolerance', '1'])).code).toBe(0);
    for (const candidate of others) {
      const code = (await cli(['invite', '--dir', owner.dir])).stdout.trim();
      const join_ = cli(['join', code, '--dir', candidate.dir, '--json', '--wait', '90s']);
      const name = candidate.dir.split('/').at(-1)!;
      await waitFor(
        `${name}'s request`,
        async () => ((await owner.call('requests')) as { name: string }[]).some((r) => r.name === name),
        60_000,
      );
      expect((await cli(['approve', name, '--dir', owner.dir])).code).toBe(0);
      expect(JSON.parse((await join_).stdout)).toMatchObject({ outcome: 'approved' });
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
    await joining?.catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('reports allowance, backup size, pledge use, members, exposure and requests from live data', async () => {
    const [owner, m2, m3, m4] = nodes as [Proc, Proc, Proc, Proc];

    // Before any backup: everything is pending.
    const before = await statusJson(owner);
    expect(before.backup).toMatchObject({ upToDate: false, lastSnapshot: null, stripes: 0 });
    expect(before.backup.pendingFiles).toBe(2);
    expect(before.backup.pendingBytes).toBe(2 * MiB + 1234 + 17_000);

    // Hand-computed allowance: 4 members, ratio 1.5, f = 1: k+m <= 3 others, 3/2 <= 1.5: 2+1
    // with no repair slack. A small owner may back up floor(32 MiB / 1.5) = 22369621 bytes; its
    // 2+1 stripes put d/2 on each of the 3 others, so each small member holds d from the other two
    // small owners and L/2 from the big owner: L/2 + 22369621 <= 32 MiB gives L = 22369622.
    expect(before.group.code).toMatchObject({
      feasible: true,
      dataShards: 2,
      parityShards: 1,
      repairSlack: false,
    });
    const c = before.capacity!;
    expect(c.limitedBy).toBe('group');
    expect(c.agreementBytes).toBe(Math.floor((256 * MiB) / 1.5));
    expect(Math.abs(c.allowanceBytes - 22_369_622)).toBeLessThan(64);
    // One owner alone on [32, 32, 32] MiB with 3 shards a stripe: k x* = 2 * 32 MiB.
    expect(c.ownerBoundBytes).toBe(64 * MiB);
    expect(c.words).toContain("the other members' capacity is the limit");
    // x* over [256, 32, 32, 32] with s = 3: peel 256, 96 / 2 = 48 > 32: x* = 48 MiB; T* = 96 MiB.
    expect(before.group.shareBytes).toBe(48 * MiB);
    expect(before.group.boundBytes).toBe(96 * MiB);
    expect(before.members.find((m) => m.name === 'owner')!.capped).toBe(true);

    // Back up, then the numbers follow the index and the holders' own stores.
    const b = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(b.code, b.stderr + b.stdout).toBe(0);
    const db = new Database(join(owner.dir, 'backup', 'index.sqlite'), { readonly: true });
    const stripes = db.prepare('SELECT k, m, shard_bytes FROM stripes').all() as {
      k: number;
      m: number;
      shard_bytes: number;
    }[];
    db.close();
    const dataBytes = stripes.reduce((s, x) => s + x.k * x.shard_bytes, 0);
    const allBytes = stripes.reduce((s, x) => s + (x.k + x.m) * x.shard_bytes, 0);
    const after = await waitFor(
      'the backup in the report',
      async () => {
        const r = await statusJson(owner);
        return r.backup.upToDate ? r : null;
      },
      30_000,
    );
    expect(after.backup).toMatchObject({
      stripes: stripes.length,
      backedUpBytes: dataBytes,
      storedWithRedundancyBytes: allBytes,
      pendingBytes: 0,
      pendingFiles: 0,
      state: 'idle',
      refused: null,
    });
    expect(after.backup.lastSnapshot).toMatchObject({ files: 2, bytes: 2 * MiB + 1234 + 17_000 });
    expect(after.backup.words).toMatch(/^yes, everything is backed up/);
    expect(after.capacity!.allowanceLeftBytes).toBe(after.capacity!.allowanceBytes - dataBytes);
    // Every shard of the owner's is on exactly one of the three others.
    const rows = new Map(after.members.map((m) => [m.name, m]));
    expect(['m2', 'm3', 'm4'].reduce((s, n) => s + rows.get(n)!.holdsOfMineBytes, 0)).toBe(allBytes);
    // Each holder's use is its own report of its store (shard files, headers included).
    for (const [name, p] of [
      ['m2', m2],
      ['m3', m3],
      ['m4', m4],
    ] as const) {
      const own = ((await p.call('status')) as { store: { storedBytes: number } }).store.storedBytes;
      // Usage answers are remembered for a few seconds: the next question sees the new shards.
      const row = await waitFor(`${name}'s use after the backup`, async () => {
        const r = (await statusJson(owner)).members.find((m) => m.name === name)!;
        return r.usedBytes === own ? r : null;
      });
      expect(row.usedBytes!).toBeGreaterThanOrEqual(row.holdsOfMineBytes);
      expect(row).toMatchObject({ pledgeBytes: 32 * MiB, availability: 'online', connected: true });
      expect(row.lastSeenMs).not.toBeNull();
    }
    expect(rows.get('owner')).toMatchObject({ self: true, usedBytes: 0, availability: 'self' });
    expect(after.exposure).toMatchObject({
      storedBytes: dataBytes,
      exposedBytes: 0,
      unreadableNowBytes: 0,
      unrecoverableBytes: 0,
    });
    expect(after.repair).toMatchObject({ queuedTasks: 0, failedTasks: 0 });
    // A holder's own view: it holds the owner's shards in its pledge.
    const m2report = await statusJson(m2);
    expect(m2report.pledge.usedBytes).toBeGreaterThan(rows.get('m2')!.holdsOfMineBytes);
    expect(m2report.capacity!.limitedBy).toBe('pledge');

    // A change: exactly the new file is pending.
    fs.writeFileSync(join(src, 'new.bin'), randomBytes(MiB));
    const changed = await waitFor(
      'the new file pending',
      async () => {
        const r = await statusJson(owner);
        return r.backup.pendingFiles === 1 ? r : null;
      },
      30_000,
    );
    expect(changed.backup).toMatchObject({ upToDate: false, pendingBytes: MiB });
    expect(changed.backup.words).toMatch(/^no: 1\.05 MB in 1 changed file not backed up yet/);

    // A join request waits: the owner decides.
    const m5 = await initNode(root, 'm5', ['--pledge', '32MiB']);
    nodes.push(m5);
    await m5.start();
    const code = (await cli(['invite', '--dir', owner.dir])).stdout.trim();
    joining = cli(['join', code, '--dir', m5.dir, '--json', '--wait', '60s']);
    const withRequest = await waitFor(
      'the request in the report',
      async () => {
        const r = await statusJson(owner);
        return r.requests.length === 1 ? r : null;
      },
      60_000,
    );
    expect(withRequest.requests[0]).toMatchObject({ name: 'm5', mine: true, invitedByName: 'owner' });

    // The human form: short aligned lines, the request, and the dashboard with its token.
    const text = await cli(['status', '--dir', owner.dir]);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines.length).toBeLessThan(40);
    expect(text.stdout).toMatch(/^Backed up {4}no: 1\.05 MB in 1 changed file/m);
    expect(text.stdout).toContain('pb-node approve m5  or  pb-node reject m5');
    const token = fs.readFileSync(join(owner.dir, 'dashboard-token'), 'utf8').trim();
    expect(fs.statSync(join(owner.dir, 'dashboard-token')).mode & 0o777).toBe(0o600);
    expect(text.stdout).toContain(`Dashboard    ${withRequest.dashboard.url}?token=${token}`);
    for (const name of ['m2', 'm3', 'm4']) expect(lines.some((l) => l.startsWith(`  ${name} `))).toBe(true);

    expect((await cli(['reject', 'm5', '--dir', owner.dir])).code).toBe(0);
    expect(JSON.parse(((await joining) as { stdout: string }).stdout)).toMatchObject({ outcome: 'rejected' });

    // The empty-directory rule: refused, said first, with the restore command.
    const aside = `${src}.aside`;
    fs.renameSync(src, aside);
    fs.mkdirSync(src);
    expect((await cli(['backup', '--dir', owner.dir, '--json'])).code).toBe(1);
    const refused = await statusJson(owner);
    expect(refused.backup).toMatchObject({ state: 'refused', upToDate: false });
    expect(refused.backup.refused!.restoreHint).toContain('pb-node restore --peer');
    expect(refused.backup.words).toMatch(
      /^REFUSED: the directories hold 0 files .*fewer than 5% of the newest snapshot/,
    );
    expect((await cli(['status', '--dir', owner.dir])).stdout).toMatch(/^Backed up {4}REFUSED: /m);
    fs.rmSync(src, { recursive: true });
    fs.renameSync(aside, src);
  }, 240_000);
});
