/** The seed's flows as readable examples: each test is one story a member's operator lives through. */
import { describe, expect, it } from 'vitest';
import {
  decodeCbor,
  decodeOp,
  EngineError,
  encodeCbor,
  foldGroup,
  type GroupOp,
  nextHeader,
  signOp,
} from '../../../engine/index.ts';
import {
  AGREEMENT,
  createOp,
  DAY_MS,
  idOf,
  keysOf,
  opOn,
  Replica,
  semantic,
  T0,
  tokenOf,
} from './helpers.ts';

const ALICE = 1;
const BOB = 2;
const CAROL = 3;
const DAVE = 4;
const ERIN = 5;
const STRANGER = 99;

/** Alice founds a group, pledges, invites `who` and approves its request. */
function groupWith(...who: number[]): Replica {
  const r = new Replica([createOp(ALICE)]);
  r.act(ALICE, { kind: 'pledge', pledgeBytes: 100e9 });
  for (const n of who) admit(r, ALICE, n);
  return r;
}
function admit(r: Replica, inviter: number, candidate: number): GroupOp {
  const { token, tokenHash } = tokenOf(`${inviter}->${candidate}@${r.ops.length}`);
  r.act(inviter, { kind: 'invite', tokenHash, expiresAtMs: T0 + DAY_MS });
  const request = r.act(candidate, { kind: 'request', name: `member-${candidate}`, addresses: [], token });
  r.act(inviter, { kind: 'approve', candidate: idOf(candidate), request: request.hash });
  r.act(candidate, { kind: 'pledge', pledgeBytes: 100e9 });
  return request;
}
/** Why ops were dropped, sorted (dropped ops are not heads, so later ops may share their clock). */
const reasons = (r: Replica) =>
  r
    .state()
    .dropped.map((d) => `${d.kind}:${d.reason}`)
    .sort();

