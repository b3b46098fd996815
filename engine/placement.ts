/**
 * Calibrated rendezvous placement (docs/design.md §4).
 *
 * 1. From the pledges compute the share bound x* and each member's target inclusion probability
 *    pi_i = min(c_i, x*) / x* (they sum to s). Members with pi_i = 1 are capped: in every stripe.
 * 2. The other members take part in straw2 (key = -ln(u) / w, the s' smallest keys win), with
 *    weights solved so that straw2 picks each with probability exactly pi_i.
 * 3. The writer computes two candidate stripes (salt 0 and 1) and keeps the one whose fullest
 *    member is least full; the salt is part of the stripe id, so every reader recomputes it.
 *
 * The plan is plain JSON data, computed once per group state; weights are quantised to 12
 * significant digits so that every member derives byte-identical plans.
 */
import { type MemberCapacity, shareBoundExact, validateMembers } from './capacity.ts';
import { EngineError, invariant, requireShardsPerStripe } from './errors.ts';
import { memberKey, pairUniformsInto, stripeKeyInto, type U64 } from './hash64.ts';
import { solveStraw2Weights } from './straw2.ts';
import { saltedStripeId } from './stripe-id.ts';

export { solveStraw2Weights, straw2Inclusion } from './straw2.ts';

export const PLACEMENT_PLAN_VERSION = 1;

export interface PlanMember {
  readonly id: string;
  readonly capacityBytes: number;
  /** Target probability that a stripe includes this member (quantised). */
  readonly targetProbability: number;
  /** In every stripe (capacity >= share bound). */
  readonly capped: boolean;
  /** straw2 weight (quantised); 0 for capped members and members that hold nothing. */
  readonly weight: number;
}

export interface PlacementPlan {
  readonly version: typeof PLACEMENT_PLAN_VERSION;
  readonly shardsPerStripe: number;
  /** x*: the share bound over these members' capacities, whole bytes. */
  readonly shareBytes: number;
  /** Sorted by id. */
  readonly members: readonly PlanMember[];
  /** Rounds the weight solver took (0 when no solving was needed). */
  readonly solverRounds: number;
}

const SIGNIFICANT_DIGITS = 12;
const quantise = (x: number): number => Number(x.toPrecision(SIGNIFICANT_DIGITS));

export function placementPlan(
  members: { id: string; capacityBytes: number }[],
  shardsPerStripe: number,
): PlacementPlan {
  if (!Array.isArray(members)) throw new EngineError('invalid-argument', 'members must be an array');
  validateMembers(members);
  const s = requireShardsPerStripe(shardsPerStripe);
  const positive = members.filter((m) => m.capacityBytes > 0);
  if (positive.length < s) {
    throw new EngineError(
      'too-few-members',
      `a stripe of ${s} shards needs ${s} members with capacity, only ${positive.length} of ${members.length} have any`,
    );
  }
  const sorted: MemberCapacity[] = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const share = shareBoundExact(
    sorted.map((m) => m.capacityBytes),
    s,
  );
  invariant(share > 0, 'share bound is positive when s members have capacity');
  const { target, capped } = inclusionTargets(
    sorted.map((m) => m.capacityBytes),
    share,
    s,
  );
  const cappedCount = capped.filter(Boolean).length;
  const picks = s - cappedCount;
  invariant(picks >= 0, 'at most s members are capped');
  const free = sorted.map((_, i) => i).filter((i) => !capped[i] && target[i]! > 0);
  invariant(free.length >= picks, 'enough uncapped members for the remaining picks');
  let weights: number[] = [];
  let rounds = 0;
  if (picks > 0) {
    const solved = solveStraw2Weights(
      free.map((i) => target[i]!),
      picks,
    );
    weights = solved.weights;
    rounds = solved.rounds;
  }
  const weightOf = new Map<number, number>();
  if (picks > 0)
    for (const [j, memberIndex] of free.entries()) weightOf.set(memberIndex, quantise(weights[j]!));
  return {
    version: PLACEMENT_PLAN_VERSION,
    shardsPerStripe: s,
    shareBytes: Math.floor(share),
    members: sorted.map((m, i) => ({
      id: m.id,
      capacityBytes: m.capacityBytes,
      targetProbability: capped[i] ? 1 : picks > 0 ? quantise(target[i]!) : 0,
      capped: capped[i]!,
      weight: capped[i] ? 0 : (weightOf.get(i) ?? 0),
    })),
    solverRounds: rounds,
  };
}

/**
 * Target inclusion probabilities pi_i = min(c_i, x*) / x*. A member whose target is within
 * CAP_EPSILON of 1 is capped (always chosen) and the other targets are rescaled so that they still
 * sum to the picks left: straw2 cannot reach a probability of 1 with a finite weight, and one that
 * close to 1 only slows the solver while changing fills by less than CAP_EPSILON.
 */
