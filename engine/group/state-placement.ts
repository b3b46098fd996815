/**
 * The placement a folded state implies (docs/group-log.md section 4): for each member as owner,
 * its layout (layout.ts: code and plan over the other members that pledged). Derived lazily from
 * what `foldGroup` remembers of each state.
 */
import type { Agreement } from '../capacity.ts';
import { ownerLayout } from '../layout.ts';
import { GroupError } from './errors.ts';
import type { GroupMember, GroupState, OwnerPlacement } from './state.ts';

/** What each state's lazy placement is computed from, and the owners computed so far. */
const placementInputs = new WeakMap<
  object,
  { members: readonly GroupMember[]; agreement: Agreement | null; cache: Map<string, OwnerPlacement> }
>();

/** Called by the fold for each state it returns. */
export function rememberPlacementInputs(
  state: object,
  members: readonly GroupMember[],
  agreement: Agreement | null,
): void {
  placementInputs.set(state, { members, agreement, cache: new Map() });
}

/** One owner's placement under `state` (computed once per state and owner). */
export function ownerPlacement(state: GroupState, owner: string): OwnerPlacement {
  const inputs = placementInputs.get(state);
  if (inputs === undefined)
    throw new GroupError('invalid-argument', 'ownerPlacement takes a state returned by foldGroup');
  let p = inputs.cache.get(owner);
  if (p === undefined) {
    if (!inputs.members.some((m) => m.id === owner)) {
      throw new GroupError('invalid-argument', `${owner} is not a member of this state`);
    }
    p =
      inputs.agreement === null
        ? { owner, feasible: false, reason: 'the group has no agreement' }
        : ownerLayout(inputs.members, inputs.agreement, owner);
    inputs.cache.set(owner, p);
  }
  return p;
}

export function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * For each member as owner, its layout (layout.ts); infeasible owners say why.
 */
export function ownerPlacements(
  members: readonly { id: string; pledgeBytes: number }[],
  agreement: Agreement,
): OwnerPlacement[] {
  return [...members].sort(byId).map((m) => ownerLayout(members, agreement, m.id));
}
