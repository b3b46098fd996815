/**
 * Capacity under the agreement (docs/design.md §3).
 *
 * A stripe of `s = k + m` shards goes to `s` distinct members, at most one shard each, so a
 * member can never usefully hold more than the per-member share `x*` that solves
 * `sum_i min(c_i, x*) = s * x*` (the water-filling bound). The group holds at most
 * `T* = k * x*` bytes of user data; members with `c_i >= x*` are capped.
 */
import { EngineError, invariant, requireByteCount, requireShardsPerStripe } from './errors.ts';

export interface Agreement {
  /** Pledge `ratio * x` bytes to back up `x` bytes. */
  readonly ratio: number;
  /** Members lost at once that every stripe must survive. */
  readonly tolerance: number;
}

export interface MemberCapacity {
  readonly id: string;
  readonly capacityBytes: number;
}

/** Reed-Solomon limits of the erasure library (@ronomon/reed-solomon). */
export const MAX_DATA_SHARDS = 24;
export const MAX_PARITY_SHARDS = 6;
export const DEFAULT_K_MAX = 8;

export function validateCapacities(capacityBytes: readonly number[], what = 'capacity'): void {
  let total = 0;
  capacityBytes.forEach((c, i) => {
    requireByteCount(c, `${what}[${i}]`);
    total += c;
  });
  if (total > Number.MAX_SAFE_INTEGER) {
    throw new EngineError('invalid-capacity', `the sum of all ${what} values exceeds 2^53-1 bytes`);
  }
}

export function validateMembers(members: readonly MemberCapacity[]): void {
  const seen = new Set<string>();
  for (const [i, m] of members.entries()) {
    if (m === null || typeof m !== 'object' || typeof m.id !== 'string' || m.id.length === 0) {
      throw new EngineError('invalid-argument', `member[${i}] needs a non-empty string id`);
    }
    if (seen.has(m.id))
      throw new EngineError('duplicate-member', `member id ${JSON.stringify(m.id)} appears twice`);
    seen.add(m.id);
    requireByteCount(m.capacityBytes, `capacityBytes of member ${JSON.stringify(m.id)}`);
  }
  validateCapacities(members.map((m) => m.capacityBytes));
}

/** The exact (real-valued) water-filling share; capacities already validated. */
export function shareBoundExact(capacityBytes: readonly number[], shardsPerStripe: number): number {
  const sorted = [...capacityBytes].sort((a, b) => b - a);
  let rest = 0;
  for (const c of sorted) rest += c;
  let capped = 0;
  let share = rest / shardsPerStripe;
  // Peel off members whose capacity exceeds the current share; at most s-1 can be peeled.
  while (capped < sorted.length && sorted[capped]! > share) {
    rest -= sorted[capped]!;
    capped++;
    invariant(capped < shardsPerStripe, 'water-filling peeled s members');
    share = rest / (shardsPerStripe - capped);
  }
  return share;
}

/**
 * `x*`: the largest per-member share (whole bytes) such that `sum_i min(c_i, x*) >= s * x*`.
 * Throws `too-few-members` when there are fewer members than shards per stripe.
 */
export function shareBound(capacityBytes: number[], shardsPerStripe: number): number {
  requireShardsPerStripe(shardsPerStripe);
  if (!Array.isArray(capacityBytes))
    throw new EngineError('invalid-argument', 'capacityBytes must be an array');
  validateCapacities(capacityBytes);
  if (capacityBytes.length < shardsPerStripe) {
    throw new EngineError(
      'too-few-members',
      `a stripe of ${shardsPerStripe} shards needs ${shardsPerStripe} distinct members, only ${capacityBytes.length} given`,
    );
  }
  return Math.floor(shareBoundExact(capacityBytes, shardsPerStripe));
}

export interface CapacityReport {
  readonly shardsPerStripe: number;
  readonly dataShards: number;
  /** x*: bytes each member can usefully hold. */
  readonly shareBytes: number;
  /** T* = k * x*: bytes of user data the whole group can hold. */
  readonly boundBytes: number;
  readonly members: readonly {
    readonly id: string;
    readonly capacityBytes: number;
    /** Holds a shard of every stripe; `unusableBytes` of its pledge can never be filled. */
    readonly capped: boolean;
    readonly usableBytes: number;
    readonly unusableBytes: number;
  }[];
}

