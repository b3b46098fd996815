/**
 * The clock can never be frozen (docs/group-log.md section 4, MAX_CLOCK_STEP): whatever a member,
 * a removed member and a code holder sign, with any clock up to 2^53-1 and any parents, every
 * honest member afterwards can still issue every op kind (the removal of the attacker included),
 * and replicas that received the same ops in different orders, authoring in between, converge.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  foldGroup,
  type GroupOp,
  type GroupState,
  MAX_CLOCK_STEP,
  MAX_FOLD_OPS,
  nextHeader,
  type OpBody,
  signOp,
} from '../../../engine/index.ts';
import { AGREEMENT, createOp, DAY_MS, idOf, keysOf, Replica, T0, tokenOf } from './helpers.ts';
import { shuffled } from './world.ts';

const ALICE = 1;
const BOB = 2;
const MALLORY = 3; // a member
const RUTH = 4; // a removed member
const CODY = 5; // holds an invite code, not a member
const DORA = 6; // joins afterwards
const HONEST = [ALICE, BOB];
const RUNS = Number(process.env.PB_PROPERTY_RUNS ?? 40);
const MAX_ENCODABLE = 2 ** 53 - 1;

/** Alice founds; Bob, Mallory and Ruth join; Ruth is removed; Cody holds a live invite of Alice's. */
function setup(): { base: GroupOp[]; codyToken: string } {
  const r = new Replica([createOp(ALICE)]);
  r.act(ALICE, { kind: 'pledge', pledgeBytes: 100e9 });
  for (const n of [BOB, MALLORY, RUTH]) {
    const { token, tokenHash } = tokenOf(`setup-${n}`);
    r.act(ALICE, { kind: 'invite', tokenHash, expiresAtMs: T0 + DAY_MS });
    const req = r.act(n, { kind: 'request', name: `m${n}`, addresses: [], token });
    r.act(ALICE, { kind: 'approve', candidate: idOf(n), request: req.hash });
  }
  r.act(BOB, { kind: 'remove', member: idOf(RUTH) });
  const cody = tokenOf('cody');
  r.act(ALICE, { kind: 'invite', tokenHash: cody.tokenHash, expiresAtMs: T0 + DAY_MS });
  return { base: r.ops, codyToken: cody.token };
}

type ClockMode = 'max' | 'max-1' | 'step' | 'step+1' | 'next' | 'random';
interface Hostile {
  who: number;
  kind: number;
  clock: ClockMode;
  random: number;
  /** Parents: the heads of everything so far, or only the attacker's own last op (a chain). */
  chain: boolean;
}
const hostileArb: fc.Arbitrary<Hostile> = fc.record({
  who: fc.constantFrom(MALLORY, RUTH, CODY),
  kind: fc.nat(7),
  clock: fc.constantFrom<ClockMode>('max', 'max-1', 'step', 'step+1', 'next', 'random'),
  random: fc.integer({ min: 1, max: MAX_ENCODABLE }),
  chain: fc.boolean(),
});
type Step = { t: 'hostile'; h: Hostile } | { t: 'honest'; who: number; gb: number };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: hostileArb.map((h) => ({ t: 'hostile' as const, h })) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('honest' as const),
      who: fc.constantFrom(...HONEST),
      gb: fc.nat(500),
    }),
  },
);

function hostileBody(h: Hostile, codyToken: string, i: number): OpBody {
  const bodies: OpBody[] = [
    { kind: 'pledge', pledgeBytes: 1e15 },
    { kind: 'invite', tokenHash: tokenOf(`hostile-${i}`).tokenHash, expiresAtMs: T0 + DAY_MS },
    // Only Cody holds a code; the others present a token nobody invited (Ruth waiting for a
    // decision would make her later request below a duplicate).
    {
      kind: 'request',
      name: 'junk',
      addresses: [],
      token: h.who === CODY ? codyToken : tokenOf(`junk-${i}`).token,
    },
    { kind: 'approve', candidate: idOf(CODY), request: '00'.repeat(32) },
    { kind: 'agree', agreement: { ratio: 1, tolerance: 0 } },
    { kind: 'addresses', addresses: ['/ip4/10.0.0.1/tcp/1'] },
    { kind: 'remove', member: idOf(CODY) },
    { kind: 'reject', candidate: idOf(CODY), request: '11'.repeat(32) },
  ];
  return bodies[h.kind % bodies.length]!;
}

