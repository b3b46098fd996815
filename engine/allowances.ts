/**
 * What each member may back up (docs/design.md §3): its allowance under the agreement.
 *
 * Two levels bound it. The equal-share optimum (`equalShareLevel`, capacity.ts) is what the
 * pledges could hold under the best joint placement. But every owner places its stripes by its
 * own plan (layout.ts, placement.ts): a member j is in a stripe of owner o with the chance
 * `pi_oj`, about `min(c_j, x*_o) / x*_o`, that o's plan targets over the other members
 * (`inclusionChances`), whatever the other owners place. Where pledges are uneven, the plans of
 * several owners can lean on the same small pledge, which then fills before the optimum is
 * reached, and the owners leaning on it could not store their last stripes. `planShareLevel` is the level those plans hold together; the
 * allowance is the smaller of the two, so status never promises room the writer cannot use.
 */
import {
  type Agreement,
  type CodeChoice,
  chooseCode,
  DEFAULT_K_MAX,
  equalShareLevel,
  largestFittingLevel,
  validateAgreement,
  validateLevelInputs,
  validateMembers,
} from './capacity.ts';
import { invariant } from './errors.ts';
import { inclusionChances } from './placement.ts';

export interface MemberPledge {
  readonly id: string;
  readonly pledgeBytes: number;
}

export interface Allowance {
  readonly id: string;
  readonly pledgeBytes: number;
  /** floor(pledge / ratio): what the agreement entitles this member to. */
  readonly agreementBytes: number;
  /**
   * What today's members can hold for this member when every owner gets the same share and
   * places by its own plan (the smaller of the equal-share optimum and the plans' level).
   */
  readonly feasibleBytes: number;
  /** min(agreementBytes, feasibleBytes). */
  readonly allowanceBytes: number;
  /** Which limit binds: the member's own pledge, or the other members' capacity. */
  readonly limitedBy: 'pledge' | 'group';
  readonly reason: string;
}

export interface AllowanceReport {
  readonly code: CodeChoice;
  /** Equal-share level: every owner may back up min(agreementBytes, levelBytes). */
  readonly levelBytes: number;
  readonly members: readonly Allowance[];
}

/**
 * Each member's allowance = min(pledge / ratio, feasible share), where the feasible share is the
 * largest level L such that every owner o can back up min(pledge_o / ratio, L) bytes at once, on
 * the members other than itself with at most one shard per stripe per member (the equal-share
 * optimum, exact by max-flow) and where each owner's plan puts them (`planShareLevel`).
 */
