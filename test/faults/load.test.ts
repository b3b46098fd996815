/**
 * Load (issue 9): five pb-node daemons back up at once, each its own data, each a holder for the
 * others, while one of them is SIGKILLed (while it receives shards and runs its own backup) and
 * restarted on the same address. Afterwards every member's backup completes, every index is
 * consistent and every member's `restore --peer` is bit-identical: nothing lost.
 * See docs/faults.md.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretToWords } from '../../runtime/daemon/recovery/secret-words.ts';
import { fixedPort } from '../_ports.ts';
import { cli, initNode, type Proc, waitFor } from '../runtime/daemon/_cluster.ts';
import { describeTree, detBytes, expectSameTree } from '../runtime/helpers.ts';
import { LONG } from './_counts.ts';
import { expectIndexConsistent, MiB } from './_local.ts';

const NAMES = ['m0', 'm1', 'm2', 'm3', 'm4'] as const;
const VICTIM = 2;
/** Backups after the restart, per member, before the test gives up (each is one CLI run). */
const MAX_BACKUP_ATTEMPTS = 4;

async function directAddress(member: Proc): Promise<string> {
  const status = (await member.call('status')) as { addresses: string[] };
  const a = status.addresses.find((x) => x.includes('/tcp/') && !x.includes('p2p-circuit'));
  if (a === undefined) throw new Error('no direct TCP address');
  return a;
}

/** Shard files a member holds for others now. */
function heldShards(p: Proc): number {
  const dir = join(p.dir, 'shards', 'store', 'shards');
  if (!fs.existsSync(dir)) return 0;
  return fs.readdirSync(dir).reduce((n, fan) => n + fs.readdirSync(join(dir, fan)).length, 0);
}