describe('group flows', () => {
  it('create a group: the founder is the only member, under the agreement', () => {
    const r = new Replica([createOp(ALICE)]);
    const s = r.state();
    expect(s.groupId).toBe(r.ops[0]!.hash);
    expect(s.members.map((m) => m.id)).toEqual([idOf(ALICE)]);
    expect(s.members[0]).toMatchObject({ name: 'member-1', pledgeBytes: 0, sinceMs: T0, invitedBy: null });
    expect(s.agreement).toEqual(AGREEMENT);
    expect(s.placement).toEqual([
      {
        owner: idOf(ALICE),
        feasible: false,
        reason: expect.stringContaining('needs at least 2 other members'),
      },
    ]);
  });

  it('invite, request, approve: the candidate becomes a member that every replica sees', () => {
    const r = groupWith();
    const { token, tokenHash } = tokenOf('bob');
    r.act(ALICE, { kind: 'invite', tokenHash, expiresAtMs: T0 + DAY_MS });
    expect(r.state().invites).toMatchObject([{ tokenHash, by: idOf(ALICE) }]);
    const request = r.act(BOB, {
      kind: 'request',
      name: 'bob',
      addresses: ['/ip4/10.0.0.2/tcp/4001'],
      token,
    });
    const waiting = r.state();
    expect(waiting.pending).toMatchObject([
      { candidate: idOf(BOB), request: request.hash, invitedBy: idOf(ALICE) },
    ]);
    expect(waiting.invites).toEqual([]); // single use: the token is spent
    r.act(ALICE, { kind: 'approve', candidate: idOf(BOB), request: request.hash }, T0 + 5000);
    const s = r.state();
    expect(s.members.find((m) => m.id === idOf(BOB))).toMatchObject({
      name: 'bob',
      addresses: ['/ip4/10.0.0.2/tcp/4001'],
      sinceMs: T0 + 5000,
      invitedBy: idOf(ALICE),
    });
    expect(s.pending).toEqual([]);
    expect(s.outcomes).toMatchObject([{ candidate: idOf(BOB), outcome: 'approved', by: idOf(ALICE) }]);
    // another member, fed the same ops in another order, learns the same outcome
    const other = new Replica([...r.ops].reverse());
    expect(other.state()).toEqual(s);
  });

  it('a second request on the same invite is rejected, and so is a request the operator turns down', () => {
    const r = groupWith();
    const { token, tokenHash } = tokenOf('one-invite');
    r.act(ALICE, { kind: 'invite', tokenHash, expiresAtMs: T0 + DAY_MS });
    const bob = r.act(BOB, { kind: 'request', name: 'bob', addresses: [], token });
    r.act(CAROL, { kind: 'request', name: 'carol', addresses: [], token });
    expect(reasons(r)).toEqual(['request:token-used']);
    r.act(ALICE, { kind: 'reject', candidate: idOf(BOB), request: bob.hash });
    const s = r.state();
    expect(s.members.map((m) => m.id)).toEqual([idOf(ALICE)]);
    expect(s.pending).toEqual([]);
    expect(s.outcomes).toMatchObject([{ candidate: idOf(BOB), outcome: 'rejected' }]);
  });

  it('a token presented before its invite in the order, or by a request never judged, is spent all the same', () => {
    const r = groupWith(BOB);
    const stale = [...r.ops];
    const early = tokenOf('presented-early');
    const unjudged = tokenOf('presented-unjudged');
    r.act(ALICE, { kind: 'pledge', pledgeBytes: 5e9 });
    r.act(ALICE, { kind: 'invite', tokenHash: early.tokenHash, expiresAtMs: T0 + DAY_MS });
    r.act(ALICE, { kind: 'invite', tokenHash: unjudged.tokenHash, expiresAtMs: T0 + DAY_MS });
    expect(r.state().invites).toHaveLength(2);
    // Carol's request is signed on a stale view: its clock sorts it before the invite it redeems.
    const carol = opOn(stale, CAROL, { kind: 'request', name: 'carol', addresses: [], token: early.token });
    // Erin's names a parent nobody has, so the fold never judges it; its token travels in gossip.
    const erin = signOp(
      keysOf(ERIN),
      { ...nextHeader(r.state(), T0), parents: ['ab'.repeat(32)] },
      { kind: 'request', name: 'erin', addresses: [], token: unjudged.token },
    );
    r.receive([carol, erin]);
    expect(r.state().invites).toEqual([]);
    // Whoever read those tokens in gossip redeems neither.
    r.act(DAVE, { kind: 'request', name: 'dave', addresses: [], token: early.token });
    r.act(STRANGER, { kind: 'request', name: 'mallory', addresses: [], token: unjudged.token });
    expect(reasons(r)).toEqual([
      'request:missing-parents',
      'request:token-used',
      'request:token-used',
      'request:unknown-token',
    ]);
    expect(r.state().pending).toEqual([]);
    // Any delivery order gives the same answer.
    expect(new Replica([...r.ops].reverse()).state()).toEqual(r.state());
  });

  it('only the inviter decides, and only members author anything but a request', () => {
    const r = groupWith(CAROL);
    const { token, tokenHash } = tokenOf('alice-invites-bob');
    r.act(ALICE, { kind: 'invite', tokenHash, expiresAtMs: T0 + DAY_MS });
    const request = r.act(BOB, { kind: 'request', name: 'bob', addresses: [], token });
    r.act(CAROL, { kind: 'approve', candidate: idOf(BOB), request: request.hash });
    r.act(BOB, { kind: 'pledge', pledgeBytes: 1 });
    r.act(STRANGER, { kind: 'agree', agreement: { ratio: 9, tolerance: 0 } });
    r.act(STRANGER, { kind: 'remove', member: idOf(ALICE) });
    expect(reasons(r)).toEqual([
      'agree:not-a-member',
      'approve:not-inviter',
      'pledge:not-a-member',
      'remove:not-a-member',
    ]);
    expect(r.state().agreement).toEqual(AGREEMENT);
    expect(
      r
        .state()
        .members.map((m) => m.id)
        .sort(),
    ).toEqual([idOf(ALICE), idOf(CAROL)].sort());
  });

  it('forged and unsigned ops never reach the fold; a stranger cannot move the clock or the heads', () => {
    const r = groupWith(BOB);
    const pledge = r.act(BOB, { kind: 'pledge', pledgeBytes: 1 });
    const [payload] = decodeCbor(pledge.bytes) as [Uint8Array, Uint8Array];
    const unsigned = encodeCbor([payload, new Uint8Array(64)]);
    expect(() => decodeOp(unsigned)).toThrow(expect.objectContaining({ code: 'bad-signature' }));
    const forgedPayload = payload.slice();
    forgedPayload[forgedPayload.length - 1]! ^= 1; // pledge 1 -> 0, signature kept
    const forged = encodeCbor([forgedPayload, (decodeCbor(pledge.bytes) as Uint8Array[])[1]!]);
    expect(() => decodeOp(forged)).toThrow(expect.objectContaining({ code: 'bad-signature' }));
    const before = r.state();
    const far = signOp(
      keysOf(STRANGER),
      { ...nextHeader(before, T0), clock: 2 ** 50 },
      { kind: 'pledge', pledgeBytes: 9 },
    );
    r.receive([far]);
    const after = r.state();
    expect(after.clock).toBe(before.clock);
    expect(after.heads).toEqual(before.heads);
    // The clock jump is judged first (from the op and its parents alone), then membership.
    expect(after.dropped).toMatchObject([{ hash: far.hash, reason: 'clock-too-far' }]);
  });

  it('ops of another group change nothing once the group is named', () => {
    const ours = groupWith(BOB);
    const theirs = new Replica([createOp(STRANGER, { ratio: 5, tolerance: 0 }, T0 - 1)]);
    theirs.act(STRANGER, { kind: 'pledge', pledgeBytes: 3 });
    const groupId = ours.ops[0]!.hash;
    const mixed = foldGroup([...theirs.ops, ...ours.ops], T0, { groupId });
    expect(semantic(mixed)).toEqual(semantic(ours.state()));
    expect(mixed.dropped.map((d) => d.reason)).toEqual(['foreign-group', 'foreign-group']);
    expect(() => foldGroup(ours.ops, T0, { groupId: 'not-a-hash' })).toThrow(EngineError);
  });

  it('an expired token admits nobody, and the invite is no longer listed', () => {
    const r = groupWith();
    const { token, tokenHash } = tokenOf('late');
    r.act(ALICE, { kind: 'invite', tokenHash, expiresAtMs: T0 + DAY_MS });
    expect(r.state(T0 + DAY_MS - 1).invites).toHaveLength(1);
    expect(r.state(T0 + DAY_MS).invites).toHaveLength(0);
    r.act(BOB, { kind: 'request', name: 'bob', addresses: [], token }, T0 + DAY_MS + 1);
    expect(reasons(r)).toEqual(['request:token-expired']);
    expect(r.state().pending).toEqual([]);
  });

  it('remove a member: it is gone, its later ops change nothing, its invites die', () => {
    const r = groupWith(BOB, CAROL);
    const { token, tokenHash } = tokenOf('bob-invites-dave');
    r.act(BOB, { kind: 'invite', tokenHash, expiresAtMs: T0 + DAY_MS });
    r.act(CAROL, { kind: 'remove', member: idOf(BOB) });
    r.act(BOB, { kind: 'pledge', pledgeBytes: 5 });
    r.act(DAVE, { kind: 'request', name: 'dave', addresses: [], token });
    const s = r.state();
    expect(s.members.map((m) => m.id).sort()).toEqual([idOf(ALICE), idOf(CAROL)].sort());
    expect(s.removed).toMatchObject([{ id: idOf(BOB), by: idOf(CAROL) }]);
    expect(s.invites).toEqual([]);
    expect(reasons(r)).toEqual(['pledge:not-a-member', 'request:unknown-token']);
  });

  it('a member leaves by removing itself; it can come back only through a new invitation and request', () => {
    const r = groupWith(BOB, CAROL, DAVE);
    const bobsOldRequest = r.ops.find((o) => o.kind === 'request' && o.author === idOf(BOB))!;
    r.act(BOB, { kind: 'remove', member: idOf(BOB) });
    expect(r.state().members.map((m) => m.id)).not.toContain(idOf(BOB));
    // stale gossip: bob's old request and alice's old approval again change nothing
    r.receive([decodeOp(bobsOldRequest.bytes)]);
    expect(r.state().members.map((m) => m.id)).not.toContain(idOf(BOB));
    expect(r.state().removed.map((m) => m.id)).toEqual([idOf(BOB)]);
    admit(r, DAVE, BOB);
    const s = r.state();
    expect(s.members.find((m) => m.id === idOf(BOB))).toMatchObject({ invitedBy: idOf(DAVE) });
    expect(s.removed).toEqual([]);
  });

  it('agreement and pledge changes apply in order and drive each owner`s placement plan', () => {
    const r = groupWith(BOB, CAROL, DAVE, ERIN);
    let s = r.state();
    expect(s.placement).toHaveLength(5);
    for (const p of s.placement) {
      expect(p).toMatchObject({ feasible: true, dataShards: 2, parityShards: 1, repairSlack: true });
      if (p.feasible) expect(p.plan.members.map((m) => m.id)).not.toContain(p.owner);
    }
    r.act(BOB, { kind: 'agree', agreement: { ratio: 3, tolerance: 2 } });
    r.act(CAROL, { kind: 'agree', agreement: { ratio: 1.5, tolerance: 3 } });
    r.act(DAVE, { kind: 'pledge', pledgeBytes: 0 });
    s = r.state();
    expect(s.agreement).toEqual({ ratio: 1.5, tolerance: 3 });
    expect(s.members.find((m) => m.id === idOf(DAVE))!.pledgeBytes).toBe(0);
    expect(s.placement.every((p) => !p.feasible)).toBe(true);
    expect(s.placement[0]).toMatchObject({
      feasible: false,
      reason: expect.stringContaining('other members'),
    });
  });

  it('a candidate approved by its inviter and removed concurrently by another member ends removed', () => {
    const base = groupWith(CAROL);
    const { token, tokenHash } = tokenOf('race');
    base.act(ALICE, { kind: 'invite', tokenHash, expiresAtMs: T0 + DAY_MS });
    const request = base.act(BOB, { kind: 'request', name: 'bob', addresses: [], token });
    const alice = new Replica(base.ops);
    const carol = new Replica(base.ops);
    carol.act(CAROL, { kind: 'pledge', pledgeBytes: 7 }); // carol is ahead: her remove has the larger clock
    alice.act(ALICE, { kind: 'approve', candidate: idOf(BOB), request: request.hash });
    carol.act(CAROL, { kind: 'remove', member: idOf(BOB) });
    alice.receive(carol.ops);
    carol.receive(alice.ops);
    for (const s of [alice.state(), carol.state()]) {
      expect(s.members.map((m) => m.id)).not.toContain(idOf(BOB));
      expect(s.removed.map((m) => m.id)).toEqual([idOf(BOB)]);
    }
    expect(alice.state()).toEqual(carol.state());
  });
});
