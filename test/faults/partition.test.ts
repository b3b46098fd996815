/**
 * Partitions with network namespaces (needs `ip netns add`, i.e. root; skipped with the reason
 * otherwise). Four pb-node daemons, each in its own namespace with one veth into a hub namespace
 * that holds two bridges; a partition moves n3's and n4's links to the second bridge, the heal
 * moves them back. Nothing in pb is told about the partition: packets stop, that is all.
 * - During the partition ops go on on both sides (n1 and n3 change their pledges; each side
 *   sees its own change and not the other's) and each owner tries a backup: it completes or
 *   fails with a clear typed error (its stripes need holders on the other side), never a crash.
 * - After the heal the group state converges (the same op set and member list on all four) and
 *   the next backups complete; both owners' `restore --peer` are bit-identical: nothing lost.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../../runtime/daemon/config/config.ts';
import { callDaemon } from '../../runtime/daemon/control/control.ts';
import { secretToWords } from '../../runtime/daemon/recovery/secret-words.ts';
import { BIN, cli, waitFor } from '../runtime/daemon/_cluster.ts';
import { describeTree, expectSameTree } from '../runtime/helpers.ts';
import { MiB, writeFiles } from './_local.ts';

const TAG = `pbp${process.pid % 100000}`;
const HUB = `${TAG}hub`;
const NAMES = ['n1', 'n2', 'n3', 'n4'] as const;
const ns = (n: string) => `${TAG}${n}`;
const ipOf = (i: number) => `10.213.${process.pid % 200}.${i + 1}`;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

const netnsWhy = (() => {
  try {
    ip('netns', 'add', `${TAG}probe`);
    try {
      // What the setup needs beyond a namespace: a bridge and a veth pair in it.
      ip('-n', `${TAG}probe`, 'link', 'add', 'br0', 'type', 'bridge');
      ip('-n', `${TAG}probe`, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb');
    } finally {
      ip('netns', 'del', `${TAG}probe`);
    }
    return null;
  } catch (error) {
    return `ip netns add failed: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  }
})();

class NsNode {
  child: ChildProcess | null = null;
  stderr = '';
  id = '';
  constructor(
    readonly name: string,
    readonly dir: string,
    readonly index: number,
  ) {}

  call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    return callDaemon(paths(this.dir).socket, method, params);
  }

  async start(): Promise<void> {
    this.child = spawn(
      'ip',
      ['netns', 'exec', ns(this.name), process.execPath, BIN, 'start', '--dir', this.dir],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
    await waitFor(
      `${this.name} to start`,
      async () => {
        if (this.child?.exitCode !== null) throw new Error(`${this.name} exited: ${this.stderr}`);
        return fs.existsSync(paths(this.dir).socket) && (await this.call('status'));
      },
      30_000,
    );
    this.id = ((await this.call('status')) as { id: string }).id;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  get address(): string {
    return `/ip4/${ipOf(this.index)}/tcp/4002/p2p/${this.id}`;
  }
}

/** The group as this node sees it: members with pledges, and the set of its op records. */
async function view(n: NsNode): Promise<{ members: string; ops: string }> {
  const members = ((await n.call('members')) as { id: string; name: string; pledgeBytes: number }[])
    .map((m) => `${m.name}:${m.pledgeBytes}`)
    .sort()
    .join(' ');
  const bin = fs.readFileSync(join(n.dir, 'group', 'ops.bin'));
  const hashes: string[] = [];
  for (let at = 0; at + 4 <= bin.length; ) {
    const len = bin.readUInt32BE(at);
    hashes.push(
      createHash('sha256')
        .update(bin.subarray(at + 4, at + 4 + len))
        .digest('hex'),
    );
    at += 4 + len;
  }
  return { members, ops: hashes.sort().join(',') };
}