// In `--long` only for now: it passed 2 of 3 runs here, and one run timed out waiting for the
// victim to receive a shard, with no cause found (the diagnostics below print the daemons' logs
// when that wait fails). Gate it into CI once it has run clean many times in a row.
describe.runIf(LONG)('load: five members back up at once while one is killed and restarted', () => {
  let root: string;
  const nodes: Proc[] = [];
  const sources: string[] = [];

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-faults-load-'));
    const procs = await Promise.all(
      NAMES.map(async (n, i) => {
        const src = join(root, 'home', n);
        fs.mkdirSync(join(src, 'sub'), { recursive: true });
        fs.writeFileSync(join(src, 'big.bin'), detBytes(`${n}/big`, 3 * MiB + 17 * i));
        fs.writeFileSync(join(src, 'sub', 'mid.bin'), detBytes(`${n}/mid`, MiB + 5));
        fs.writeFileSync(join(src, 'sub', 'note.txt'), `${n}'s note\n`);
        sources.push(src);
        return initNode(root, n, [
          '--listen',
          `/ip4/127.0.0.1/tcp/${await fixedPort()}`,
          '/p2p-circuit',
          '/webrtc',
          '--pledge',
          '96MiB',
          '--schedule',
          'off',
          '--directories',
          src,
        ]);
      }),
    );
    nodes.push(...procs);
    await Promise.all(procs.map((p) => p.start()));
    const [first, ...others] = procs as [Proc, ...Proc[]];
    expect((await cli(['create', '--dir', first.dir, '--ratio', '1.5', '--tolerance', '1'])).code).toBe(0);
    for (const candidate of others) {
      const code = (await cli(['invite', '--dir', first.dir])).stdout.trim();
      const joining = cli(['join', code, '--dir', candidate.dir, '--json', '--wait', '60s']);
      const name = candidate.dir.split('/').at(-1)!;
      await waitFor(
        `${name}'s request`,
        async () => ((await first.call('requests')) as { name: string }[]).some((r) => r.name === name),
        60_000,
      );
      expect((await cli(['approve', name, '--dir', first.dir])).code).toBe(0);
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

  it('every backup completes afterwards and every member restores bit-identical', async () => {
    const victim = nodes[VICTIM]!;
    const heldBefore = heldShards(victim);
    const done: (string | null)[] = nodes.map(() => null);
    const running = nodes.map((p, i) =>
      cli(['backup', '--dir', p.dir, '--json']).then((r) => {
        done[i] = `${r.code} ${r.stderr}${r.stdout}`.slice(0, 600);
        return r;
      }),
    );
    // Kill the victim while it receives the others' shards (its own backup is under way too).
    await waitFor(
      'the victim to receive shards',
      async () => {
        if (heldShards(victim) > heldBefore) return true;
        if (done.every((d) => d !== null)) throw new Error(`every backup ended first: ${done.join(' | ')}`);
        return false;
      },
      90_000,
    ).catch((error: unknown) => {
      const logs = nodes.map((p) => {
        const file = join(p.dir, 'pb-node.log');
        const tail = fs.existsSync(file)
          ? fs.readFileSync(file, 'utf8').split('\n').slice(-15).join('\n')
          : '';
        return `== ${p.dir}\n${tail}`;
      });
      throw new Error(`${String(error)}; backups: ${done.join(' | ')}\n${logs.join('\n')}`);
    });
    const underWay = done.filter((d) => d === null).length;
    expect(underWay, 'backups still under way when the victim is killed').toBeGreaterThan(0);
    victim.child?.kill('SIGKILL');
    await new Promise((r) => victim.child?.once('exit', r));
    victim.child = null;
    const first = await Promise.all(running);
    for (const r of first)
      if (r.code !== 0) expect(r.stdout + r.stderr).toMatch(/error|refused|unreachable|closed|failed|reset/i);
    await victim.start();
    expect(fs.readdirSync(join(victim.dir, 'shards', 'store', 'tmp'))).toEqual([]);
    // The restarted daemon resumes its interrupted backup by itself: let that run end.
    await waitFor(
      'the resumed backup to end',
      async () => {
        await new Promise((r) => setTimeout(r, 2500));
        return ((await victim.call('status')) as { backup: { state: string } }).backup.state !== 'running';
      },
      120_000,
    );

    // Every member's next backup completes (a member whose first run failed may need a retry
    // while its holders settle; bounded).
    const attempts: number[] = [];
    await Promise.all(
      nodes.map(async (p, i) => {
        for (let n = 1; n <= MAX_BACKUP_ATTEMPTS; n++) {
          const r = await cli(['backup', '--dir', p.dir, '--json']);
          if (r.code === 0) {
            attempts[i] = n;
            return;
          }
          if (n === MAX_BACKUP_ATTEMPTS) expect(r.code, `${NAMES[i]}: ${r.stderr}${r.stdout}`).toBe(0);
          await new Promise((resolve) => setTimeout(resolve, 2000));
        }
      }),
    );
    for (const p of nodes) expectIndexConsistent(join(p.dir, 'backup'));

    // Each member's data, restored from another member's address with only its secret words.
    for (const [i, p] of nodes.entries()) {
      const words = secretToWords(Buffer.from(fs.readFileSync(join(p.dir, 'secret'), 'utf8').trim(), 'hex'));
      const secretFile = join(root, `${NAMES[i]}-words.txt`);
      fs.writeFileSync(secretFile, `${words}\n`, { mode: 0o600 });
      const target = join(root, `restored-${NAMES[i]}`);
      const r = await cli([
        'restore',
        '--peer',
        await directAddress(nodes[(i + 1) % nodes.length]!),
        '--secret-file',
        secretFile,
        '--target',
        target,
        '--dir',
        join(root, `recovered-${NAMES[i]}`),
        '--test-network',
        '--json',
      ]);
      expect(r.code, `${NAMES[i]}: ${r.stderr}${r.stdout}`).toBe(0);
      expectSameTree(describeTree(join(target, sources[i]!)), describeTree(sources[i]!));
    }
    console.log(
      `load: first round ${first.map((r, i) => `${NAMES[i]}=${r.code === 0 ? 'ok' : 'failed'}`).join(' ')}; ` +
        `${NAMES[VICTIM]} killed with ${underWay} backups under way (its own ${first[VICTIM]!.code === 0 ? 'had completed' : 'interrupted'}), restarted; attempts to complete ${attempts.join(',')}; 5 restores exact`,
    );
  }, 420_000);
});