export const CAP_EPSILON = 1e-6;

/**
 * Each member's chance to be in a stripe under the plan over these capacities, as
 * `placementPlan` targets it (before quantising): what an owner's plan sends to each holder.
 * Capacities already validated, at least `shardsPerStripe` of them positive.
 */
export function inclusionChances(capacityBytes: readonly number[], shardsPerStripe: number): number[] {
  const share = shareBoundExact(capacityBytes, shardsPerStripe);
  const { target, capped } = inclusionTargets(capacityBytes, share, shardsPerStripe);
  const picks = shardsPerStripe - capped.filter(Boolean).length;
  return target.map((t, i) => (capped[i] ? 1 : picks > 0 ? t : 0));
}

function inclusionTargets(capacityBytes: readonly number[], share: number, s: number) {
  const target = capacityBytes.map((c) => Math.min(1, Math.min(c, share) / share));
  const capped = capacityBytes.map((c) => c > 0 && c >= share);
  // Each pass caps at least one more member or stops: bounded by s passes.
  for (let pass = 0; pass <= s; pass++) {
    let cappedCount = 0;
    let freeSum = 0;
    for (let i = 0; i < target.length; i++) {
      if (capped[i]) cappedCount++;
      else freeSum += target[i]!;
    }
    const picks = s - cappedCount;
    if (picks <= 0 || freeSum <= 0) break;
    const scale = picks / freeSum;
    let changed = false;
    for (let i = 0; i < target.length; i++) {
      if (capped[i]) {
        target[i] = 1;
        continue;
      }
      target[i] = target[i]! * scale;
      if (target[i]! >= 1 - CAP_EPSILON) {
        capped[i] = true;
        target[i] = 1;
        changed = true;
      }
    }
    if (!changed) break;
  }
  return { target, capped };
}

// ---------------------------------------------------------------------------------------------
// Placing stripes

interface CompiledPlan {
  readonly s: number;
  readonly picks: number;
  readonly ids: readonly string[];
  readonly keyHi: Int32Array;
  readonly keyLo: Int32Array;
  /** Scratch: every member's pair score u for the stripe being placed (placement is synchronous). */
  readonly scores: Float64Array;
  readonly cappedIdx: readonly number[];
  readonly freeIdx: Int32Array;
  readonly freeInvWeight: Float64Array;
  /** Every weighted member has the same weight: -ln(u)/w orders like -u, so no logarithm is needed. */
  readonly equalWeights: boolean;
  readonly capacity: Float64Array;
}

const compiledPlans = new WeakMap<PlacementPlan, CompiledPlan>();

let lastPlan: PlacementPlan | undefined;
let lastCompiled: CompiledPlan | undefined;

function compile(plan: PlacementPlan): CompiledPlan {
  if (plan === lastPlan && lastCompiled) return lastCompiled;
  const cached = compiledPlans.get(plan) ?? compileUncached(plan);
  lastPlan = plan;
  lastCompiled = cached;
  return cached;
}

function compileUncached(plan: PlacementPlan): CompiledPlan {
  if (
    plan === null ||
    typeof plan !== 'object' ||
    plan.version !== PLACEMENT_PLAN_VERSION ||
    !Array.isArray(plan.members)
  ) {
    throw new EngineError('invalid-plan', `not a placement plan of version ${PLACEMENT_PLAN_VERSION}`);
  }
  const s = requireShardsPerStripe(plan.shardsPerStripe);
  const cappedIdx: number[] = [];
  const free: number[] = [];
  const indexOf = new Map<string, number>();
  plan.members.forEach((m, i) => {
    if (typeof m.id !== 'string' || indexOf.has(m.id))
      throw new EngineError('invalid-plan', `bad or duplicate member id at ${i}`);
    indexOf.set(m.id, i);
    if (m.capped) cappedIdx.push(i);
    else if (m.weight > 0 && Number.isFinite(m.weight)) free.push(i);
  });
  const picks = s - cappedIdx.length;
  if (picks < 0 || free.length < picks) {
    throw new EngineError(
      'invalid-plan',
      `plan cannot fill ${s} shards: ${cappedIdx.length} capped, ${free.length} weighted`,
    );
  }
  const compiled: CompiledPlan = {
    s,
    picks,
    ids: plan.members.map((m) => m.id),
    keyHi: Int32Array.from(plan.members, (m) => memberKey(m.id).hi | 0),
    keyLo: Int32Array.from(plan.members, (m) => memberKey(m.id).lo | 0),
    scores: new Float64Array(plan.members.length),
    cappedIdx,
    freeIdx: Int32Array.from(free),
    freeInvWeight: Float64Array.from(free, (i) => 1 / plan.members[i]!.weight),
    equalWeights: free.every((i) => plan.members[i]!.weight === plan.members[free[0]!]!.weight),
    capacity: Float64Array.from(plan.members, (m) => m.capacityBytes),
  };
  compiledPlans.set(plan, compiled);
  return compiled;
}