export function allowances(
  members: readonly MemberPledge[],
  agreement: Agreement,
  kMax: number = DEFAULT_K_MAX,
): AllowanceReport {
  validateMembers(members.map((m) => ({ id: m.id, capacityBytes: m.pledgeBytes })));
  validateAgreement(agreement);
  // Every pledging owner's holders are the other pledging members (layout.ts); an owner
  // without a pledge has no allowance, so this one code is every owner's that matters.
  const pledging = members.reduce((n, m) => n + (m.pledgeBytes > 0 ? 1 : 0), 0);
  const code = chooseCode(agreement, Math.max(0, pledging - 1), kMax);
  const agreementBytes = members.map((m) => Math.floor(m.pledgeBytes / agreement.ratio));
  if (!code.feasible) {
    return {
      code,
      levelBytes: 0,
      members: members.map((m, i) => ({
        id: m.id,
        pledgeBytes: m.pledgeBytes,
        agreementBytes: agreementBytes[i]!,
        feasibleBytes: 0,
        allowanceBytes: 0,
        limitedBy: 'group',
        reason: code.reason,
      })),
    };
  }
  const k = code.dataShards;
  const s = code.dataShards + code.parityShards;
  const pledges = members.map((m) => m.pledgeBytes);
  const optimum = equalShareLevel(pledges, agreementBytes, k, s);
  const byPlans = planShareLevel(pledges, agreementBytes, k, s);
  // The plans bind only where they hold less than the optimum beyond rounding: where they hold it
  // all (even pledges, or a plan that matches the optimal flow) the optimum stands as computed.
  const plansBind = byPlans < optimum * (1 - 1e-6);
  const level = plansBind ? byPlans : optimum;
  const shape = `${k}+${s - k} stripes, one shard per member`;
  return {
    code,
    levelBytes: Number.isFinite(level) ? level : Math.max(0, ...agreementBytes),
    members: members.map((m, i) => {
      const own = agreementBytes[i]!;
      const feasibleBytes = Number.isFinite(level) ? level : own;
      const limitedBy = own <= feasibleBytes ? 'pledge' : 'group';
      return {
        id: m.id,
        pledgeBytes: m.pledgeBytes,
        agreementBytes: own,
        feasibleBytes,
        allowanceBytes: Math.min(own, feasibleBytes),
        limitedBy,
        reason:
          limitedBy === 'pledge'
            ? `your pledge allows ${own} bytes at ratio ${agreement.ratio}`
            : plansBind
              ? `the smaller pledges fill first: where each owner's stripes are placed, every member can back up at most ${feasibleBytes} bytes with today's pledges (${shape})`
              : `the other members are too small: with today's pledges every member can back up at most ${feasibleBytes} bytes (${shape})`,
      };
    }),
  };
}

/** Relative slack of the load check, as in the equal-share check. */
const LOAD_SLACK = 1e-9;

/**
 * The largest level L (whole bytes) such that every owner o can back up min(demand_o, L) bytes of
 * data at once where its own plan puts them: member j receives `pi_oj * min(demand_o, L) / k` of
 * owner o's data, with `pi_oj` the inclusion chance of o's water-filling over the other members
 * with a pledge (placement.ts), and must not receive more than its pledge. Infinity when every
 * demand fits. The loads grow with L, so the level is found by bisection (`largestFittingLevel`).
 */
export function planShareLevel(
  pledgeBytes: readonly number[],
  demandBytes: readonly number[],
  dataShards: number,
  shardsPerStripe: number,
): number {
  validateLevelInputs(pledgeBytes, demandBytes, dataShards, shardsPerStripe);
  const chance = planChances(pledgeBytes, demandBytes, shardsPerStripe);
  const n = pledgeBytes.length;
  const fits = (level: number): boolean => {
    for (let j = 0; j < n; j++) {
      let load = 0;
      for (let o = 0; o < n; o++) load += chance[o * n + j]! * Math.min(demandBytes[o]!, level);
      load /= dataShards;
      if (load > pledgeBytes[j]! * (1 + LOAD_SLACK) + 1) return false;
    }
    return true;
  };
  return largestFittingLevel(demandBytes, fits);
}

/**
 * `chance[o * n + j]`: the chance that owner o's plan puts a shard of a stripe on member j (0 for
 * j = o, for members without a pledge, and for owners that back up nothing or have too few
 * others to place on). Each owner's chances sum to s.
 */
function planChances(
  pledgeBytes: readonly number[],
  demandBytes: readonly number[],
  s: number,
): Float64Array {
  const n = pledgeBytes.length;
  const chance = new Float64Array(n * n);
  for (let o = 0; o < n; o++) {
    if (!(demandBytes[o]! > 0)) continue;
    const others: number[] = [];
    for (let j = 0; j < n; j++) if (j !== o && pledgeBytes[j]! > 0) others.push(j);
    if (others.length < s) continue;
    const pis = inclusionChances(
      others.map((j) => pledgeBytes[j]!),
      s,
    );
    let sum = 0;
    others.forEach((j, i) => {
      chance[o * n + j] = pis[i]!;
      sum += pis[i]!;
    });
    invariant(Math.abs(sum - s) <= 1e-6 * s, 'an owner plan places s shards per stripe');
  }
  return chance;
}
