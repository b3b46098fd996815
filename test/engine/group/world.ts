/**
 * A small world for property tests: six identities acting on their own replicas (so concurrent,
 * stale and partitioned histories arise naturally), driven by a fast-check list of steps.
 */
import fc from 'fast-check';
import { foldGroup, type GroupOp } from '../../../engine/index.ts';
import { createOp, DAY_MS, idOf, Replica, T0, tokenOf } from './helpers.ts';

export const ACTORS = [1, 2, 3, 4, 5, 6];
const TTLS_MS = [1500, 20_000, DAY_MS];

export type Step =
  | { t: 'invite'; actor: number; ttl: number }
  | { t: 'join'; candidate: number; inviter: number; pick: number }
  | { t: 'decide'; actor: number; approve: boolean }
  | { t: 'remove'; actor: number; target: number }
  | { t: 'pledge'; actor: number; gb: number }
  | { t: 'agree'; actor: number; ratio: number; tolerance: number }
  | { t: 'merge'; from: number; to: number };

const actor = fc.constantFrom(...ACTORS);
export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant('invite' as const), actor, ttl: fc.nat(TTLS_MS.length - 1) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('join' as const),
      candidate: actor,
      inviter: actor,
      pick: fc.nat(7),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('decide' as const),
      actor,
      approve: fc.oneof(fc.constant(true), fc.constant(true), fc.boolean()),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('remove' as const), actor, target: actor }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('pledge' as const), actor, gb: fc.integer({ min: 0, max: 500 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('agree' as const),
      actor,
      ratio: fc.constantFrom(1.5, 2, 3),
      tolerance: fc.integer({ min: 0, max: 2 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('merge' as const), from: actor, to: actor }) },
);

export interface World {
  replicas: Map<number, Replica>;
  /** Every op made, in creation order. */
  made: GroupOp[];
}

/** Plays the steps; each actor signs on top of what its own replica has seen. */
export function play(steps: readonly Step[]): World {
  const replicas = new Map<number, Replica>(ACTORS.map((a) => [a, new Replica()]));
  /** Tokens by their hash: the out-of-band half of an invite code. */
  const tokens = new Map<string, string>();
  const founder = replicas.get(1)!;
  const made: GroupOp[] = [createOp(1)];
  founder.receive(made);
  const act = (r: Replica, who: number, body: Parameters<Replica['act']>[1], atMs: number) => {
    made.push(r.act(who, body, atMs));
  };
  /** Steps name actors by index among those able to act, so few steps are no-ops. */
  const active = (n: number): number | undefined => {
    const able = ACTORS.filter((a) => replicas.get(a)!.ops.length > 0);
    return able[n % able.length];
  };
  steps.forEach((raw, i) => {
    const atMs = T0 + (i + 1) * 1000;
    const step = { ...raw };
    if ('actor' in step && step.t !== 'decide') step.actor = active(step.actor)!;
    if (step.t === 'join') {
      const able = ACTORS.filter((a) => replicas.get(a)!.ops.some((o) => o.kind === 'invite'));
      if (able.length === 0) return;
      step.inviter = able[step.inviter % able.length]!;
    }
    if (step.t === 'decide') {
      const able = ACTORS.filter((a) => {
        const r = replicas.get(a)!;
        return r.ops.length > 0 && foldGroup(r.ops, atMs).pending.some((q) => q.invitedBy === idOf(a));
      });
      if (able.length === 0) return;
      step.actor = able[step.actor % able.length]!;
    }
    switch (step.t) {
      case 'invite': {
        const r = replicas.get(step.actor)!;
        if (r.ops.length === 0) return;
        const { token, tokenHash } = tokenOf(`step-${i}`);
        tokens.set(tokenHash, token);
        act(r, step.actor, { kind: 'invite', tokenHash, expiresAtMs: atMs + TTLS_MS[step.ttl]! }, atMs);
        return;
      }
      case 'join': {
        // The candidate gets the inviter's log (the join protocol), then redeems one of its invites.
        const inviter = replicas.get(step.inviter)!;
        const candidate = replicas.get(step.candidate)!;
        const invites = inviter.ops.flatMap((o) => (o.kind === 'invite' ? [o.tokenHash] : []));
        if (invites.length === 0) return;
        const token = tokens.get(invites[step.pick % invites.length]!)!;
        candidate.receive(inviter.ops);
        act(
          candidate,
          step.candidate,
          { kind: 'request', name: `m${step.candidate}`, addresses: [], token },
          atMs,
        );
        inviter.receive(candidate.ops); // the join protocol hands the request to the inviter
        return;
      }
      case 'decide': {
        const r = replicas.get(step.actor)!;
        if (r.ops.length === 0) return;
        const p = foldGroup(r.ops, atMs).pending.find((q) => q.invitedBy === idOf(step.actor));
        if (p === undefined) return;
        const kind = step.approve ? 'approve' : 'reject';
        act(r, step.actor, { kind, candidate: p.candidate, request: p.request }, atMs);
        return;
      }
      case 'remove': {
        const r = replicas.get(step.actor)!;
        if (r.ops.length === 0) return;
        act(r, step.actor, { kind: 'remove', member: idOf(step.target) }, atMs);
        return;
      }
      case 'pledge': {
        const r = replicas.get(step.actor)!;
        if (r.ops.length === 0) return;
        act(r, step.actor, { kind: 'pledge', pledgeBytes: step.gb * 1e9 }, atMs);
        return;
      }
      case 'agree': {
        const r = replicas.get(step.actor)!;
        if (r.ops.length === 0) return;
        act(
          r,
          step.actor,
          { kind: 'agree', agreement: { ratio: step.ratio, tolerance: step.tolerance } },
          atMs,
        );
        return;
      }
      case 'merge':
        replicas.get(step.to)!.receive(replicas.get(step.from)!.ops);
        return;
    }
  });
  return { replicas, made };
}

/** Deterministic Fisher-Yates from a seed (the seed comes from fast-check, so failures replay). */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