const bestKey = new Float64Array(64);
const bestIdx = new Int32Array(64);
const chosenIdx = new Int32Array(64);
const chosenScore = new Float64Array(64);
const stripeKeyHalves = new Int32Array(2);

/**
 * A lower bound of -ln(u) for u in bucket b = floor(u * 2^12), that is u < (b + 1) / 2^12:
 * -ln((b + 1) / 2^12), shrunk by 1e-9 relative so that it stays below Math.log's result whatever
 * its last-bit rounding. It lets the weighted scan skip a member whose key cannot beat the
 * current s'-th best without computing the logarithm: lowerBound * (1/w) >= worst best key
 * implies -ln(u) * (1/w) >= it (rounded multiplication is monotone), which is exactly the case
 * that the exact comparison skips too. Placements are unchanged; only logarithms are saved.
 */
const LOG_BUCKET_BITS = 12;
const LOG_BUCKETS = 1 << LOG_BUCKET_BITS;
const negLogLowerBound = new Float64Array(LOG_BUCKETS + 1);
for (let b = 0; b < LOG_BUCKETS; b++) {
  negLogLowerBound[b] = Math.max(0, -Math.log((b + 1) / LOG_BUCKETS) * (1 - 1e-9));
}
// negLogLowerBound[LOG_BUCKETS] = 0: u = 1 exactly (the largest 53-bit score rounds up to it).

/**
 * Fills `chosenIdx[0..s)` with the stripe's member indices ordered by their raw pair score u,
 * which does not depend on weights, so a member's shard index is stable across group changes.
 */
function placeIndices(c: CompiledPlan, stripeId: string): void {
  stripeKeyInto(stripeId, stripeKeyHalves);
  placeIndicesByKey(c, stripeKeyHalves[0]!, stripeKeyHalves[1]!);
}

/** placeIndices from the stripe key's halves (as int32). */
function placeIndicesByKey(c: CompiledPlan, sHi: number, sLo: number): void {
  const picks = c.picks;
  const free = c.freeIdx;
  const scores = c.scores;
  pairUniformsInto(sHi, sLo, c.keyHi, c.keyLo, scores, scores.length);
  if (picks > 0) {
    if (c.equalWeights) scanEqual(picks, free, scores);
    else scanWeighted(picks, free, scores, c.freeInvWeight);
  }
  // The picks, then the capped members, insertion-sorted by raw score u (ties by index). With
  // equal weights the picks come in descending u, so they go in last-first: already in order.
  const capped = c.cappedIdx;
  const total = capped.length + picks;
  const lastFirst = c.equalWeights;
  for (let n = 0; n < total; n++) {
    const i = n < picks ? free[bestIdx[lastFirst ? picks - 1 - n : n]!]! : capped[n - picks]!;
    const score = scores[i]!;
    let pos = n;
    while (
      pos > 0 &&
      (chosenScore[pos - 1]! > score || (chosenScore[pos - 1] === score && chosenIdx[pos - 1]! > i))
    ) {
      chosenScore[pos] = chosenScore[pos - 1]!;
      chosenIdx[pos] = chosenIdx[pos - 1]!;
      pos--;
    }
    chosenScore[pos] = score;
    chosenIdx[pos] = i;
  }
}

/**
 * The `picks` weighted members with the smallest keys into `bestIdx` (positions in `free`), in
 * ascending key order, earlier members first on equal keys; `scores[i]` = u of plan member i.
 * Equal weights: key = -u, the same order as -ln(u)/w (ln is increasing) with no logarithm.
 */
function scanEqual(picks: number, free: Int32Array, scores: Float64Array): void {
  const nFree = free.length;
  let filled = 0;
  let worst = 0; // bestKey[picks - 1] once filled
  for (let f = 0; f < nFree; f++) {
    const key = -scores[free[f]!]!;
    let pos: number;
    if (filled < picks) pos = filled++;
    else if (key < worst) pos = picks - 1;
    else continue;
    while (pos > 0 && bestKey[pos - 1]! > key) {
      bestKey[pos] = bestKey[pos - 1]!;
      bestIdx[pos] = bestIdx[pos - 1]!;
      pos--;
    }
    bestKey[pos] = key;
    bestIdx[pos] = f;
    if (filled === picks) worst = bestKey[picks - 1]!;
  }
}

