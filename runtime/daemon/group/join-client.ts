/**
 * The joiner's side of `/pb/join/1` (docs/protocols.md): decode the invite code, reach the
 * inviter (a bounded number of attempts within the caller's wait), send this node's signed
 * request, adopt the group log on approval and tell the others. The inviter's side is
 * join-desk.ts.
 */
import { multiaddr } from '@multiformats/multiaddr';
import type { deriveMemberKeys } from '../../../engine/index.ts';
import { NetError } from '../../net/errors.ts';
import { type JoinOutcome, requestJoin } from '../../net/join.ts';
import type { PbLibp2p } from '../../net/node.ts';
import { toPeerId } from '../../net/serve.ts';
import { ControlError } from '../control/control.ts';
import type { GroupService } from './group-service.ts';
import { decodeInviteCode } from './invite-code.ts';
import { makeJoinRequest } from './join-desk.ts';

/** Attempts to reach the inviter (a stream that broke while waiting counts as one). */
const MAX_JOIN_DIAL_ATTEMPTS = 5;
/** How long an approved join waits for its first sync with the group before answering. */
const JOIN_SYNC_WAIT_MS = 10_000;

export interface JoinClientDeps {
  readonly node: PbLibp2p;
  readonly group: GroupService;
  readonly keys: ReturnType<typeof deriveMemberKeys>;
  readonly self: string;
  readonly name: string;
  readonly addresses: () => string[];
  readonly pledgeBytes: () => number;
  readonly syncAll: () => Promise<void>;
}

type Progress = (event: string, data: unknown) => void;
interface JoinResult {
  outcome: JoinOutcome;
  groupId: string;
  ops: Uint8Array[];
}

/** Joins the group `code` invites to, waiting at most `waitMs` for the inviter's decision. */
export async function joinGroup(
  deps: JoinClientDeps,
  code: string,
  waitMs: number,
  progress: Progress,
): Promise<unknown> {
  const { group } = deps;
  if (group.groupId !== null) throw new ControlError('has-group', 'this node already belongs to a group');
  let invite: ReturnType<typeof decodeInviteCode>;
  try {
    invite = decodeInviteCode(code, Date.now());
  } catch (error) {
    throw new ControlError('bad-invite', (error as Error).message);
  }
  const addrs = invite.addresses.flatMap((a) => {
    try {
      return [multiaddr(a)];
    } catch {
      return [];
    }
  });
  await deps.node.peerStore.merge(toPeerId(invite.inviter), {
    multiaddrs: addrs.map((a) => (a.getComponents().at(-1)?.name === 'p2p' ? a.decapsulateCode(421) : a)),
  });
  progress('connecting', { inviter: invite.inviter });
  const result = await askInviter(deps, invite, waitMs, progress);
  if (result.outcome !== 'approved') return { outcome: result.outcome };
  group.adopt(result.groupId, result.ops);
  if (!group.selfIsMember)
    throw new ControlError('internal', 'approved, but the log does not make this node a member');
  if (deps.pledgeBytes() > 0) group.author({ kind: 'pledge', pledgeBytes: deps.pledgeBytes() });
  // Tell the others at once, but answer the joiner within a bound: a member that cannot be
  // reached must not hold the join (the timer's rounds carry on).
  await Promise.race([deps.syncAll(), new Promise((r) => setTimeout(r, JOIN_SYNC_WAIT_MS).unref())]);
  return { outcome: 'approved', groupId: result.groupId, members: group.state?.members.length };
}

/** The request and the wait for a decision, retried with backoff while time remains. */
async function askInviter(
  deps: JoinClientDeps,
  invite: ReturnType<typeof decodeInviteCode>,
  waitMs: number,
  progress: Progress,
): Promise<JoinResult> {
  const started = Date.now();
  for (let attempt = 0; attempt < MAX_JOIN_DIAL_ATTEMPTS; attempt++) {
    try {
      return await requestJoin(
        deps.node,
        invite.inviter,
        invite.token,
        Math.max(1000, waitMs - (Date.now() - started)),
        async (offer) =>
          makeJoinRequest(
            deps.keys,
            deps.self,
            offer,
            invite.token,
            { name: deps.name, addresses: deps.addresses() },
            Date.now(),
          ),
        () => progress('waiting', { sinceMs: Date.now() - started }),
      );
    } catch (error) {
      const e = error as NetError;
      if (e instanceof NetError && e.remote && e.code !== 'timeout')
        throw new ControlError(e.code, e.message);
      if (Date.now() - started > waitMs)
        throw new ControlError('timeout', `no decision within ${waitMs} ms: ${e.message}`);
      progress('retrying', { reason: e.message });
      await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** Math.min(attempt, 4))));
    }
  }
  throw new ControlError(
    'timeout',
    `no decision after ${MAX_JOIN_DIAL_ATTEMPTS} attempts to reach the inviter ${invite.inviter}`,
  );
}
