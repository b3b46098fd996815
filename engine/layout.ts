/**
 * An owner's layout, decided once for every caller (the writer, repair, status, capacity,
 * delete checks, the simulator): its holders are the other members that pledged disk, sorted
 * by id; its code is `chooseCode(agreement, holders)`; its placement plan spreads `k + m`
 * shards per stripe over the holders by pledge (docs/placement.md).
 */
import { type Agreement, chooseCode, DEFAULT_K_MAX } from './capacity.ts';
import { EngineError } from './errors.ts';
import type { OwnerPlacement } from './group/state.ts';
import { placementPlan } from './placement.ts';

export interface LayoutMember {
  readonly id: string;
  readonly pledgeBytes: number;
}

/** The members that may hold `owner`'s shards: every other member with a pledge, by id. */
export function layoutHolders<M extends LayoutMember>(members: readonly M[], owner: string): M[] {
  const holders = members.filter((m) => m.id !== owner && m.pledgeBytes > 0);
  holders.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return holders;
}

/** The layout over a given holder list (already `layoutHolders`): code and plan, or why not. */
export function holderLayout(
  owner: string,
  holders: readonly LayoutMember[],
  agreement: Agreement,
  kMax: number = DEFAULT_K_MAX,
): OwnerPlacement {
  for (let i = 1; i < holders.length; i++) {
    if (!(holders[i - 1]!.id < holders[i]!.id))
      throw new EngineError('invalid-argument', 'holders must be sorted by id and distinct');
  }
  if (holders.some((h) => h.id === owner || !(h.pledgeBytes > 0)))
    throw new EngineError('invalid-argument', 'holders are other members with a pledge');
  const code = chooseCode(agreement, holders.length, kMax);
  if (!code.feasible) return { owner, feasible: false, reason: code.reason };
  try {
    const plan = placementPlan(
      holders.map((m) => ({ id: m.id, capacityBytes: m.pledgeBytes })),
      code.dataShards + code.parityShards,
    );
    return {
      owner,
      feasible: true,
      dataShards: code.dataShards,
      parityShards: code.parityShards,
      repairSlack: code.repairSlack,
      plan,
    };
  } catch (e) {
    if (!(e instanceof EngineError)) throw e;
    return { owner, feasible: false, reason: `${code.dataShards}+${code.parityShards}: ${e.message}` };
  }
}

/** `owner`'s layout under the group's members and agreement. */
export function ownerLayout(
  members: readonly LayoutMember[],
  agreement: Agreement,
  owner: string,
  kMax: number = DEFAULT_K_MAX,
): OwnerPlacement {
  return holderLayout(owner, layoutHolders(members, owner), agreement, kMax);
}