/** scanEqual for unequal weights: key = -ln(u) / w, logarithms skipped where they cannot win. */
function scanWeighted(picks: number, free: Int32Array, scores: Float64Array, inv: Float64Array): void {
  const nFree = free.length;
  let filled = 0;
  let worst = 0; // bestKey[picks - 1] once filled
  for (let f = 0; f < nFree; f++) {
    const u = scores[free[f]!]!;
    const invW = inv[f]!;
    let key: number;
    let pos: number;
    if (filled === picks) {
      if (negLogLowerBound[(u * LOG_BUCKETS) | 0]! * invW >= worst) continue;
      key = -Math.log(u) * invW;
      if (!(key < worst)) continue;
      pos = picks - 1;
    } else {
      key = -Math.log(u) * invW;
      pos = filled++;
    }
    while (pos > 0 && bestKey[pos - 1]! > key) {
      bestKey[pos] = bestKey[pos - 1]!;
      bestIdx[pos] = bestIdx[pos - 1]!;
      pos--;
    }
    bestKey[pos] = key;
    bestIdx[pos] = f;
    if (filled === picks) worst = bestKey[picks - 1]!;
  }
}

function chosenIds(c: CompiledPlan): string[] {
  const out = new Array<string>(c.s);
  for (let j = 0; j < c.s; j++) out[j] = c.ids[chosenIdx[j]!]!;
  return out;
}

/** The members holding the stripe's shards, `shardsPerStripe` distinct ids in shard order. */
export function placeStripe(plan: PlacementPlan, stripeId: string): string[] {
  if (typeof stripeId !== 'string' || stripeId.length === 0) {
    throw new EngineError('invalid-argument', 'stripeId must be a non-empty string');
  }
  const c = compile(plan);
  placeIndices(c, stripeId);
  return chosenIds(c);
}

/**
 * placeStripe from the stripe's key, `stripeKey(stripeId)` (pb-hash64 of the id), for callers
 * that place one stripe under several plans or already hold its key: the same members in the same
 * order as `placeStripe(plan, stripeId)`, without hashing the id again.
 */
export function placeStripeByKey(plan: PlacementPlan, key: U64): string[] {
  if (key === null || typeof key !== 'object' || key.hi >>> 0 !== key.hi || key.lo >>> 0 !== key.lo) {
    throw new EngineError(
      'invalid-argument',
      'key must be a stripe key { hi, lo } of two unsigned 32-bit halves',
    );
  }
  const c = compile(plan);
  placeIndicesByKey(c, key.hi | 0, key.lo | 0);
  return chosenIds(c);
}

/**
 * The writer's best of two: place `${baseId}/0` and `${baseId}/1` and keep the one whose fullest
 * member (bytes used after this shard, over its capacity; members in both candidates ignored) is
 * least full. Ties keep salt 0.
 */
export function chooseStripe(
  plan: PlacementPlan,
  baseId: string,
  usedBytes: Record<string, number>,
  shardBytes: number,
): { stripeId: string; members: string[] } {
  if (typeof baseId !== 'string' || baseId.length === 0)
    throw new EngineError('invalid-argument', 'baseId must be a non-empty string');
  if (!Number.isFinite(shardBytes) || shardBytes < 0) {
    throw new EngineError('invalid-argument', `shardBytes must be a finite number >= 0, got ${shardBytes}`);
  }
  const c = compile(plan);
  const id0 = saltedStripeId(baseId, 0);
  const id1 = saltedStripeId(baseId, 1);
  placeIndices(c, id0);
  const a = Array.from(chosenIdx.subarray(0, c.s));
  placeIndices(c, id1);
  const b = Array.from(chosenIdx.subarray(0, c.s));
  const fill = (i: number): number => {
    const used = usedBytes[c.ids[i]!] ?? 0;
    if (typeof used !== 'number' || !Number.isFinite(used) || used < 0) {
      throw new EngineError('invalid-argument', `usedBytes of ${c.ids[i]} must be a finite number >= 0`);
    }
    return (used + shardBytes) / c.capacity[i]!;
  };
  let maxA = Number.NEGATIVE_INFINITY;
  let maxB = Number.NEGATIVE_INFINITY;
  for (const i of a) {
    const f = fill(i);
    if (!b.includes(i)) maxA = Math.max(maxA, f);
  }
  for (const i of b) {
    const f = fill(i);
    if (!a.includes(i)) maxB = Math.max(maxB, f);
  }
  return maxB < maxA
    ? { stripeId: id1, members: b.map((i) => c.ids[i]!) }
    : { stripeId: id0, members: a.map((i) => c.ids[i]!) };
}
