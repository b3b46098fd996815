/**
 * When the other members' capacity limits what a member may back up (docs/design.md §3: a large
 * pledge buys little until the others pledge more), by how much would a larger pledge on one other
 * member help?
 *
 * The answer is the engine's own `allowances` on a hypothetical group in which one other member
 * (the one with the smallest pledge: the one the water-filling bound binds on first) pledges
 * `extra` bytes more. A member holds at most one shard of a stripe, so the gain from raising one
 * member saturates, and past a point the raised member's own share competes for the same
 * members: the allowance is not monotonic in the extra pledge. We report the best allowance over
 * a grid of extra pledges and the smallest extra pledge that reaches it (to one part in 10^6),
 * refined by bisection to one part in 10^6.
 */
import { allowances, type MemberPledge } from './allowances.ts';
import { type Agreement, DEFAULT_K_MAX } from './capacity.ts';
import { EngineError, invariant } from './errors.ts';

export interface PledgeHelp {
  /** The other member whose larger pledge is considered (the smallest pledge; ties by id). */
  readonly memberId: string;
  readonly memberPledgeBytes: number;
  /** The smallest extra pledge on that member that reaches `allowanceBytes`. */
  readonly extraPledgeBytes: number;
  /** This member's allowance if that member pledged `extraPledgeBytes` more. */
  readonly allowanceBytes: number;
  /** This member's allowance today. */
  readonly currentAllowanceBytes: number;
}

/** Bisection rounds over the extra pledge (2^60 > any byte count the engine accepts). */
const MAX_ROUNDS = 60;
const SATURATION = 1e-6;
/** Grid from 1/16 to 1024 times the raised pledge: at most 4 points an octave, 14 octaves. */
const GRID_POINTS = 58;
const SMALL_GROUP = 20;

/**
 * How much a larger pledge on one other member would raise `self`'s allowance. Null when `self`
 * is limited by its own pledge, when it has no other member, or when no larger pledge on one
 * member raises its allowance at all (then more members are needed).
 */
export function pledgeHelp(
  members: readonly MemberPledge[],
  agreement: Agreement,
  self: string,
  kMax: number = DEFAULT_K_MAX,
): PledgeHelp | null {
  if (!Array.isArray(members)) throw new EngineError('invalid-argument', 'members must be an array');
  const today = allowances(members, agreement, kMax);
  const mine = today.members.find((m) => m.id === self);
  if (mine === undefined)
    throw new EngineError('invalid-argument', `member ${JSON.stringify(self)} is not in the group`);
  if (mine.limitedBy === 'pledge' || mine.allowanceBytes >= mine.agreementBytes) return null;
  const others = members
    .filter((m) => m.id !== self)
    .sort((a, b) => a.pledgeBytes - b.pledgeBytes || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const target = others[0];
  if (target === undefined) return null;
  const allowanceWith = (extra: number): number => {
    const hypothetical = members.map((m) =>
      m.id === target.id ? { id: m.id, pledgeBytes: m.pledgeBytes + extra } : m,
    );
    const a = allowances(hypothetical, agreement, kMax).members.find((m) => m.id === self);
    invariant(a !== undefined, 'the hypothetical group keeps every member');
    return a.allowanceBytes;
  };
  // The allowance is not monotonic in the extra pledge (the raised member's own share grows
  // with its pledge and competes for the same members), so look over a grid of extra pledges
  // from 1/16 to 1024 times the raised member's pledge (or the largest pledge when it is 0),
  // take the best, then the smallest extra pledge that reaches it on the rising side.
  const unit =
    target.pledgeBytes > 0 ? target.pledgeBytes : Math.max(1, ...members.map((m) => m.pledgeBytes));
  const total = members.reduce((s, m) => s + m.pledgeBytes, 0);
  const limit = Number.MAX_SAFE_INTEGER - total;
  const grid: number[] = [0];
  // Quarter-octave steps for a small group, half-octave for a larger one (each point costs one
  // `allowances`, which grows with the group).
  const perOctave = members.length <= SMALL_GROUP ? 4 : 2;
  for (let j = -4 * perOctave; j <= 10 * perOctave; j++) {
    const d = Math.round(unit * 2 ** (j / perOctave));
    if (d > grid.at(-1)! && d <= limit) grid.push(d);
  }
  invariant(grid.length <= GRID_POINTS, 'the grid is bounded');
  const values = grid.map(allowanceWith);
  const best = Math.max(...values);
  if (best <= mine.allowanceBytes) return null;
  const goal = best - Math.floor(best * SATURATION);
  const at = values.findIndex((v) => v >= goal);
  // A gain within one part in 10^6 of today's allowance (grid point 0) is no help worth naming.
  if (at <= 0) return null;
  let lo = grid[at - 1]!;
  let hi = grid[at]!;
  // To one part in 10^6 of the extra pledge: whole bytes would cost 30 more allowance rounds.
  for (let round = 0; round < MAX_ROUNDS && hi - lo > Math.max(1, Math.floor(hi * SATURATION)); round++) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (allowanceWith(mid) >= goal) hi = mid;
    else lo = mid;
  }
  return {
    memberId: target.id,
    memberPledgeBytes: target.pledgeBytes,
    extraPledgeBytes: hi,
    allowanceBytes: allowanceWith(hi),
    currentAllowanceBytes: mine.allowanceBytes,
  };
}
