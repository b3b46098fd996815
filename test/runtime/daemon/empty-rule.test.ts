/**
 * The empty-directory rule (docs/design.md §10, issue 7): five members; the owner backs up 100 files;
 * then it is restarted with its directories nearly emptied (10 files left, under its configured
 * `emptyFraction` of 0.2) and a short schedule. Every run is refused: status `refused` with the
 * restore command, exactly one ALERT line however many runs are refused, and nothing changes on
 * any member: the heads, the shards, the owner's snapshots and head.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, type Proc, waitFor } from './_cluster.ts';
import { formGroup, shardFiles } from './_group.ts';

interface Refused {
  state: string;
  reason: string;
  atMs: number;
  restoreHint: string;
}

/** `pb-node backup`, again while a scheduled run holds the daemon ('busy'). */
async function backupCli(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  for (;;) {
    const r = await cli(['backup', ...args]);
    if (!/"busy"/.test(r.stdout)) return r;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('the empty-directory rule', () => {
  let root: string;
  let procs: Proc[] = [];
  let ids = new Map<Proc, string>();
  let src: string;

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-empty-rule-'));
    src = join(root, 'home', 'docs');
    fs.mkdirSync(src, { recursive: true });
    ({ procs, ids } = await formGroup(root, ['owner', 'm2', 'm3', 'm4', 'm5'], {
      owner: ['--directories', src, '--schedule', 'off', '--watch-debounce', '0s'],
    }));
  }, 240_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('refuses nearly emptied directories, alerts once, and leaves every head and snapshot alone', async () => {
    const [owner, ...members] = procs as [Proc, ...Proc[]];
    const ownerId = ids.get(owner)!;
    for (let i = 0; i < 100; i++)
      fs.writeFileSync(join(src, `file-${i}.txt`), `content ${i}\n`.repeat(100 + i));
    const b = await cli(['backup', '--dir', owner.dir, '--json']);
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({ scan: { files: 100 }, heads: { seq: 1, failed: [] } });

    const snapshotsOf = (): string[] => {
      const db = new Database(join(owner.dir, 'backup', 'index.sqlite'), { readonly: true });
      try {
        return db
          .prepare<[], { id: string }>('SELECT hex(id) AS id FROM snapshots ORDER BY id')
          .all()
          .map((r) => r.id);
      } finally {
        db.close();
      }
    };
    const state = () => ({
      heads: members.map((m) => fs.readFileSync(join(m.dir, 'heads', `${ownerId}.head`)).toString('hex')),
      shards: members.map(shardFiles),
      ownerHead: fs.readFileSync(join(owner.dir, 'backup', 'head')).toString('hex'),
      snapshots: snapshotsOf(),
    });
    const before = state();
    expect(before.snapshots).toHaveLength(1);
    expect(before.shards.flat().length).toBeGreaterThan(0);

    // Restarted with 10 of the 100 files, a fraction of 0.2 and a backup every 3 seconds.
    await owner.stop();
    for (let i = 10; i < 100; i++) fs.rmSync(join(src, `file-${i}.txt`));
    const configFile = join(owner.dir, 'config');
    const config = fs.readFileSync(configFile, 'utf8');
    expect(config).toMatch(/^emptyFraction = 0\.05$/m);
    fs.writeFileSync(
      configFile,
      config
        .replace(/^emptyFraction = .*$/m, 'emptyFraction = 0.2')
        .replace(/^schedule = .*$/m, 'schedule = 0.05'),
    );
    await owner.start();
    const first = await waitFor(
      'the scheduled run to be refused',
      async () => {
        const s = ((await owner.call('status')) as { backup: Refused }).backup;
        return s.state === 'refused' ? s : null;
      },
      60_000,
    );
    expect(first.reason).toMatch(/10 files .*fewer than 20% of the newest snapshot's 100 files/);
    expect(first.restoreHint).toContain(`pb-node restore --peer`);
    expect(first.restoreHint).toContain(`--dir ${owner.dir}`);
    // The next scheduled run is refused too, without a second ALERT.
    await waitFor(
      'a second scheduled refusal',
      async () => ((await owner.call('status')) as { backup: Refused }).backup.atMs > first.atMs,
      60_000,
    );
    const manual = await backupCli(['--dir', owner.dir, '--json']);
    expect(manual.code).toBe(1);
    expect(JSON.parse(manual.stdout)).toMatchObject({ error: { code: 'empty-sources' } });
    const log = fs.readFileSync(join(owner.dir, 'pb-node.log'), 'utf8');
    expect(log.match(/ALERT: backup refused/g)).toHaveLength(1);
    expect(log).toMatch(/ALERT: backup refused: .*To restore: .*pb-node restore --peer/);
    expect(state()).toEqual(before);

    // On purpose: --allow-empty records the small tree as the next snapshot.
    const allowed = await backupCli(['--dir', owner.dir, '--allow-empty', '--json']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ scan: { files: 10 }, heads: { seq: 2 } });
    expect(((await owner.call('status')) as { backup: { state: string } }).backup.state).not.toBe('refused');
  }, 240_000);
});
