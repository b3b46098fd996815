/**
 * The control methods of membership (docs/control.md): found a group, invite, join, decide on
 * requests, remove, list members, change the agreement. Each authors ops through the group
 * service; the syncer carries them to the others.
 */
import { randomBytes } from 'node:crypto';
import type { PeerId } from '@libp2p/interface';
import {
  type deriveMemberKeys,
  type GroupMember,
  type GroupState,
  inviteTokenHash,
  MAX_INVITE_TTL_MS,
  toHex,
} from '../../../engine/index.ts';
import type { PbLibp2p } from '../../net/node.ts';
import { toPeerId } from '../../net/serve.ts';
import { linkKind } from '../../net/webrtc-probe.ts';
import type { PledgedShardStore } from '../../store/pledged-shard-store.ts';
import type { GroupService } from '../group/group-service.ts';
import type { GroupSyncer } from '../group/group-syncer.ts';
import { encodeInviteCode } from '../group/invite-code.ts';
import { joinGroup } from '../group/join-client.ts';
import { ControlError, type ControlMethod } from './control.ts';

const DEFAULT_INVITE_TTL_MS = 24 * 3600 * 1000;
/** How long `join` waits for the inviter's decision unless told otherwise. */
const DEFAULT_JOIN_WAIT_MS = 600_000;

/** What the membership methods need of the daemon. */
export interface MemberParts {
  readonly self: string;
  readonly name: string;
  readonly node: PbLibp2p;
  readonly group: GroupService;
  readonly store: PledgedShardStore;
  readonly syncer: GroupSyncer;
  readonly keys: ReturnType<typeof deriveMemberKeys>;
  readonly lastSeen: ReadonlyMap<string, number>;
  addresses(): string[];
}

export function numberParam(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new ControlError('bad-argument', `${what} must be a number`);
  return v;
}

function groupOf(p: MemberParts): GroupState {
  const s = p.group.state;
  if (s === null)
    throw new ControlError(
      'no-group',
      'this node has no group yet: run `pb-node create` to found one or `pb-node join <code>`',
    );
  return s;
}

export function memberMethods(p: MemberParts): Record<string, ControlMethod> {
  return {
    create: async (params) => {
      const agreement = {
        ratio: numberParam(params.ratio ?? 1.5, 'ratio'),
        tolerance: numberParam(params.tolerance ?? 1, 'tolerance'),
      };
      const groupId = p.group.create(agreement, p.name, p.addresses());
      if (p.store.pledgeBytes > 0) p.group.author({ kind: 'pledge', pledgeBytes: p.store.pledgeBytes });
      return { groupId };
    },
    invite: async (params) => invite(p, numberParam(params.expiresMs ?? DEFAULT_INVITE_TTL_MS, 'expiresMs')),
    join: async (params, progress) =>
      joinGroup(
        {
          node: p.node,
          group: p.group,
          keys: p.keys,
          self: p.self,
          name: p.name,
          addresses: () => p.addresses(),
          pledgeBytes: () => p.store.pledgeBytes,
          syncAll: () => p.syncer.syncAll(),
        },
        String(params.code ?? ''),
        numberParam(params.waitMs ?? DEFAULT_JOIN_WAIT_MS, 'waitMs'),
        progress,
      ),
    requests: async () => groupOf(p).pending.map((r) => ({ ...r, mine: r.invitedBy === p.self })),
    approve: async (params) => decide(p, String(params.who ?? ''), 'approve'),
    reject: async (params) => decide(p, String(params.who ?? ''), 'reject'),
    remove: async (params) => {
      const s = groupOf(p);
      const target = resolveWho(String(params.who ?? ''), [
        ...s.members,
        ...s.pending.map((r) => ({ id: r.candidate, name: r.name })),
      ]);
      p.group.author({ kind: 'remove', member: target.id });
      await p.syncer.syncAll();
      return { removed: target.id, name: target.name };
    },
    members: async () => groupOf(p).members.map((m) => memberRow(p, m)),
    agreement: async (params) => {
      groupOf(p);
      const agreement = {
        ratio: numberParam(params.ratio, 'ratio'),
        tolerance: numberParam(params.tolerance, 'tolerance'),
      };
      p.group.author({ kind: 'agree', agreement });
      return agreement;
    },
  };
}

function invite(p: MemberParts, ttlMs: number): { code: string; expiresAtMs: number } {
  groupOf(p);
  if (ttlMs <= 0 || ttlMs > MAX_INVITE_TTL_MS)
    throw new ControlError('bad-argument', 'an invite lasts from 1 ms to 30 days');
  const token = randomBytes(32);
  const expiresAtMs = Date.now() + Math.round(ttlMs);
  p.group.author({ kind: 'invite', tokenHash: inviteTokenHash(toHex(token)), expiresAtMs });
  return {
    code: encodeInviteCode({ inviter: p.self, addresses: p.addresses(), token, expiresAtMs }),
    expiresAtMs,
  };
}

function memberRow(p: MemberParts, m: GroupMember): Record<string, unknown> {
  const self = m.id === p.self;
  const connections = self ? [] : p.node.getConnections(toPeerId(m.id) as PeerId);
  return {
    id: m.id,
    name: m.name,
    pledgeBytes: m.pledgeBytes,
    sinceMs: m.sinceMs,
    addresses: m.addresses,
    self,
    lastSeenMs: self ? Date.now() : (p.lastSeen.get(m.id) ?? null),
    connected: connections.length > 0,
    link: self ? null : linkKind(connections),
  };
}

/** Approves or rejects a request; only the inviter decides (the dashboard calls this too). */
export async function decide(p: MemberParts, who: string, kind: 'approve' | 'reject'): Promise<unknown> {
  const s = p.group.state;
  if (s === null) throw new ControlError('no-group', 'this node has no group');
  const r = resolveWho(
    who,
    s.pending.map((q) => ({ id: q.candidate, name: q.name, request: q.request, invitedBy: q.invitedBy })),
  );
  if (r.invitedBy !== p.self)
    throw new ControlError('not-inviter', `only the inviter (${r.invitedBy}) decides on ${r.name}'s request`);
  p.group.author({ kind, candidate: r.id, request: r.request });
  p.syncer.soon();
  return { [kind === 'approve' ? 'approved' : 'rejected']: r.id, name: r.name };
}

interface Who {
  id: string;
  name: string;
}

/** Finds one of `list` by exact id, id prefix (6+ characters) or name; friendly when ambiguous. */
export function resolveWho<T extends Who>(who: string, list: T[]): T {
  const w = who.trim();
  if (w === '') throw new ControlError('bad-argument', 'name a member or candidate (name or id)');
  const exact = list.filter((m) => m.id === w);
  if (exact.length > 0) return exact[0]!;
  const byName = list.filter((m) => m.name.toLowerCase() === w.toLowerCase());
  const byPrefix = w.length >= 6 ? list.filter((m) => m.id.startsWith(w) || m.id.endsWith(w)) : [];
  const found = [...new Map([...byName, ...byPrefix].map((m) => [m.id, m])).values()];
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw new ControlError('not-found', `nobody called "${w}" here`);
  throw new ControlError(
    'ambiguous',
    `"${w}" is ambiguous: ${found.map((m) => `${m.name} (${m.id})`).join(', ')}; use the id`,
  );
}
