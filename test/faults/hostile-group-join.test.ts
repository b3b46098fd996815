/**
 * Hostile members and code holders against real pb-node daemons on 127.0.0.1 (alice founds, bob
 * and mallory join; mallory's daemon is then stopped and the test speaks with her identity):
 * - a member's op with clock 2^53-1 over /pb/group/1 is dropped by every member (the clock bound,
 *   docs/group-log.md section 4), and a code holder's over /pb/join/1 is refused before it is
 *   stored; the group can still invite, approve, pledge and remove (mallory included);
 * - junk through /pb/join/1 (foreign ops, another key's request, another invite's token) is
 *   never stored (ops.bin unchanged on every member), and an invite survives at most
 *   MAX_JOIN_ATTEMPTS failed attempts;
 * - before approval a code holder receives no member name, address or pledge: only the header
 *   its request takes;
 * - strangers holding idle join streams do not make a real joiner wait.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeOp,
  deriveMemberKeys,
  foldGroup,
  type GroupOp,
  type MemberKeys,
  nextHeader,
  type OpBody,
  signOp,
  syncIndex,
  toHex,
} from '../../engine/index.ts';
import { decodeInviteCode } from '../../runtime/daemon/group/invite-code.ts';
import { MAX_JOIN_ATTEMPTS } from '../../runtime/daemon/group/join-desk.ts';
import { OPEN_POLICY } from '../../runtime/net/access.ts';
import { FrameReader, type Message, sendMessage } from '../../runtime/net/framing.ts';
import { syncWithPeer } from '../../runtime/net/group-sync.ts';
import { JOIN_MSG, JOIN_PROTOCOL } from '../../runtime/net/join.ts';
import { cli, initNode, type Proc, waitFor } from '../runtime/daemon/_cluster.ts';
import { directAddress, formGroup } from '../runtime/daemon/_group.ts';
import { tempDir } from '../runtime/helpers.ts';
import { type TestNode, testNode } from '../runtime/net/_helpers.ts';

const MAX_CLOCK = 2 ** 53 - 1;
const root = tempDir('faults-group-join');
let alice: Proc;
let bob: Proc;
let mallory: Proc;
let aliceId: string;
let aliceAddress: string;
let mallorySecret: Uint8Array;
let malloryKeys: MemberKeys;
const procs: Proc[] = [];
const nodes: TestNode[] = [];

/** The ops a member holds on disk (ops.bin: 4-byte length || op bytes, repeated). */
function opsOf(p: Proc): GroupOp[] {
  const data = fs.readFileSync(join(p.dir, 'group', 'ops.bin'));
  const out: GroupOp[] = [];
  for (let at = 0; at + 4 <= data.length; ) {
    const length = data.readUInt32BE(at);
    out.push(decodeOp(new Uint8Array(data.subarray(at + 4, at + 4 + length))));
    at += 4 + length;
  }
  return out;
}
const opsBinBytes = (p: Proc): number => fs.statSync(join(p.dir, 'group', 'ops.bin')).size;

/** Sizes of alice's and bob's ops.bin once both hold the same ops (gossip settled). */
async function settledSizes(): Promise<number[]> {
  let last = '';
  return waitFor(
    'alice and bob to hold the same ops',
    async () => {
      const sizes = [opsBinBytes(alice), opsBinBytes(bob)];
      const now = sizes.join(',');
      const settled = sizes[0] === sizes[1] && now === last;
      last = now;
      return settled ? sizes : null;
    },
    30_000,
  );
}
const groupIdOf = (p: Proc): string => fs.readFileSync(join(p.dir, 'group', 'group-id'), 'utf8').trim();

async function node(secret?: Uint8Array): Promise<TestNode> {
  const n = await testNode(() => OPEN_POLICY, {}, secret);
  nodes.push(n);
  return n;
}

async function inviteToken(): Promise<Uint8Array> {
  const code = (await alice.call('invite')) as { code: string };
  return decodeInviteCode(code.code, Date.now()).token;
}

