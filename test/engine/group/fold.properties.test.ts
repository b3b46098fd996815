/**
 * Properties of the fold over histories played by six identities on their own replicas
 * (concurrency, stale views, partitions and merges arise from the steps). fast-check prints the
 * seed and the shrunk steps of any failure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeOp,
  EngineError,
  foldGroup,
  type GroupOp,
  type GroupState,
  nextHeader,
  type OpBody,
  signOp,
} from '../../../engine/index.ts';
import { nodeEd25519Verifier } from '../../../runtime/crypto/ed25519.ts';
import { DAY_MS, idOf, keysOf, Replica, semantic, T0, tokenOf } from './helpers.ts';
import { ACTORS, play, shuffled, stepArb } from './world.ts';

const NOW = T0 + 10_000_000;
const RUNS = Number(process.env.PB_PROPERTY_RUNS ?? 40);
const history = fc.array(stepArb, { minLength: 10, maxLength: 50 });
const union = (replicas: Map<number, Replica>): GroupOp[] => {
  const all = new Map<string, GroupOp>();
  for (const r of replicas.values()) for (const op of r.ops) all.set(op.hash, op);
  return [...all.values()];
};
const order = (a: GroupOp, b: GroupOp) => a.clock - b.clock || (a.hash < b.hash ? -1 : 1);

describe('foldGroup properties', () => {
  it('the same op set folds to the same state whatever the delivery order, duplication or merge history', () => {
    fc.assert(
      fc.property(history, fc.integer(), fc.integer(), (steps, seed, mergeSeed) => {
        const world = play(steps);
        const all = union(world.replicas);
        const reference = foldGroup(all, NOW);
        // delivery order and duplication
        const delivered = shuffled([...all, ...all.filter((_, i) => (i * 7 + seed) % 3 === 0)], seed);
        expect(foldGroup(delivered, NOW)).toEqual(reference);
        // partition and merge: replicas merged pairwise in a random order all end with the reference
        const replicas = shuffled([...world.replicas.values()], mergeSeed).map((r) => new Replica(r.ops));
        for (let round = 0; round < 2; round++) {
          for (let i = 1; i < replicas.length; i++) {
            replicas[i]!.receive(replicas[i - 1]!.ops);
            replicas[i - 1]!.receive(replicas[i]!.ops);
          }
        }
        for (let i = replicas.length - 1; i > 0; i--) replicas[i - 1]!.receive(replicas[i]!.ops);
        for (const r of replicas) expect(r.state(NOW)).toEqual(reference);
      }),
      { numRuns: RUNS },
    );
  });

  it('a removed member never reappears without a new request approved after its removal', () => {
    fc.assert(
      fc.property(history, (steps) => {
        const all = union(play(steps).replicas).sort(order);
        const state = foldGroup(all, NOW);
        const droppedHashes = new Set(state.dropped.map((d) => d.hash));
        const position = new Map(all.map((op, i) => [op.hash, i]));
        for (const m of state.members) {
          const removals = all.filter(
            (op) => op.kind === 'remove' && op.member === m.id && !droppedHashes.has(op.hash),
          );
          if (removals.length === 0) continue;
          const lastRemoval = position.get(removals[removals.length - 1]!.hash)!;
          const readmitted = state.outcomes.some(
            (o) =>
              o.candidate === m.id &&
              o.outcome === 'approved' &&
              position.get(o.request)! > lastRemoval &&
              position.get(o.op)! > lastRemoval,
          );
          expect(readmitted).toBe(true);
        }
        for (const r of state.removed) expect(state.members.map((m) => m.id)).not.toContain(r.id);
      }),
      { numRuns: RUNS },
    );
  });

  it('membership, removals, agreement and placement never depend on nowMs', () => {
    fc.assert(
      fc.property(history, fc.integer({ min: 0, max: 30 * DAY_MS }), (steps, laterMs) => {
        const all = union(play(steps).replicas);
        const a = foldGroup(all, T0);
        const b = foldGroup(all, T0 + laterMs);
        const fixed = (s: GroupState) => ({ ...semantic(s), invites: null });
        expect(fixed(b)).toEqual(fixed(a));
      }),
      { numRuns: RUNS },
    );
  });

  it('stranger, replayed-token and expired-token ops change nothing and are reported', () => {
    fc.assert(
      fc.property(history, (steps) => {
        const world = play(steps);
        const all = union(world.replicas);
        // Judged when every invite has expired: a late request arrives only after its invite's expiry.
        const LATER = T0 + 40 * DAY_MS;
        const before = foldGroup(all, LATER);
        if (before.groupId === null) return;
        const header = nextHeader(before, NOW);
        const hostile: GroupOp[] = [];
        const stranger = keysOf(99);
        for (const body of [
          { kind: 'invite', tokenHash: tokenOf('stranger').tokenHash, expiresAtMs: NOW + 1 },
          { kind: 'pledge', pledgeBytes: 1e15 },
          { kind: 'agree', agreement: { ratio: 1, tolerance: 0 } },
          ...ACTORS.map((a) => ({ kind: 'remove', member: idOf(a) })),
          ...before.pending.map((p) => ({ kind: 'approve', candidate: p.candidate, request: p.request })),
        ] as OpBody[]) {
          hostile.push(signOp(stranger, header, body));
        }
        // replayed tokens: every token already redeemed, by someone else, later. "Later" in fold
        // order means a higher clock than every op of the set, dropped ones included: nextHeader
        // counts applied ops only, and a request at the same clock as a dropped one is concurrent
        // with it (the fold breaks that tie by hash, so it may come first).
        const maxClock = all.reduce((c, op) => Math.max(c, op.clock), 0);
        const replayHeader = { ...header, clock: Math.max(header.clock, maxClock + 1) };
        for (const op of all) {
          if (op.kind === 'request') {
            hostile.push(
              signOp(keysOf(98), replayHeader, {
                kind: 'request',
                name: 'replay',
                addresses: [],
                token: op.token,
              }),
            );
          }
        }
        // expired tokens: every invite redeemed after it expired
        for (const op of all) {
          if (op.kind === 'invite') {
            const token = tokenLabelOf(op.tokenHash);
            if (token === undefined) continue;
            const late = { ...header, atMs: op.expiresAtMs + 1 };
            hostile.push(signOp(keysOf(97), late, { kind: 'request', name: 'late', addresses: [], token }));
          }
        }
        // a replayed op (same bytes again) is a duplicate: the set does not change
        const replayed = all.map((op) => decodeOp(op.bytes, { verify: nodeVerify }));
        const after = foldGroup([...all, ...hostile, ...replayed], LATER);
        expect(semantic(after)).toEqual(semantic(before));
        const reported = new Map(after.dropped.map((d) => [d.hash, d.reason]));
        for (const op of hostile) expect(reported.has(op.hash)).toBe(true);
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });

  it('forged ops (any bit flipped) are refused by decodeOp with a typed error', () => {
    fc.assert(
      fc.property(history, fc.integer(), (steps, seed) => {
        const all = union(play(steps).replicas);
        for (const op of shuffled(all, seed).slice(0, 10)) {
          const forged = op.bytes.slice();
          const bit = Math.abs(seed) % (forged.length * 8);
          forged[bit >> 3]! ^= 1 << (bit & 7);
          expect(() => decodeOp(forged, { verify: nodeVerify })).toThrow(EngineError);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a candidate approved by one member and removed concurrently by another ends removed on every replica', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        fc.boolean(),
        (aheadApprover, aheadRemover, candidateActs, removerIsCandidate) => {
          const base = new Replica();
          base.receive(play([]).made);
          for (const n of [2, 3]) {
            const { token, tokenHash } = tokenOf(`base-${n}`);
            base.act(1, { kind: 'invite', tokenHash, expiresAtMs: T0 + DAY_MS });
            const req = base.act(n, { kind: 'request', name: `m${n}`, addresses: [], token });
            base.act(1, { kind: 'approve', candidate: idOf(n), request: req.hash });
          }
          const { token, tokenHash } = tokenOf('race');
          base.act(1, { kind: 'invite', tokenHash, expiresAtMs: T0 + DAY_MS });
          const request = base.act(4, { kind: 'request', name: 'c', addresses: [], token });
          const approver = new Replica(base.ops);
          const remover = new Replica(base.ops);
          for (let i = 0; i < aheadApprover; i++) approver.act(1, { kind: 'pledge', pledgeBytes: i });
          for (let i = 0; i < aheadRemover; i++) remover.act(2, { kind: 'pledge', pledgeBytes: i });
          approver.act(1, { kind: 'approve', candidate: idOf(4), request: request.hash });
          if (candidateActs) approver.act(4, { kind: 'pledge', pledgeBytes: 1e9 });
          remover.act(removerIsCandidate ? 3 : 2, { kind: 'remove', member: idOf(4) });
          const replicas = [approver, remover, new Replica(base.ops)];
          replicas[0]!.receive(remover.ops);
          replicas[1]!.receive(approver.ops);
          replicas[2]!.receive([...remover.ops].reverse());
          replicas[2]!.receive(approver.ops);
          const states = replicas.map((r) => r.state());
          for (const s of states) {
            expect(s.members.map((m) => m.id)).not.toContain(idOf(4));
            expect(s.removed.map((m) => m.id)).toContain(idOf(4));
            expect(s).toEqual(states[0]);
          }
        },
      ),
      { numRuns: 64 },
    );
  });
});

const nodeVerify = nodeEd25519Verifier();
/** The world's tokens are tokenOf(`step-${i}`): find the one behind a hash. */
function tokenLabelOf(tokenHash: string): string | undefined {
  for (let i = 0; i < 200; i++) {
    const t = tokenOf(`step-${i}`);
    if (t.tokenHash === tokenHash) return t.token;
  }
  return undefined;
}
