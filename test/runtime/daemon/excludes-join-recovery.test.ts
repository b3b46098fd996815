/**
 * Real daemons (four members, two strangers): a daemon backup leaves out the config's `exclude`, the `backup` method's own
 * `exclude`, a CACHEDIR.TAG directory's contents and the pledge reservation lying inside the
 * backed-up directory; a rejected join exits 1 with the inviter's decision, and a reused invite
 * code exits 1 with the inviter's "already used" (no other invite of the inviter is live); a
 * recovery (`restore --peer`) brings the member's settings back from the snapshot.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHEDIR_TAG_SIGNATURE } from '../../../engine/index.ts';
import { loadConfig } from '../../../runtime/daemon/config/config.ts';
import { cli, initNode, type Proc, waitFor } from './_cluster.ts';
import { directAddress, formGroup } from './_group.ts';

const root = fs.mkdtempSync(join(tmpdir(), 'pb-exjoinrec-'));
const src = join(root, 'src');
const reserve = join(src, 'n1-shards');
let procs: Proc[] = [];

beforeAll(async () => {
  fs.mkdirSync(join(src, 'skip'), { recursive: true });
  fs.mkdirSync(join(src, 'cache'));
  fs.writeFileSync(join(src, 'keep.txt'), 'keep');
  fs.writeFileSync(join(src, 'a.tmp'), 'tmp');
  fs.writeFileSync(join(src, 'skip/x'), 'x');
  fs.writeFileSync(join(src, 'cache/CACHEDIR.TAG'), `${CACHEDIR_TAG_SIGNATURE}\n`);
  fs.writeFileSync(join(src, 'cache/blob'), 'blob');
  const group = await formGroup(
    root,
    ['n1', 'n2', 'n3', 'n4'],
    { n1: ['--schedule', 'off', '--watch-debounce', '0s', '--directories', src] },
    '64MiB',
    {
      beforeStart: (p, name) => {
        if (name !== 'n1') return;
        const file = join(p.dir, 'config');
        const text = fs
          .readFileSync(file, 'utf8')
          .replace(/^exclude = .*$/m, 'exclude = ["*.tmp"]')
          .replace(/^reserveDir = .*$/m, `reserveDir = ${JSON.stringify(reserve)}`);
        fs.writeFileSync(file, text);
      },
    },
  );
  procs = group.procs;
}, 240_000);

afterAll(async () => {
  for (const p of procs) await p.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('daemon excludes and join refusals', () => {
  it('a daemon backup leaves out config and call excludes, a tagged cache and the reservation', async () => {
    const n1 = procs[0]!;
    expect(fs.existsSync(join(reserve, 'reservation'))).toBe(true);
    const summary = (await n1.call('backup', { exclude: [join(src, 'skip')] })) as {
      scan: { files: number; excluded: number };
    };
    // keep.txt and the cache's tag; out: a.tmp, skip, cache/blob, n1-shards.
    expect(summary.scan.files).toBe(2);
    expect(summary.scan.excluded).toBe(4);
    await expect(n1.call('backup', { exclude: ['[bad'] })).rejects.toThrow(/exclude pattern "\[bad"/);
  }, 120_000);

  it("restore --peer brings the member's settings back from the snapshot, its flags over them", async () => {
    const [n1, n2] = procs as [Proc, Proc];
    const again = join(root, 'n1-again');
    const target = join(root, 'restored');
    const r = await cli([
      'restore',
      '--peer',
      await directAddress(n2),
      '--secret-file',
      join(n1.dir, 'secret'),
      '--target',
      target,
      '--dir',
      again,
      '--test-network',
      '--json',
    ]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stderr).toMatch(/settings restored from the snapshot/);
    const config = loadConfig(again);
    // Kept from n1's config: its exclude, schedule, reservation place and name.
    expect(config).toMatchObject({ name: 'n1', exclude: ['*.tmp'], schedule: 'off', reserveDir: reserve });
    // The restored roots, and --test-network over the saved settings (loopback, any dashboard port).
    expect(config.directories).toEqual([join(target, src)]);
    expect(config.listen).toEqual(['/ip4/127.0.0.1/tcp/0', '/p2p-circuit', '/webrtc']);
    expect(config.dashboard).toEqual({ host: '127.0.0.1', port: 0 });
    expect(fs.readFileSync(join(target, src, 'keep.txt'), 'utf8')).toBe('keep');
  }, 180_000);

  it('a rejected join exits 1 with the decision; a reused code exits 1 with "already used"', async () => {
    const n1 = procs[0]!;
    const [s1, s2] = [await initNode(root, 's1'), await initNode(root, 's2')];
    procs.push(s1, s2);
    await s1.start();
    await s2.start();
    const code = (await cli(['invite', '--dir', n1.dir])).stdout.trim();
    const joining = cli(['join', code, '--dir', s1.dir, '--wait', '60s']);
    await waitFor(
      "s1's request",
      async () => ((await n1.call('requests')) as { name: string }[]).some((r) => r.name === 's1'),
      60_000,
    );
    expect((await cli(['reject', 's1', '--dir', n1.dir])).code).toBe(0);
    const refused = await joining;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('pb-node join: the inviter rejected the request');
    // n1 has no live invite now: s2 still reaches its join desk and hears why.
    const reused = await cli(['join', code, '--dir', s2.dir, '--wait', '30s']);
    expect(reused.code).toBe(1);
    expect(reused.stderr).toMatch(/this invite was already used/);
    expect(reused.stderr).not.toMatch(/undefined/);
  }, 180_000);
});
