/**
 * Membership across real pb-node processes on 127.0.0.1: five members converge; a reject; a
 * removal converges and the removed member is refused on every protocol; a stranger is refused
 * everywhere; used, expired and malformed invites are refused; fuzzed frames change nothing; a
 * restarted node keeps its identity and state; the pledge is reserved as allocated blocks.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSyncMessage, syncIndex, syncStart } from '../../../engine/index.ts';
import { OPEN_POLICY } from '../../../runtime/net/access.ts';
import { encodeMessage } from '../../../runtime/net/framing.ts';
import { GROUP_MSG, GROUP_PROTOCOL } from '../../../runtime/net/group-sync.ts';
import { HEAD_MSG, HEAD_PROTOCOL } from '../../../runtime/net/head-protocol.ts';
import { JOIN_MSG, JOIN_PROTOCOL } from '../../../runtime/net/join.ts';
import { SHARD_MSG, SHARD_PROTOCOL } from '../../../runtime/net/shard-protocol.ts';
import { isRefused, testNode } from '../net/_helpers.ts';
import { cli, initNode, memberNames, type Proc, waitFor } from './_cluster.ts';

const MiB = 1024 * 1024;
const openings = (owner: string): [string, Uint8Array][] => [
  [GROUP_PROTOCOL, encodeMessage(GROUP_MSG.step, [encodeSyncMessage(syncStart(syncIndex([])))])],
  [JOIN_PROTOCOL, encodeMessage(JOIN_MSG.hello, [randomBytes(32), 1000])],
  [SHARD_PROTOCOL, encodeMessage(SHARD_MSG.list, ['', 10])],
  [HEAD_PROTOCOL, encodeMessage(HEAD_MSG.get, [owner])],
];

describe('five pb-node processes', () => {
  let root: string;
  const nodes: Proc[] = [];
  let stranger: Proc;
  const ids = new Map<Proc, string>();
  const addr = new Map<Proc, string>();

  beforeAll(async () => {
    root = fs.mkdtempSync(join(tmpdir(), 'pb-members-'));
    const names = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const procs = await Promise.all(
      [...names, 'stranger'].map((n) => initNode(root, n, ['--pledge', '64MiB'])),
    );
    nodes.push(...procs.slice(0, 5));
    stranger = procs[5]!;
    await Promise.all(procs.map((p) => p.start()));
    for (const p of procs) {
      const s = (await p.call('status')) as { id: string; addresses: string[] };
      ids.set(p, s.id);
      addr.set(p, s.addresses[0]!);
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...nodes, stranger].map((p) => p?.stop()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function invite(by: Proc, expires = '1h'): Promise<string> {
    const r = await cli(['invite', '--dir', by.dir, '--expires', expires]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  }

  /** Candidate joins with the CLI (its own process); the inviter decides with the CLI. */
  const usedCodes: string[] = [];
  async function joinAndDecide(
    inviter: Proc,
    candidate: Proc,
    decision: 'approve' | 'reject',
  ): Promise<string> {
    const code = await invite(inviter);
    usedCodes.push(code);
    const joining = cli(['join', code, '--dir', candidate.dir, '--json', '--wait', '60s']);
    const name = candidate.dir.split('/').at(-1)!;
    await waitFor(`${name}'s request`, async () =>
      ((await inviter.call('requests')) as { name: string }[]).some((r) => r.name === name),
    );
    const d = await cli([decision, name, '--dir', inviter.dir]);
    expect(d.code, d.stderr).toBe(0);
    const r = await joining;
    return (JSON.parse(r.stdout) as { outcome: string }).outcome;
  }

  it('init, invite, join, approve: the member list converges on all five; a reject', async () => {
    const [n1, n2, n3, n4, n5] = nodes as [Proc, Proc, Proc, Proc, Proc];
    expect((await cli(['create', '--dir', n1.dir, '--ratio', '1.5', '--tolerance', '1'])).code).toBe(0);
    expect(await joinAndDecide(n1, n2, 'approve')).toBe('approved');
    expect(await joinAndDecide(n2, n3, 'approve')).toBe('approved'); // any member invites
    expect(await joinAndDecide(n1, n4, 'approve')).toBe('approved');
    expect(await joinAndDecide(n3, n5, 'reject')).toBe('rejected');
    expect(await joinAndDecide(n3, n5, 'approve')).toBe('approved'); // a new invitation after a reject
    const all = ['n1', 'n2', 'n3', 'n4', 'n5'];
    for (const p of nodes)
      await waitFor(
        `${p.dir} to see five members`,
        async () => JSON.stringify(await memberNames(p)) === JSON.stringify(all),
      );
    // Pledges are ops too: every member sees every pledge.
    const rows = (await n4.call('members')) as { pledgeBytes: number }[];
    await waitFor('pledges', async () =>
      ((await n4.call('members')) as { pledgeBytes: number }[]).every((m) => m.pledgeBytes === 64 * MiB),
    );
    expect(rows).toHaveLength(5);
    const listing = await cli(['members', '--dir', n5.dir]);
    expect(listing.stdout).toMatch(/\* n5/);
  }, 120_000);

  it('the pledge is reserved as really allocated blocks; lowering it below stored is refused', async () => {
    const file = join(nodes[0]!.dir, 'shards', 'reservation');
    const st = fs.statSync(file);
    expect(st.size).toBe(64 * MiB);
    expect(st.blocks * 512).toBeGreaterThanOrEqual(64 * MiB);
    const r = await cli(['pledge', '32MiB', '--dir', nodes[0]!.dir, '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ pledgeBytes: 32 * MiB, reservationBytes: 32 * MiB });
    expect(fs.statSync(file).blocks * 512).toBeLessThan(33 * MiB);
  });

  it('used, expired and malformed invites are refused with a clear message', async () => {
    const n1 = nodes[0]!;
    await invite(n1); // an invite out: strangers may reach the join protocol (and nothing else)
    const used = await invite(n1);
    const taker = cli(['join', used, '--dir', stranger.dir, '--json', '--wait', '60s']);
    await waitFor('the request', async () => ((await n1.call('requests')) as unknown[]).length === 1);
    await cli(['reject', 'stranger', '--dir', n1.dir]);
    expect(JSON.parse((await taker).stdout)).toMatchObject({ outcome: 'rejected' });
    // Asking again with the same code: the same request, the same answer.
    expect(JSON.parse((await cli(['join', used, '--dir', stranger.dir, '--json'])).stdout)).toMatchObject({
      outcome: 'rejected',
    });
    // A code another candidate already used is refused.
    const again = await cli(['join', usedCodes[0]!, '--dir', stranger.dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already used/);
    const short = await invite(n1, '1s');
    expect(short.startsWith('pb1')).toBe(true);
    await new Promise((r) => setTimeout(r, 1200));
    const expired = await cli(['join', short, '--dir', stranger.dir]);
    expect(expired.code).toBe(1);
    expect(expired.stderr).toMatch(/expired/);
    const bad = await cli(['join', 'pb1garbage!!', '--dir', stranger.dir]);
    expect(bad.stderr).toMatch(/not a pb invite code/);
    const damaged = await cli(['join', `${used.slice(0, 40)}`, '--dir', stranger.dir]);
    expect(damaged.stderr).toMatch(/damaged/);
  }, 60_000);

  it('a stranger without an invite is refused on every protocol', async () => {
    const s = await testNode(() => OPEN_POLICY);
    try {
      for (const [protocol, opening] of openings(ids.get(nodes[0]!)!)) {
        for (const target of nodes) {
          expect(await isRefused(s.node, multiaddr(addr.get(target)!), protocol, opening), protocol).toMatch(
            /^refused/,
          );
        }
      }
    } finally {
      await s.node.stop();
    }
  }, 60_000);

  it('fuzzed frames from a member on every protocol are refused without harm', async () => {
    const [n1, , , n4] = nodes as [Proc, Proc, Proc, Proc];
    await n4.stop();
    const secret = Uint8Array.from(
      Buffer.from(fs.readFileSync(join(n4.dir, 'secret'), 'utf8').trim(), 'hex'),
    );
    const m = await testNode(() => OPEN_POLICY, {}, secret);
    try {
      const target = multiaddr(addr.get(n1)!);
      // Well-formed openings are served to a member (join is for non-members).
      for (const [protocol, opening] of openings(ids.get(n1)!)) {
        const verdict = await isRefused(m.node, target, protocol, opening);
        if (protocol === JOIN_PROTOCOL || protocol === HEAD_PROTOCOL) expect(verdict).toMatch(/^refused/);
        else expect(verdict, protocol).toMatch(/^accepted/);
      }
      let seed = 7;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      for (const [protocol] of openings('x')) {
        for (let i = 0; i < 12; i++) {
          const body = randomBytes(1 + rand(80));
          const frame = i % 3 === 0 ? body : Buffer.concat([Buffer.from([0, 0, 0, body.length]), body]);
          expect(await isRefused(m.node, target, protocol, frame)).toMatch(/^refused/);
        }
        expect(await isRefused(m.node, target, protocol, encodeMessage(99, []))).toMatch(/^refused/);
        expect(await isRefused(m.node, target, protocol, Buffer.from([0x7f, 0xff, 0xff, 0xff]))).toMatch(
          /^refused/,
        );
      }
    } finally {
      await m.node.stop();
    }
    expect(await memberNames(n1)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    expect(((await n1.call('status')) as { store: { storedBytes: number } }).store.storedBytes).toBe(0);
    await n4.start();
  }, 90_000);

  it('a removal converges and the removed member is refused on every protocol', async () => {
    const [n1, n2, n3, n4, n5] = nodes as [Proc, Proc, Proc, Proc, Proc];
    const r = await cli(['remove', 'n4', '--dir', n2.dir]);
    expect(r.code, r.stderr).toBe(0);
    for (const p of [n1, n2, n3, n5]) {
      await waitFor(
        `${p.dir} to drop n4`,
        async () => JSON.stringify(await memberNames(p)) === JSON.stringify(['n1', 'n2', 'n3', 'n5']),
      );
    }
    // The removed node notices: the others refuse its syncs.
    await waitFor(
      'n4 to be refused',
      async () => ((await n4.call('status')) as { refusedBy: string[] }).refusedBy.length > 0,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n--- n4's log\n${n4.stderr.slice(-3000)}`);
    });
    await n4.stop();
    const secret = Uint8Array.from(
      Buffer.from(fs.readFileSync(join(n4.dir, 'secret'), 'utf8').trim(), 'hex'),
    );
    const m = await testNode(() => OPEN_POLICY, {}, secret);
    try {
      for (const target of [n1, n2, n3, n5]) {
        for (const [protocol, opening] of openings(ids.get(n1)!)) {
          expect(await isRefused(m.node, multiaddr(addr.get(target)!), protocol, opening), protocol).toMatch(
            /^refused/,
          );
        }
      }
    } finally {
      await m.node.stop();
    }
    // Ambiguous and unknown names get friendly errors.
    const unknown = await cli(['remove', 'nobody', '--dir', n1.dir]);
    expect(unknown.stderr).toMatch(/nobody called "nobody"/);
  }, 90_000);

  it('a restarted node keeps its identity and its group state', async () => {
    const n3 = nodes[2]!;
    const before = (await n3.call('status')) as { id: string; groupId: string };
    await n3.stop();
    const down = await cli(['members', '--dir', n3.dir]);
    expect(down.stderr).toMatch(/not running/);
    await n3.start();
    const after = (await n3.call('status')) as { id: string; groupId: string; member: boolean };
    expect(after.id).toBe(before.id);
    expect(after.groupId).toBe(before.groupId);
    expect(after.member).toBe(true);
    expect(await memberNames(n3)).toEqual(['n1', 'n2', 'n3', 'n5']);
    // And it still converges: a change made elsewhere reaches it.
    await cli(['agreement', '--ratio', '2', '--tolerance', '1', '--dir', nodes[0]!.dir]);
    await waitFor('n3 to sync after restart', async () => {
      await n3.call('sync');
      const rows = (await nodes[0]!.call('members')) as { name: string; lastSeenMs: number | null }[];
      return rows.find((r) => r.name === 'n3')?.lastSeenMs !== null;
    });
  }, 60_000);
});