/** Everything a join stream answered until it ended: frames (error frames as code/text). */
interface JoinTalk {
  frames: Message[];
  rawBytes: Buffer;
  error: string | null;
}

/**
 * One join attempt with `token` from `n`: hello, read up to the header; then `request(header)`
 * (or nothing: the stream is closed) and read the answer until the stream ends or `untilMs`.
 */
async function joinAttempt(
  n: TestNode,
  token: Uint8Array,
  request: ((header: { groupId: string; clock: number; parents: string[] }) => Uint8Array) | null,
  untilMs = 10_000,
): Promise<JoinTalk> {
  const conn = await n.node.dial(multiaddr(aliceAddress), { signal: AbortSignal.timeout(10_000) });
  const stream: Stream = await conn.newStream(JOIN_PROTOCOL, {
    signal: AbortSignal.timeout(10_000),
    runOnLimitedConnection: true,
  });
  const raw: Buffer[] = [];
  const frames: Message[] = [];
  const reader = new FrameReader(stream, untilMs);
  const read = async (): Promise<Message> => {
    const m = await reader.readMessage(8 * 1024 * 1024);
    frames.push(m);
    raw.push(
      Buffer.from(
        JSON.stringify(m.fields, (_k, v) =>
          v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v,
        ),
      ),
    );
    return m;
  };
  try {
    await sendMessage(stream, JOIN_MSG.hello, [token, 5_000]);
    let m = await read();
    while (m.type === JOIN_MSG.ops) m = await read();
    expect(m.type).toBe(JOIN_MSG.log);
    const header = {
      groupId: Buffer.from(m.fields[0] as Uint8Array).toString('hex'),
      clock: m.fields[1] as number,
      parents: (m.fields[2] as Uint8Array[]).map((p) => Buffer.from(p).toString('hex')),
    };
    if (request === null) {
      await stream.close();
    } else {
      await sendMessage(stream, JOIN_MSG.request, [request(header)]);
    }
    for (;;) await read();
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'untyped';
    return { frames, rawBytes: Buffer.concat(raw), error: `${code}: ${(error as Error).message}` };
  } finally {
    stream.abort(new Error('done'));
  }
}

beforeAll(async () => {
  const group = await formGroup(root, ['alice', 'bob', 'mallory']);
  procs.push(...group.procs);
  [alice, bob, mallory] = group.procs as [Proc, Proc, Proc];
  aliceId = group.ids.get(alice)!;
  aliceAddress = await directAddress(alice);
  await mallory.stop(); // the test speaks with mallory's identity from now on
  mallorySecret = Uint8Array.from(
    Buffer.from(fs.readFileSync(join(mallory.dir, 'secret'), 'utf8').trim(), 'hex'),
  );
  malloryKeys = deriveMemberKeys(mallorySecret);
}, 300_000);

