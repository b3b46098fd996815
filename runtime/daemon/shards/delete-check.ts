/**
 * The holder's side of a delete asked by another member: the engine's `authorizeShardDelete`
 * over the current group state and the shard's own trailer, then, for a migration, one `has`
 * to the named new holder (it must hold this very shard id). Refusals carry the reason.
 */
import { authorizeShardDelete, type GroupState, ownerMemberId } from '../../../engine/index.ts';
import type { CatalogEntry, DeleteCheck } from './shard-catalog.ts';
import { refuseDelete } from './shard-catalog.ts';

export interface DeleteCheckDeps {
  self: string;
  group: () => GroupState | null;
  /** Whether `member` holds shard `id` now (a `has` over /pb/shard/1, bounded in time). */
  memberHas: (member: string, id: string) => Promise<boolean>;
}

export function deleteCheck(deps: DeleteCheckDeps): DeleteCheck {
  return async (from: string, id: string, entry: CatalogEntry, newHolder: string | null) => {
    const state = deps.group();
    if (state === null) throw refuseDelete(id, 'this member has no group');
    const owner = ownerMemberId(entry.owner);
    const verdict = authorizeShardDelete({
      requester: from,
      holder: deps.self,
      // A trailer whose owner is no member id: nobody is its owner, only a migration may move it.
      owner: owner ?? `(not a member id) ${entry.owner}`,
      stripeId: entry.stripeId,
      shardsPerStripe: entry.k + entry.m,
      members: state.members.map((m) => ({ id: m.id, pledgeBytes: m.pledgeBytes })),
      newHolder,
    });
    if (!verdict.allowed) throw refuseDelete(id, verdict.reason);
    if (verdict.as === 'migration') {
      let has = false;
      try {
        has = await deps.memberHas(verdict.confirmWith, id);
      } catch (error) {
        throw refuseDelete(id, `cannot confirm with ${verdict.confirmWith}: ${(error as Error).message}`);
      }
      if (!has) throw refuseDelete(id, `the new holder ${verdict.confirmWith} does not hold it`);
    }
  };
}