describe.skipIf(netnsWhy !== null)(
  `partitions (network namespaces)${netnsWhy ? ` (skipped: ${netnsWhy})` : ''}`,
  () => {
    let root: string;
    const nodes: NsNode[] = [];
    const srcs = new Map<string, string>();

    beforeAll(async () => {
      root = fs.mkdtempSync(join(tmpdir(), 'pb-faults-partition-'));
      ip('netns', 'add', HUB);
      ip('-n', HUB, 'link', 'add', 'br0', 'type', 'bridge');
      ip('-n', HUB, 'link', 'add', 'br1', 'type', 'bridge');
      ip('-n', HUB, 'link', 'set', 'br0', 'up');
      ip('-n', HUB, 'link', 'set', 'br1', 'up');
      for (const [i, name] of NAMES.entries()) {
        ip('netns', 'add', ns(name));
        ip('-n', HUB, 'link', 'add', `v${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns(name));
        ip('-n', HUB, 'link', 'set', `v${name}`, 'master', 'br0', 'up');
        ip('-n', ns(name), 'addr', 'add', `${ipOf(i)}/24`, 'dev', 'eth0');
        ip('-n', ns(name), 'link', 'set', 'eth0', 'up');
        ip('-n', ns(name), 'link', 'set', 'lo', 'up');
        const dir = join(root, name);
        const src = join(root, `${name}-home`);
        fs.mkdirSync(src);
        srcs.set(name, src);
        const backs = name === 'n1' || name === 'n3';
        const r = await cli([
          'init',
          '--dir',
          dir,
          '--name',
          name,
          '--listen',
          `/ip4/${ipOf(i)}/tcp/4002`,
          '--no-webrtc',
          '--no-relay-server',
          '--sync-interval',
          '1s',
          '--pledge',
          '96MiB',
          ...(backs ? ['--directories', src, '--schedule', 'off', '--watch-debounce', '0s'] : []),
          '--json',
        ]);
        expect(r.code, r.stderr).toBe(0);
        nodes.push(new NsNode(name, dir, i));
      }
      await Promise.all(nodes.map((n) => n.start()));
      const [n1, ...others] = nodes as [NsNode, NsNode, NsNode, NsNode];
      expect((await cli(['create', '--dir', n1.dir, '--ratio', '1.5', '--tolerance', '1'])).code).toBe(0);
      for (const candidate of others) {
        const code = (await cli(['invite', '--dir', n1.dir])).stdout.trim();
        const joining = cli(['join', code, '--dir', candidate.dir, '--json', '--wait', '90s']);
        await waitFor(
          `${candidate.name}'s request`,
          async () =>
            ((await n1.call('requests')) as { name: string }[]).some((r) => r.name === candidate.name),
          60_000,
        );
        expect((await cli(['approve', candidate.name, '--dir', n1.dir])).code).toBe(0);
        expect(JSON.parse((await joining).stdout)).toMatchObject({ outcome: 'approved' });
      }
      for (const n of nodes)
        await waitFor(
          `${n.name} to see four pledges`,
          async () =>
            ((await n.call('members')) as { pledgeBytes: number }[]).filter((m) => m.pledgeBytes > 0)
              .length === 4,
          60_000,
        );
    }, 300_000);

    afterAll(async () => {
      await Promise.all(nodes.map((n) => n.stop()));
      for (const name of [...NAMES, 'hub'])
        try {
          ip('netns', 'del', name === 'hub' ? HUB : ns(name));
        } catch {}
      if (root) fs.rmSync(root, { recursive: true, force: true });
    });

    const split = (to: 'br0' | 'br1') => {
      for (const name of ['n3', 'n4']) ip('-n', HUB, 'link', 'set', `v${name}`, 'master', to);
    };

    async function backup(n: NsNode): Promise<{ code: number; text: string }> {
      const r = await cli(['backup', '--dir', n.dir, '--json']);
      return { code: r.code, text: r.stdout + r.stderr };
    }

    async function restoreExact(owner: NsNode, via: NsNode): Promise<void> {
      const words = secretToWords(
        Buffer.from(fs.readFileSync(join(owner.dir, 'secret'), 'utf8').trim(), 'hex'),
      );
      const secretFile = join(root, `${owner.name}-words.txt`);
      fs.writeFileSync(secretFile, `${words}\n`, { mode: 0o600 });
      const target = join(root, `${owner.name}-restored`);
      const out = execFileSync(
        'ip',
        [
          'netns',
          'exec',
          ns(via.name),
          process.execPath,
          BIN,
          'restore',
          '--peer',
          via.address,
          '--secret-file',
          secretFile,
          '--target',
          target,
          '--dir',
          join(root, `${owner.name}-recovered`),
          '--test-network',
          '--json',
        ],
        { encoding: 'utf8', timeout: 180_000 },
      );
      expect(JSON.parse(out)).toMatchObject({ owner: owner.id });
      const src = srcs.get(owner.name)!;
      expectSameTree(describeTree(join(target, src)), describeTree(src));
    }

    it('ops go on on both sides of a partition; after the heal the state converges and nothing is lost', async () => {
      const [n1, n2, n3, n4] = nodes as [NsNode, NsNode, NsNode, NsNode];
      writeFiles(srcs.get('n1')!, 'p-n1-before', 3, 2 * MiB, 'n1');
      writeFiles(srcs.get('n3')!, 'p-n3-before', 3, 2 * MiB, 'n3');
      expect((await backup(n1)).code).toBe(0);
      expect((await backup(n3)).code).toBe(0);

      split('br1');
      // Ops on each side.
      expect((await cli(['pledge', '80MiB', '--dir', n1.dir])).code).toBe(0);
      expect((await cli(['pledge', '70MiB', '--dir', n3.dir])).code).toBe(0);
      const pledgeOf = async (viewer: NsNode, name: string) =>
        ((await viewer.call('members')) as { name: string; pledgeBytes: number }[]).find(
          (m) => m.name === name,
        )?.pledgeBytes;
      await waitFor('n2 to see n1 pledge 80MiB', async () => (await pledgeOf(n2, 'n1')) === 80 * MiB, 60_000);
      await waitFor('n4 to see n3 pledge 70MiB', async () => (await pledgeOf(n4, 'n3')) === 70 * MiB, 60_000);
      expect(await pledgeOf(n1, 'n3')).toBe(96 * MiB);
      expect(await pledgeOf(n3, 'n1')).toBe(96 * MiB);
      // Backups on each side: complete, or a clear typed refusal (their holders are split).
      writeFiles(srcs.get('n1')!, 'p-n1-during', 2, 2 * MiB, 'n1');
      writeFiles(srcs.get('n3')!, 'p-n3-during', 2, 2 * MiB, 'n3');
      const during = await Promise.all([backup(n1), backup(n3)]);
      for (const d of during)
        if (d.code !== 0)
          expect(JSON.parse(d.text.split('\n')[0]!)).toMatchObject({ error: { code: expect.any(String) } });

      split('br0');
      await waitFor(
        'the four views to converge',
        async () => {
          const views = await Promise.all(nodes.map(view));
          return (
            views.every((v) => v.members === views[0]!.members && v.ops === views[0]!.ops) &&
            views[0]!.members.includes(`n1:${80 * MiB}`) &&
            views[0]!.members.includes(`n3:${70 * MiB}`)
          );
        },
        120_000,
      );
      const after = await Promise.all([backup(n1), backup(n3)]);
      for (const a of after) expect(a.code, a.text).toBe(0);
      await restoreExact(n1, n2);
      await restoreExact(n3, n4);
      console.log(
        `partition: ops on both sides, backups during it: ${during.map((d) => (d.code === 0 ? 'completed' : `refused (${d.text.slice(0, 160)})`)).join(' / ')}; converged after the heal; both restores exact`,
      );
    }, 600_000);
  },
);