afterAll(async () => {
  for (const n of nodes) await Promise.resolve(n.node.stop()).catch(() => undefined);
  for (const p of procs) await p.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

/** A daemon's log lines about joining (not the strangers' timed-out hellos). */
const relevant = (log: string): string =>
  log
    .split('\n')
    .filter((l) => /join|request|approv|decision/i.test(l) && !/no join hello/.test(l))
    .slice(-30)
    .join('\n');

describe('hostile members and code holders on real daemons', () => {
  it('a member’s op with clock 2^53-1 over /pb/group/1 is dropped everywhere: the group stays writable', async () => {
    const m = await node(mallorySecret);
    await m.node.dial(multiaddr(aliceAddress));
    const ops = opsOf(alice);
    const state = foldGroup(ops, Date.now(), { groupId: groupIdOf(alice) });
    const evil = signOp(
      malloryKeys,
      { ...nextHeader(state, Date.now()), clock: MAX_CLOCK },
      {
        kind: 'pledge',
        pledgeBytes: 1,
      },
    );
    const offered = new Map(ops.map((o) => [o.hash, o.bytes]));
    offered.set(evil.hash, evil.bytes);
    await syncWithPeer(m.node, aliceId, {
      index: () => syncIndex([...offered.keys()]),
      opBytes: (h) => offered.get(h),
      receive: async () => 0,
    });
    // Alice took it (it verifies) and gossips it; every member folds it as dropped.
    await waitFor('the op on bob', async () => opsOf(bob).some((o) => o.hash === evil.hash), 30_000);
    for (const p of [alice, bob]) {
      const s = foldGroup(opsOf(p), Date.now(), { groupId: groupIdOf(p) });
      expect(s.dropped.find((d) => d.hash === evil.hash)?.reason).toBe('clock-too-far');
      expect(s.clock).toBeLessThan(1_000_000);
    }
    // Every kind of change still works on both honest members, also after a restart.
    await bob.stop();
    const restartedMs = Date.now();
    await bob.start();
    // A restarted member republishes its addresses (new port) once: let that op settle first.
    await waitFor(
      "bob's new addresses on alice",
      async () => opsOf(alice).some((o) => o.kind === 'addresses' && o.atMs >= restartedMs),
      30_000,
    );
    for (const p of [alice, bob]) {
      expect(await p.call('invite')).toHaveProperty('code');
      expect(await p.call('pledge', { bytes: 48 * 1024 * 1024 })).toHaveProperty('pledgeBytes');
    }
  }, 120_000);

  it('a code holder gets no member list before approval, and its clock-2^53-1 request is refused unstored', async () => {
    const token = await inviteToken();
    const stranger = await node();
    const strangerKeys = deriveMemberKeys(stranger.secret);
    const sizes = await settledSizes();
    const talk = await joinAttempt(
      stranger,
      token,
      (h) =>
        signOp(
          strangerKeys,
          { group: h.groupId, clock: MAX_CLOCK, atMs: Date.now(), parents: h.parents },
          {
            kind: 'request',
            name: 'eve',
            addresses: [],
            token: toHex(token),
          },
        ).bytes,
    );
    // Before its request: no ops frame, only the header (group id, clock, head hashes).
    expect(talk.frames[0]?.type).toBe(JOIN_MSG.log);
    expect(talk.frames.filter((f) => f.type === JOIN_MSG.ops)).toEqual([]);
    const seen = talk.rawBytes.toString('latin1');
    for (const secret of ['alice', 'bob', 'mallory', '127.0.0.1', '/tcp/'])
      expect(seen.includes(secret), `${secret} leaked to a code holder`).toBe(false);
    expect(talk.error).toMatch(/clock-too-far/);
    expect([opsBinBytes(alice), opsBinBytes(bob)]).toEqual(sizes);
  }, 60_000);

  it(`junk through /pb/join/1 is never stored, and an invite survives ${MAX_JOIN_ATTEMPTS} failed attempts`, async () => {
    const token = await inviteToken();
    const stranger = await node();
    const strangerKeys = deriveMemberKeys(stranger.secret);
    const other = deriveMemberKeys(randomBytes(32));
    const sizes = await settledSizes();
    const signed =
      (keys: MemberKeys, body: OpBody) => (h: { groupId: string; clock: number; parents: string[] }) =>
        signOp(keys, { group: h.groupId, clock: h.clock, atMs: Date.now(), parents: h.parents }, body).bytes;
    const junk = [
      signed(strangerKeys, { kind: 'pledge', pledgeBytes: 10 ** 15 }), // not a request
      signed(other, { kind: 'request', name: 'eve', addresses: [], token: toHex(token) }), // another key's
      signed(strangerKeys, { kind: 'request', name: 'eve', addresses: [], token: toHex(randomBytes(32)) }),
      () => randomBytes(300), // not an op
      signed(strangerKeys, { kind: 'remove', member: aliceId }),
    ];
    expect(junk.length).toBe(MAX_JOIN_ATTEMPTS);
    for (const make of junk) {
      const talk = await joinAttempt(stranger, token, make);
      expect(talk.error).toMatch(/bad-message|invalid-invite|request op|own request|not accepted/);
    }
    const refused = await joinAttempt(
      stranger,
      token,
      signed(strangerKeys, {
        kind: 'request',
        name: 'eve',
        addresses: [],
        token: toHex(token),
      }),
    );
    expect(refused.frames).toEqual([]);
    expect(refused.error).toMatch(new RegExp(`failed ${MAX_JOIN_ATTEMPTS} times`));
    await new Promise((r) => setTimeout(r, 1500)); // a sync round: nothing to gossip either
    expect([opsBinBytes(alice), opsBinBytes(bob)]).toEqual(sizes);
    const strangerId = stranger.id;
    for (const p of [alice, bob]) expect(opsOf(p).filter((o) => o.author === strangerId)).toEqual([]);
  }, 120_000);

  it('strangers holding idle join streams do not make a real joiner wait; then approve, pledge, remove', async () => {
    const dave = await initNode(root, 'dave', [
      '--pledge',
      '64MiB',
      '--schedule',
      'off',
      '--watch-debounce',
      '0s',
    ]);
    procs.push(dave);
    await dave.start();
    const code = ((await alice.call('invite')) as { code: string }).code;
    // Nine strangers keep two idle join streams each open on alice, reopening any that is cut.
    const strangers = await Promise.all(Array.from({ length: 9 }, () => node()));
    let holding = true;
    let opened = 0;
    const keepers: Promise<void>[] = [];
    for (const s of strangers) {
      // libp2p admits a few inbound connections per second from one host (all are 127.0.0.1 here)
      await new Promise((r) => setTimeout(r, 400));
      const conn = await s.node.dial(multiaddr(aliceAddress), { signal: AbortSignal.timeout(10_000) });
      for (let i = 0; i < 2; i++)
        keepers.push(
          (async () => {
            while (holding && conn.status === 'open') {
              try {
                const stream = await conn.newStream(JOIN_PROTOCOL, {
                  signal: AbortSignal.timeout(10_000),
                  runOnLimitedConnection: true,
                });
                opened++;
                for await (const _ of stream) if (!holding) break; // says nothing; waits to be cut
                stream.abort(new Error('done'));
              } catch {
                await new Promise((r) => setTimeout(r, 100));
              }
            }
          })(),
        );
    }
    const started = Date.now();
    const joining = cli(['join', code, '--dir', dave.dir, '--json', '--wait', '90s']);
    await waitFor(
      "dave's request",
      async () => ((await alice.call('requests')) as { name: string }[]).some((r) => r.name === 'dave'),
      60_000,
    );
    const waitedMs = Date.now() - started;
    const approved = await cli(['approve', 'dave', '--dir', alice.dir]);
    expect(approved.code, approved.stderr).toBe(0);
    const joined = await joining;
    expect(
      joined.stdout,
      `${joined.stderr}\n--- dave\n${relevant(dave.stderr)}\n--- alice\n${relevant(alice.stderr)}`,
    ).toMatch(/"approved"/);
    expect(joined.stdout + joined.stderr).not.toMatch(/busy/);
    holding = false;
    for (const n of strangers) await Promise.resolve(n.node.stop()).catch(() => undefined);
    await Promise.all(keepers);
    console.log(
      `a real joiner's request reached the inviter in ${waitedMs} ms; strangers opened ${opened} idle join streams`,
    );
    expect(opened).toBeGreaterThanOrEqual(18);
    // The group still changes: pledges and the removal of the attacker.
    expect(await dave.call('pledge', { bytes: 32 * 1024 * 1024 })).toHaveProperty('pledgeBytes');
    const removed = await cli(['remove', 'mallory', '--dir', bob.dir]);
    expect(removed.code, removed.stderr).toBe(0);
    for (const p of [alice, bob, dave])
      await waitFor(
        'mallory removed and dave a member everywhere',
        async () => {
          const names = ((await p.call('members')) as { name: string }[]).map((x) => x.name).sort();
          return names.join(',') === 'alice,bob,dave';
        },
        30_000,
      );
  }, 240_000);
});