function clockOf(h: Hostile, parents: readonly GroupOp[]): number {
  const top = Math.max(...parents.map((p) => p.clock));
  return Math.min(MAX_ENCODABLE, wantedClock(h, top));
}
function wantedClock(h: Hostile, top: number): number {
  switch (h.clock) {
    case 'max':
      return MAX_ENCODABLE;
    case 'max-1':
      return MAX_ENCODABLE - 1;
    case 'step':
      return top + MAX_CLOCK_STEP;
    case 'step+1':
      return top + MAX_CLOCK_STEP + 1;
    case 'next':
      return top + 1;
    case 'random':
      return Math.max(h.random, top + 1);
  }
}

/** Plays the steps; returns every op made (in creation order). */
function play(steps: readonly Step[]): { all: GroupOp[]; codyToken: string } {
  const { base, codyToken } = setup();
  const all = [...base];
  const lastOf = new Map<number, GroupOp>();
  steps.forEach((step, i) => {
    const atMs = T0 + (i + 1) * 1000;
    const state = foldGroup(all, atMs);
    if (step.t === 'honest') {
      all.push(
        signOp(keysOf(step.who), nextHeader(state, atMs), { kind: 'pledge', pledgeBytes: step.gb * 1e9 }),
      );
      return;
    }
    const h = step.h;
    const own = lastOf.get(h.who);
    const byHash = new Map(all.map((o) => [o.hash, o]));
    const parents = h.chain && own !== undefined ? [own] : state.heads.map((x) => byHash.get(x)!);
    const op = signOp(
      keysOf(h.who),
      { group: state.groupId, clock: clockOf(h, parents), atMs, parents: parents.map((p) => p.hash) },
      hostileBody(h, codyToken, i),
    );
    lastOf.set(h.who, op);
    all.push(op);
  });
  return { all, codyToken };
}

/** Signs `body` by `who` on top of `ops`; returns the new op set and requires that the op applied. */
function issue(
  ops: GroupOp[],
  who: number,
  body: OpBody,
  atMs: number,
): { ops: GroupOp[]; state: GroupState } {
  const op = signOp(keysOf(who), nextHeader(foldGroup(ops, atMs), atMs), body);
  const next = [...ops, op];
  const state = foldGroup(next, atMs);
  const dropped = state.dropped.find((d) => d.hash === op.hash);
  expect(dropped, `${body.kind} by ${who} was dropped: ${dropped?.reason}`).toBeUndefined();
  return { ops: next, state };
}