export function capacityReport(
  members: readonly MemberCapacity[],
  dataShards: number,
  parityShards: number,
): CapacityReport {
  validateMembers(members);
  const s = requireShardsPerStripe(dataShards + parityShards);
  if (!Number.isInteger(dataShards) || dataShards < 1) {
    throw new EngineError('invalid-shape', `dataShards must be a whole number >= 1, got ${dataShards}`);
  }
  const shareBytes = shareBound(
    members.map((m) => m.capacityBytes),
    s,
  );
  return {
    shardsPerStripe: s,
    dataShards,
    shareBytes,
    boundBytes: dataShards * shareBytes,
    members: members.map((m) => {
      const usableBytes = Math.min(m.capacityBytes, shareBytes);
      return {
        id: m.id,
        capacityBytes: m.capacityBytes,
        capped: m.capacityBytes > 0 && m.capacityBytes >= shareBytes,
        usableBytes,
        unusableBytes: m.capacityBytes - usableBytes,
      };
    }),
  };
}

/**
 * One owner's bound: bytes of user data this owner alone could back up on the other members'
 * free capacity. Returns 0 when there are fewer other members than shards per stripe.
 */
export function ownerBound(
  freeBytesOfOthers: readonly number[],
  dataShards: number,
  parityShards: number,
): number {
  const s = requireShardsPerStripe(dataShards + parityShards);
  validateCapacities(freeBytesOfOthers, 'free bytes');
  if (freeBytesOfOthers.length < s) return 0;
  return Math.floor(dataShards * shareBoundExact(freeBytesOfOthers, s));
}

export function validateAgreement(agreement: Agreement): void {
  if (agreement === null || typeof agreement !== 'object') {
    throw new EngineError('invalid-agreement', 'agreement must be an object { ratio, tolerance }');
  }
  const { ratio, tolerance } = agreement;
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio < 1) {
    throw new EngineError('invalid-agreement', `ratio must be a finite number >= 1, got ${String(ratio)}`);
  }
  if (ratio > 1000) throw new EngineError('invalid-agreement', `ratio must be at most 1000, got ${ratio}`);
  if (typeof tolerance !== 'number' || !Number.isInteger(tolerance) || tolerance < 0) {
    throw new EngineError(
      'invalid-agreement',
      `tolerance must be a whole number >= 0, got ${String(tolerance)}`,
    );
  }
  if (tolerance > MAX_PARITY_SHARDS) {
    throw new EngineError(
      'invalid-agreement',
      `tolerance ${tolerance} exceeds ${MAX_PARITY_SHARDS}, the most parity shards a stripe can have`,
    );
  }
}

export type CodeChoice =
  | {
      readonly feasible: true;
      readonly dataShards: number;
      readonly parityShards: number;
      /** False when k + m uses every other member, leaving none free to repair onto. */
      readonly repairSlack: boolean;
      /** True when the spare parity shard (m = f + 1) fitted. */
      readonly spareParity: boolean;
    }
  | { readonly feasible: false; readonly reason: string };

/**
 * The code `(k, m)` for a stripe written now by an owner with `otherMembers` other members
 * (docs/design.md §3): m = f + 1 where it fits, else f; k the largest <= kMax with
 * k + m <= others - 1 and (k + m) / k <= ratio; without a free member only if nothing else fits.
 */
export function chooseCode(
  agreement: Agreement,
  otherMembers: number,
  kMax: number = DEFAULT_K_MAX,
): CodeChoice {
  validateAgreement(agreement);
  if (!Number.isInteger(otherMembers) || otherMembers < 0) {
    throw new EngineError(
      'invalid-argument',
      `otherMembers must be a whole number >= 0, got ${otherMembers}`,
    );
  }
  if (!Number.isInteger(kMax) || kMax < 1 || kMax > MAX_DATA_SHARDS) {
    throw new EngineError(
      'invalid-argument',
      `kMax must be a whole number from 1 to ${MAX_DATA_SHARDS}, got ${kMax}`,
    );
  }
  const f = agreement.tolerance;
  const parityOptions = f + 1 <= MAX_PARITY_SHARDS ? [f + 1, f] : [f];
  for (const slack of [1, 0]) {
    for (const m of parityOptions) {
      for (let k = Math.min(kMax, otherMembers - slack - m); k >= 1; k--) {
        // (k + m) / k <= ratio, compared without division rounding.
        if (k + m <= agreement.ratio * k + 1e-12) {
          return {
            feasible: true,
            dataShards: k,
            parityShards: m,
            repairSlack: slack === 1,
            spareParity: m > f,
          };
        }
      }
    }
  }
  const needed = f + 1;
  if (otherMembers < needed) {
    return {
      feasible: false,
      reason: `tolerating ${f} lost member(s) needs at least ${needed} other members to hold shards; there are ${otherMembers}`,
    };
  }
  const kNeeded = Math.ceil(f / (agreement.ratio - 1 || Number.MIN_VALUE));
  return {
    feasible: false,
    reason:
      `ratio ${agreement.ratio} is too small for tolerance ${f} with ${otherMembers} other members: ` +
      `it needs at least ${Number.isFinite(kNeeded) ? kNeeded + f : 'infinitely many'} other members ` +
      `(or a larger ratio, or a smaller tolerance)`,
  };
}

