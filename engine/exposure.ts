/**
 * Exposure (docs/design.md §9): per owner, bytes whose stripes cannot survive `f` more losses now
 * (fewer than k + f held shards: exposed), bytes that cannot be read now (fewer than k shards on
 * online members: unreadable now), bytes that cannot be rebuilt (fewer than k held: unrecoverable),
 * and an estimate of when full protection returns, given the repair queue and bandwidth.
 * Also the closed-form durability estimate that the simulator checks itself against.
 */
import {
  type Availability,
  availabilityMap,
  holds,
  type MemberSighting,
  resolveTimes,
} from './availability.ts';
import { EngineError, invariant } from './errors.ts';
import { type StripeHolding, stripeCount, validateStripe, validateStripeList } from './stripes.ts';

/** A stripe, or `count` stripes with identical shape and holders (callers may aggregate). */
export interface CountedStripe extends StripeHolding {
  readonly count?: number | undefined;
}

export interface ExposureInput {
  readonly members: readonly MemberSighting[];
  readonly stripes: readonly CountedStripe[];
  /** f: members lost at once that every stripe must survive. */
  readonly tolerance: number;
  readonly nowMs: number;
  readonly graceMs?: number | undefined;
  readonly onlineWindowMs?: number | undefined;
  /** Group bandwidth available to repair (bytes/s); without it no estimate is given. */
  readonly repairBytesPerSecond?: number | undefined;
}

export interface OwnerExposure {
  readonly owner: string;
  /** User data bytes in the owner's stripes (k shards each). */
  readonly storedBytes: number;
  readonly exposedBytes: number;
  readonly unreadableNowBytes: number;
  readonly unrecoverableBytes: number;
  /** Repair traffic (bytes) queued up to and including this owner's last exposed stripe. */
  readonly repairQueueBytes: number;
  /**
   * When every exposed stripe of this owner is expected to be protected again: `nowMs` when none
   * is exposed; null when some are unrecoverable or no bandwidth was given.
   */
  readonly protectedByMs: number | null;
}

export interface ExposureReport {
  readonly owners: readonly OwnerExposure[];
  readonly totals: {
    readonly storedBytes: number;
    readonly exposedBytes: number;
    readonly unreadableNowBytes: number;
    readonly unrecoverableBytes: number;
    readonly repairQueueBytes: number;
  };
}

interface Acc {
  storedBytes: number;
  exposedBytes: number;
  unreadableNowBytes: number;
  unrecoverableBytes: number;
  lastQueuePos: number;
}

export function exposure(input: ExposureInput): ExposureReport {
  if (input === null || typeof input !== 'object')
    throw new EngineError('invalid-argument', 'input must be an object');
  const times = resolveTimes(input);
  const f = input.tolerance;
  if (!Number.isInteger(f) || f < 0) {
    throw new EngineError('invalid-agreement', `tolerance must be a whole number >= 0, got ${String(f)}`);
  }
  const bandwidth = input.repairBytesPerSecond;
  if (bandwidth !== undefined && (!Number.isFinite(bandwidth) || bandwidth <= 0)) {
    throw new EngineError(
      'invalid-argument',
      `repairBytesPerSecond must be a finite number > 0, got ${bandwidth}`,
    );
  }
  const avail = availabilityMap(input.members, times);
  validateStripeList(input.stripes);
  const acc = new Map<string, Acc>();
  // The repair queue in the planner's order: fewest held shards first.
  const queue: { held: number; order: number; owner: string; bytes: number; exposed: boolean }[] = [];
  for (const [i, st] of input.stripes.entries()) {
    const s = validateStripe(st, i);
    const count = stripeCount(st);
    const { held, exposed, unreadableNow, unrecoverable } = stripeProtection(st, avail, f);
    const k = st.dataShards;
    const bytes = k * st.shardBytes * count;
    let a = acc.get(st.owner);
    if (a === undefined) {
      a = { storedBytes: 0, exposedBytes: 0, unreadableNowBytes: 0, unrecoverableBytes: 0, lastQueuePos: -1 };
      acc.set(st.owner, a);
    }
    a.storedBytes += bytes;
    if (exposed) a.exposedBytes += bytes;
    if (unreadableNow) a.unreadableNowBytes += bytes;
    if (unrecoverable) a.unrecoverableBytes += bytes;
    else if (held < s) {
      queue.push({
        held,
        order: i,
        owner: st.owner,
        bytes: (k - 1 + s - held) * st.shardBytes * count,
        exposed,
      });
    }
  }
  queue.sort((x, y) => x.held - y.held || x.order - y.order);
  const cumulative: number[] = [];
  let total = 0;
  for (const [pos, q] of queue.entries()) {
    total += q.bytes;
    cumulative.push(total);
    if (q.exposed) acc.get(q.owner)!.lastQueuePos = pos;
  }
  const owners: OwnerExposure[] = [...acc.entries()]
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([owner, a]) => {
      const repairQueueBytes = a.lastQueuePos < 0 ? 0 : cumulative[a.lastQueuePos]!;
      let protectedByMs: number | null;
      if (a.unrecoverableBytes > 0) protectedByMs = null;
      else if (a.exposedBytes === 0) protectedByMs = times.nowMs;
      else if (bandwidth === undefined) protectedByMs = null;
      else protectedByMs = times.nowMs + Math.ceil((repairQueueBytes / bandwidth) * 1000);
      return {
        owner,
        storedBytes: a.storedBytes,
        exposedBytes: a.exposedBytes,
        unreadableNowBytes: a.unreadableNowBytes,
        unrecoverableBytes: a.unrecoverableBytes,
        repairQueueBytes,
        protectedByMs,
      };
    });
  const sum = (key: 'storedBytes' | 'exposedBytes' | 'unreadableNowBytes' | 'unrecoverableBytes') =>
    owners.reduce((x, o) => x + o[key], 0);
  return {
    owners,
    totals: {
      storedBytes: sum('storedBytes'),
      exposedBytes: sum('exposedBytes'),
      unreadableNowBytes: sum('unreadableNowBytes'),
      unrecoverableBytes: sum('unrecoverableBytes'),
      repairQueueBytes: total,
    },
  };
}