describe('the clock bound: no op freezes the group', () => {
  it('after any hostile ops, every honest member issues every op kind and replicas converge', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 25 }), fc.integer(), (steps, seed) => {
        const { all } = play(steps);
        const atMs = T0 + 100_000;
        const reference = foldGroup(all, atMs);
        // Every considered op stays within the bound, so the next clock is always encodable.
        expect(reference.clock).toBeLessThanOrEqual(MAX_FOLD_OPS * MAX_CLOCK_STEP);
        // Convergence: two replicas receive the ops in different orders, authoring on the way.
        const a = new Replica();
        const b = new Replica();
        const orderA = shuffled(all, seed);
        const orderB = shuffled(all, seed ^ 0x5bd1e995);
        for (let i = 0; i < all.length; i++) {
          a.receive([orderA[i]!]);
          b.receive([orderB[i]!]);
        }
        a.act(ALICE, { kind: 'pledge', pledgeBytes: 7e9 }, atMs);
        b.act(BOB, { kind: 'pledge', pledgeBytes: 8e9 }, atMs);
        a.receive(b.ops);
        b.receive(a.ops);
        expect(b.state(atMs)).toEqual(a.state(atMs));
        // Every op kind, by each honest member, on top of the converged set.
        for (const who of HONEST) {
          let ops = [...a.ops];
          const t = tokenOf(`after-${who}-${seed}`);
          ops = issue(
            ops,
            who,
            { kind: 'invite', tokenHash: t.tokenHash, expiresAtMs: atMs + DAY_MS },
            atMs,
          ).ops;
          const request = signOp(keysOf(DORA), nextHeader(foldGroup(ops, atMs), atMs), {
            kind: 'request',
            name: 'dora',
            addresses: [],
            token: t.token,
          });
          ops.push(request);
          expect(foldGroup(ops, atMs).pending.map((p) => p.request)).toContain(request.hash);
          ops = issue(ops, who, { kind: 'approve', candidate: idOf(DORA), request: request.hash }, atMs).ops;
          ops = issue(ops, who, { kind: 'pledge', pledgeBytes: 50e9 }, atMs).ops;
          ops = issue(ops, who, { kind: 'agree', agreement: AGREEMENT }, atMs).ops;
          ops = issue(ops, who, { kind: 'addresses', addresses: ['/ip4/127.0.0.1/tcp/9'] }, atMs).ops;
          const u = tokenOf(`again-${who}-${seed}`);
          ops = issue(
            ops,
            who,
            { kind: 'invite', tokenHash: u.tokenHash, expiresAtMs: atMs + DAY_MS },
            atMs,
          ).ops;
          const again = signOp(keysOf(RUTH), nextHeader(foldGroup(ops, atMs), atMs), {
            kind: 'request',
            name: 'ruth',
            addresses: [],
            token: u.token,
          });
          ops.push(again);
          ops = issue(ops, who, { kind: 'reject', candidate: idOf(RUTH), request: again.hash }, atMs).ops;
          const removed = issue(ops, who, { kind: 'remove', member: idOf(MALLORY) }, atMs).state;
          expect(removed.members.map((m) => m.id)).not.toContain(idOf(MALLORY));
          expect(removed.members.map((m) => m.id)).toContain(idOf(DORA));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('an op whose clock jumps more than MAX_CLOCK_STEP past its parents is dropped, its history too', () => {
    const { base } = setup();
    const state = foldGroup(base, T0);
    const header = nextHeader(state, T0);
    const jump = signOp(
      keysOf(MALLORY),
      { ...header, clock: header.clock - 1 + MAX_CLOCK_STEP + 1 },
      {
        kind: 'pledge',
        pledgeBytes: 1,
      },
    );
    const edge = signOp(
      keysOf(MALLORY),
      { ...header, clock: header.clock - 1 + MAX_CLOCK_STEP },
      {
        kind: 'pledge',
        pledgeBytes: 2,
      },
    );
    const child = signOp(
      keysOf(MALLORY),
      { ...header, clock: jump.clock + 1, parents: [jump.hash] },
      { kind: 'pledge', pledgeBytes: 3 },
    );
    const after = foldGroup([...base, jump, edge, child], T0);
    expect(after.dropped).toMatchObject([
      { hash: jump.hash, reason: 'clock-too-far' },
      { hash: child.hash, reason: 'missing-parents' },
    ]);
    // The edge of the bound applies: a step of exactly MAX_CLOCK_STEP is allowed.
    expect(after.clock).toBe(edge.clock);
    expect(after.members.find((m) => m.id === idOf(MALLORY))?.pledgeBytes).toBe(2);
  });

  it('with more than 64 heads, the next op names the highest-clock head and applies', () => {
    const create = createOp(ALICE);
    const side: GroupOp[] = [];
    for (let i = 0; i < 70; i++)
      side.push(
        signOp(
          keysOf(ALICE),
          { group: create.hash, clock: 2 + i, atMs: T0, parents: [create.hash] },
          {
            kind: 'pledge',
            pledgeBytes: i,
          },
        ),
      );
    // A chain far ahead of the side heads, whose tip sorts after the 64 smallest heads.
    let tip: GroupOp | null = null;
    for (let salt = 0; tip === null; salt++) {
      let last = create;
      for (let step = 1; step <= 3; step++)
        last = signOp(
          keysOf(ALICE),
          { group: create.hash, clock: last.clock + MAX_CLOCK_STEP, atMs: T0, parents: [last.hash] },
          { kind: 'pledge', pledgeBytes: 1000 + salt },
        );
      const heads = [...side.map((o) => o.hash), last.hash].sort();
      if (heads.indexOf(last.hash) >= 64) {
        tip = last;
        side.push(...chainOf(last, create));
      }
    }
    const state = foldGroup([create, ...side], T0);
    expect(state.heads.length).toBe(71);
    const header = nextHeader(state, T0);
    expect(header.parents).toHaveLength(64);
    expect(header.parents).toContain(tip.hash);
    expect(header.clock).toBe(tip.clock + 1);
    const op = signOp(keysOf(ALICE), header, { kind: 'pledge', pledgeBytes: 5 });
    const after = foldGroup([create, ...side, op], T0);
    expect(after.dropped).toEqual([]);
    expect(after.clock).toBe(op.clock);
  });
});

/** The ops of a pledge chain from `tip` back to (not including) `create`, rebuilt by clock. */
function chainOf(tip: GroupOp, create: GroupOp): GroupOp[] {
  const out: GroupOp[] = [];
  let last = create;
  for (let step = 1; step <= 3; step++) {
    last = signOp(
      keysOf(ALICE),
      { group: create.hash, clock: last.clock + MAX_CLOCK_STEP, atMs: T0, parents: [last.hash] },
      { kind: 'pledge', pledgeBytes: tip.kind === 'pledge' ? tip.pledgeBytes : 0 },
    );
    out.push(last);
  }
  expect(last.hash).toBe(tip.hash);
  return out;
}