/**
 * The largest level L (whole bytes) such that every owner o can back up min(demand_o, L) bytes of
 * data at once on the members other than itself (pledges as capacities, one shard of a stripe per
 * member). Infinity when every demand fits. Exact: bisection over whole bytes on a closed-form
 * max-flow feasibility check (`equalShareFeasible`).
 */
export function equalShareLevel(
  pledgeBytes: readonly number[],
  demandBytes: readonly number[],
  dataShards: number,
  shardsPerStripe: number,
): number {
  validateLevelInputs(pledgeBytes, demandBytes, dataShards, shardsPerStripe);
  const scratch = new Float64Array(pledgeBytes.length);
  return largestFittingLevel(demandBytes, (level) =>
    equalShareFeasible(pledgeBytes, demandBytes, level, dataShards, shardsPerStripe, scratch),
  );
}

/** The inputs of a level search: pledges and demands as byte counts, one each, and the stripe shape. */
export function validateLevelInputs(
  pledgeBytes: readonly number[],
  demandBytes: readonly number[],
  dataShards: number,
  shardsPerStripe: number,
): void {
  validateCapacities(pledgeBytes, 'pledge');
  validateCapacities(demandBytes, 'demand');
  invariant(pledgeBytes.length === demandBytes.length, 'one demand per pledge');
  requireShardsPerStripe(shardsPerStripe);
  invariant(dataShards >= 1 && dataShards < shardsPerStripe + 1, 'dataShards within the stripe');
}

/**
 * The largest whole-byte level at which `fits` holds, `fits` being monotone (true up to some
 * level); Infinity when it holds at the largest demand. Bisection: at most 54 rounds for 2^53.
 */
export function largestFittingLevel(
  demandBytes: readonly number[],
  fits: (levelBytes: number) => boolean,
): number {
  const maxDemand = Math.max(0, ...demandBytes);
  if (fits(maxDemand)) return Number.POSITIVE_INFINITY;
  let lo = 0;
  let hi = maxDemand;
  for (let round = 0; round < 64 && hi - lo > 1; round++) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Can every owner o store min(demand_o, level) bytes of data at once? The flow network: source ->
 * owner o (capacity s * x_o, with x_o = min(demand_o, level) / k bytes per member), owner o ->
 * every member j != o (x_o: one shard per member), member j -> sink (pledge c_j). Feasible iff the
 * max flow reaches s * X, X = sum x_o. By max-flow = min-cut, and because every owner reaches
 * every other member alike, the minimum cut has a closed form: with T the members cut off from
 * the source side (|T| = t), owner o pays min(s, t - [o in T]) * x_o, so for t <= s
 *   cut(T) = sum c - sum_{j in T} (c_j + x_j) + t * X,
 * smallest for T = the t largest c_j + x_j; cuts with t > s are >= s * X. Hence feasible iff for
 * every t = 0..min(s, n): sum c - top_t(c + x) + t * X >= s * X. O(n log n) instead of a max-flow
 * on n^2 edges (test/engine checks it against a Dinic max-flow). Same relative tolerance (1e-9)
 * as the max-flow check it replaces.
 */
function equalShareFeasible(
  pledgeBytes: readonly number[],
  demandBytes: readonly number[],
  levelBytes: number,
  dataShards: number,
  shardsPerStripe: number,
  scratch: Float64Array,
): boolean {
  const n = pledgeBytes.length;
  let totalShare = 0;
  let totalPledge = 0;
  for (let o = 0; o < n; o++) {
    const perMember = Math.min(demandBytes[o]!, levelBytes) / dataShards;
    const x = Math.max(perMember, 0);
    totalShare += x;
    totalPledge += pledgeBytes[o]!;
    scratch[o] = pledgeBytes[o]! + x;
  }
  const need = totalShare * shardsPerStripe;
  if (need === 0) return true;
  const slack = need * 1e-9;
  // Descending: the t largest c_j + x_j first.
  const sorted = scratch.subarray(0, n).sort().reverse();
  let top = 0;
  const tMax = Math.min(shardsPerStripe, n);
  for (let t = 0; t <= tMax; t++) {
    if (t > 0) top += sorted[t - 1]!;
    const cut = totalPledge - top + t * totalShare;
    if (cut < need - slack) return false;
  }
  return true;
}