export interface StripeProtection {
  /** Shards on members that are online or away within the grace period. */
  readonly held: number;
  readonly online: number;
  /** held < k + f: cannot survive f more losses. */
  readonly exposed: boolean;
  /** online < k: cannot be read right now. */
  readonly unreadableNow: boolean;
  /** held < k: cannot be rebuilt from what the group holds. */
  readonly unrecoverable: boolean;
}

/**
 * One stripe's protection, given each member's availability (from `availabilityOf`). The rule
 * `exposure` sums; exported so that a caller keeping running totals applies the same rule.
 */
export function stripeProtection(
  st: StripeHolding,
  availability: ReadonlyMap<string, Availability>,
  tolerance: number,
): StripeProtection {
  let held = 0;
  let online = 0;
  for (const h of st.holders) {
    if (h === null) continue;
    const a = availability.get(h);
    if (holds(a)) held++;
    if (a === 'online') online++;
  }
  const k = st.dataShards;
  return {
    held,
    online,
    exposed: held < k + tolerance,
    unreadableNow: online < k,
    unrecoverable: held < k,
  };
}

export interface ClosedFormInput {
  readonly dataShards: number;
  readonly parityShards: number;
  /** Disk failures per member-year (a rate; 0.05 = 5 % a year). */
  readonly afr: number;
  /** From a holder's failure until its shards are rebuilt elsewhere: grace (or replacement) + repair time. */
  readonly repairWindowDays: number;
}

export interface ClosedFormLoss {
  /** Expected stripe losses per stripe-year. */
  readonly annualLossRate: number;
  /** Probability that a given stripe is lost within a year: 1 - exp(-rate). */
  readonly annualLoss: number;
  readonly formula: string;
}

export const CLOSED_FORM_FORMULA =
  'rate = s*afr * P[Binomial(s-1, p) >= m], p = 1 - exp(-afr*W/365), s = k+m, W = repair window in days; ' +
  'annualLoss = 1 - exp(-rate)';

/**
 * A stripe of s = k + m shards is lost when more than m of its holders fail within one repair
 * window. Failures arrive at rate s*afr; after one, the stripe is lost if m of the other s-1
 * holders fail before the window W closes (each with probability p = 1 - e^(-afr W)).
 */
export function closedFormLoss(input: ClosedFormInput): ClosedFormLoss {
  const { dataShards: k, parityShards: m, afr } = input;
  const w = input.repairWindowDays;
  if (!Number.isInteger(k) || k < 1)
    throw new EngineError('invalid-shape', `dataShards must be >= 1, got ${k}`);
  if (!Number.isInteger(m) || m < 0)
    throw new EngineError('invalid-shape', `parityShards must be >= 0, got ${m}`);
  if (!Number.isFinite(afr) || afr < 0)
    throw new EngineError('invalid-argument', `afr must be a rate >= 0, got ${afr}`);
  if (!Number.isFinite(w) || w < 0) {
    throw new EngineError('invalid-argument', `repairWindowDays must be >= 0, got ${w}`);
  }
  const s = k + m;
  const p = -Math.expm1((-afr * w) / 365);
  // P[Binomial(s-1, p) >= m]
  let tail = 0;
  for (let j = m; j <= s - 1; j++) tail += binomial(s - 1, j) * p ** j * (1 - p) ** (s - 1 - j);
  if (m === 0) tail = 1;
  const rate = s * afr * Math.min(1, tail);
  invariant(Number.isFinite(rate) && rate >= 0, 'closed-form rate is finite');
  return { annualLossRate: rate, annualLoss: -Math.expm1(-rate), formula: CLOSED_FORM_FORMULA };
}

function binomial(n: number, j: number): number {
  let r = 1;
  for (let i = 1; i <= j; i++) r = (r * (n - j + i)) / i;
  return r;
}
