/**
 * Who may delete a shard from its holder (docs/design.md §9). The holder asks this before it
 * deletes anything another member asked it to delete. Pure: the caller supplies the group's
 * current members and the shard's stripe (from the shard's own trailer, read on the holder).
 *
 * Rules, in one place:
 * - The shard's owner may delete it (retention, garbage collection).
 * - Any other current member may delete it only as the last step of a planned migration: the
 *   request names the new holder, the holder itself is no longer in the stripe's placement set
 *   under the current group state (so the planner moves its shard away), the new holder is a
 *   current member in that placement set, and (checked by the caller, over the network, after
 *   this answer) the new holder really holds this very shard. Until then both copies count.
 * - Everything else is refused, with the reason.
 */
import { EngineError } from './errors.ts';
import { layoutHolders } from './layout.ts';
import { type PlacementPlan, placementPlan, placeStripe } from './placement.ts';

export interface DeleteRequest {
  /** Who asks (a member id). */
  readonly requester: string;
  /** Who holds the shard and decides (a member id). */
  readonly holder: string;
  /** The shard's owner (a member id), from the shard's trailer. */
  readonly owner: string;
  readonly stripeId: string;
  /** k + m of the stripe, from the shard's trailer. */
  readonly shardsPerStripe: number;
  /** The group's current members with their pledges (the placement's input). */
  readonly members: readonly { readonly id: string; readonly pledgeBytes: number }[];
  /** The member the shard moved to (a migration), or null. */
  readonly newHolder: string | null;
}

export type DeleteVerdict =
  | { readonly allowed: true; readonly as: 'owner' }
  /** Allowed once `confirmWith` acknowledges that it holds the same shard id. */
  | { readonly allowed: true; readonly as: 'migration'; readonly confirmWith: string }
  | { readonly allowed: false; readonly reason: string };

/**
 * The placement plan of `owner`'s stripes of `shardsPerStripe` shards over the current members:
 * every member but the owner that pledged disk, with its pledge as capacity (the writer's plan).
 */
export function ownerStripePlan(
  members: readonly { readonly id: string; readonly pledgeBytes: number }[],
  owner: string,
  shardsPerStripe: number,
): PlacementPlan {
  return placementPlan(
    layoutHolders(members, owner).map((m) => ({ id: m.id, capacityBytes: m.pledgeBytes })),
    shardsPerStripe,
  );
}

export function authorizeShardDelete(req: DeleteRequest): DeleteVerdict {
  if (req === null || typeof req !== 'object')
    throw new EngineError('invalid-argument', 'request must be an object');
  for (const key of ['requester', 'holder', 'owner', 'stripeId'] as const) {
    if (typeof req[key] !== 'string' || req[key].length === 0)
      throw new EngineError('invalid-argument', `${key} must be a non-empty string`);
  }
  if (!Array.isArray(req.members)) throw new EngineError('invalid-argument', 'members must be an array');
  if (req.requester === req.owner) return { allowed: true, as: 'owner' };
  const isMember = (id: string): boolean => req.members.some((m) => m.id === id);
  if (!isMember(req.requester)) return { allowed: false, reason: `${req.requester} is not a current member` };
  if (req.newHolder === null)
    return {
      allowed: false,
      reason: 'only the shard’s owner may delete it, or a planned migration naming the new holder',
    };
  if (req.newHolder === req.holder)
    return { allowed: false, reason: 'the named new holder is this holder itself' };
  if (!isMember(req.newHolder))
    return { allowed: false, reason: `the new holder ${req.newHolder} is not a current member` };
  let placement: string[];
  try {
    placement = placeStripe(ownerStripePlan(req.members, req.owner, req.shardsPerStripe), req.stripeId);
  } catch (error) {
    if (!(error instanceof EngineError)) throw error;
    return { allowed: false, reason: `no placement for stripe ${req.stripeId}: ${error.message}` };
  }
  if (isMember(req.holder) && placement.includes(req.holder))
    return {
      allowed: false,
      reason: `this holder is in the placement of stripe ${req.stripeId}: its copy stays`,
    };
  if (!placement.includes(req.newHolder))
    return {
      allowed: false,
      reason: `the new holder ${req.newHolder} is not in the placement of stripe ${req.stripeId}`,
    };
  return { allowed: true, as: 'migration', confirmWith: req.newHolder };
}
