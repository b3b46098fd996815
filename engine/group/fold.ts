/**
 * The fold: a set of verified ops -> the group's state (docs/design.md §5, docs/group-log.md).
 *
 * Ops are deduplicated by hash and applied in (clock, hash) order. An op applies only when every
 * parent it names is present, has a smaller clock and itself applied or was judged (causal
 * completeness), and when the rules of its kind hold at that point; otherwise it is dropped and
 * listed in `dropped` with the reason. The same op set gives the same state in any delivery order.
 * `nowMs` decides only which invites are still live; members, removals, the agreement and the
 * placement never depend on it.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { Agreement } from '../capacity.ts';
import { invariant } from '../errors.ts';
import type { PlacementPlan } from '../placement.ts';
import { GroupError } from './errors.ts';
import { rememberTopHead } from './next-header.ts';
import { type GroupOp, type OpKind, toHex } from './ops.ts';
import { byId, ownerPlacement, rememberPlacementInputs } from './state-placement.ts';

export { nextHeader } from './next-header.ts';
export { ownerPlacement, ownerPlacements } from './state-placement.ts';

export const GROUP_STATE_VERSION = 1;
/** Bound on the ops one fold takes (about 200 bytes each: 200 MB). */
export const MAX_FOLD_OPS = 1_000_000;
/**
 * An op's clock exceeds its largest parent's clock (0 for the create op) by at most this. Every
 * considered op then has a clock of at most MAX_FOLD_OPS x MAX_CLOCK_STEP (about 2^30), so the
 * next op's clock (largest applied + 1) is always encodable: no op can freeze the group.
 */
export const MAX_CLOCK_STEP = 1024;

export interface GroupMember {
  readonly id: string;
  readonly name: string;
  readonly addresses: readonly string[];
  readonly pledgeBytes: number;
  /** The `atMs` and clock of the op that admitted it (create or approve). */
  readonly sinceMs: number;
  readonly sinceClock: number;
  /** The member whose invitation it came in on; null for the founder. */
  readonly invitedBy: string | null;
}

export interface PendingRequest {
  readonly candidate: string;
  /** Hash of the request op: what approve and reject name. */
  readonly request: string;
  readonly name: string;
  readonly addresses: readonly string[];
  /** The inviter: the member whose operator decides. */
  readonly invitedBy: string;
  readonly atMs: number;
  readonly clock: number;
}

export interface LiveInvite {
  readonly tokenHash: string;
  readonly by: string;
  readonly expiresAtMs: number;
  readonly op: string;
}

export interface RemovedMember {
  readonly id: string;
  readonly by: string;
  readonly atMs: number;
  readonly clock: number;
  readonly op: string;
}

export interface RequestOutcome {
  readonly candidate: string;
  readonly request: string;
  readonly outcome: 'approved' | 'rejected' | 'cancelled';
  /** The deciding op (approve, reject, remove) and its author. */
  readonly op: string;
  readonly by: string;
}

export type DropReason =
  | 'foreign-group'
  | 'missing-parents'
  | 'clock-not-after-parent'
  | 'clock-too-far'
  | 'not-a-member'
  | 'already-member'
  | 'duplicate-request'
  | 'unknown-token'
  | 'token-used'
  | 'token-expired'
  | 'duplicate-token'
  | 'no-pending-request'
  | 'not-inviter'
  | 'not-pending-or-member';

export interface DroppedOp {
  readonly hash: string;
  readonly kind: OpKind;
  readonly author: string;
  readonly clock: number;
  readonly reason: DropReason;
}

/** One owner's placement under today's group: the code and the plan over the other members. */
export type OwnerPlacement =
  | {
      readonly owner: string;
      readonly feasible: true;
      readonly dataShards: number;
      readonly parityShards: number;
      readonly repairSlack: boolean;
      readonly plan: PlacementPlan;
    }
  | { readonly owner: string; readonly feasible: false; readonly reason: string };

export interface GroupState {
  readonly version: typeof GROUP_STATE_VERSION;
  /** Hash of the create op; null when the set holds no create op for the group. */
  readonly groupId: string | null;
  readonly agreement: Agreement | null;
  /** Sorted by id. */
  readonly members: readonly GroupMember[];
  readonly pending: readonly PendingRequest[];
  /** Unused, unexpired at `nowMs`, inviter still a member; sorted by token hash. */
  readonly invites: readonly LiveInvite[];
  /** Currently removed (not re-admitted since); sorted by id. */
  readonly removed: readonly RemovedMember[];
  /** Every request's outcome, in op order. */
  readonly outcomes: readonly RequestOutcome[];
  /** Ops that changed nothing, in op order, with why. */
  readonly dropped: readonly DroppedOp[];
  /** Applied ops that no applied op names: the parents of the next op. Sorted. */
  readonly heads: readonly string[];
  /** Highest clock among applied ops: the next op takes clock + 1. */
  readonly clock: number;
  /** Distinct ops in the set (applied or not). */
  readonly opCount: number;
  /** SHA-256 of the concatenated sorted lowercase hex hashes of every op in the set (derived lazily,
   * on first read: sorting and hashing 10k hashes costs about as much as the fold itself). */
  readonly digest: string;
  /**
   * Per member (sorted by owner id), the placement of its stripes over the other members.
   * Derived lazily: computed on first read (a plan costs milliseconds), then kept with the state.
   * `ownerPlacement(state, owner)` computes a single owner's.
   */
  readonly placement: readonly OwnerPlacement[];
}

export interface FoldOptions {
  /** The group to fold (hash of its create op). Pass it for ops from the network; without it the
   * first create op in (clock, hash) order founds the group. */
  readonly groupId?: string;
}

interface MutableMember {
  id: string;
  name: string;
  addresses: readonly string[];
  pledgeBytes: number;
  sinceMs: number;
  sinceClock: number;
  invitedBy: string | null;
}
interface Invite {
  tokenHash: string;
  by: string;
  expiresAtMs: number;
  op: string;
  used: boolean;
  cancelled: boolean;
}

const utf8 = new TextEncoder();
/** Per-op flags in the fold: considered (complete history), applied, named by an applied op. */
const JUDGED = 1;
const APPLIED = 2;
const NAMED = 4;

function compareOps(a: GroupOp, b: GroupOp): number {
  return a.clock - b.clock || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0);
}

/** SHA-256 over the sorted hex hashes (each 64 ASCII characters, concatenated). */
export function opSetDigest(sortedHashes: readonly string[]): string {
  return toHex(sha256(utf8.encode(sortedHashes.join(''))));
}

export function foldGroup(ops: readonly GroupOp[], nowMs: number, options: FoldOptions = {}): GroupState {
  if (!Array.isArray(ops)) throw new GroupError('invalid-argument', 'ops must be an array of decoded ops');
  if (ops.length > MAX_FOLD_OPS)
    throw new GroupError('invalid-argument', `at most ${MAX_FOLD_OPS} ops per fold`);
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
    throw new GroupError('invalid-argument', `nowMs must be a whole number of ms >= 0, got ${String(nowMs)}`);
  }
  const byHash = new Map<string, GroupOp>();
  for (const op of ops) {
    if (
      op === null ||
      typeof op !== 'object' ||
      typeof op.hash !== 'string' ||
      !(op.bytes instanceof Uint8Array)
    ) {
      throw new GroupError('invalid-argument', 'foldGroup takes ops returned by decodeOp or signOp');
    }
    byHash.set(op.hash, op);
  }
  const sorted = [...byHash.values()].sort(compareOps);
  /** Position of each op in `sorted`, and per position: JUDGED, APPLIED, NAMED flags. */
  const position = new Map<string, number>();
  for (let i = 0; i < sorted.length; i++) position.set(sorted[i]!.hash, i);
  const flags = new Uint8Array(sorted.length);
  if (options.groupId !== undefined && !/^[0-9a-f]{64}$/.test(options.groupId)) {
    throw new GroupError('invalid-argument', 'groupId must be an op hash: 64 lowercase hex characters');
  }
  let groupId: string | null = options.groupId ?? null;
  if (groupId === null)
    for (const op of sorted)
      if (op.kind === 'create') {
        groupId = op.hash;
        break;
      }

  const members = new Map<string, MutableMember>();
  const pending = new Map<string, PendingRequest>();
  const invites = new Map<string, Invite>();
  /** Unused invites by inviter, so a removal cancels them without scanning every invite. */
  const openInvitesBy = new Map<string, Set<Invite>>();
  const removed = new Map<string, RemovedMember>();
  const outcomes: RequestOutcome[] = [];
  const dropped: DroppedOp[] = [];
  let agreement: Agreement | null = null;
  let clock = 0;
  let founded = false;

  const drop = (op: GroupOp, reason: DropReason): void => {
    dropped.push({ hash: op.hash, kind: op.kind, author: op.author, clock: op.clock, reason });
  };
  const cancelRequest = (p: PendingRequest, op: GroupOp): void => {
    pending.delete(p.candidate);
    outcomes.push({
      candidate: p.candidate,
      request: p.request,
      outcome: 'cancelled',
      op: op.hash,
      by: op.author,
    });
  };

  for (let at = 0; at < sorted.length; at++) {
    const op = sorted[at]!;
    // 1. Group and causal completeness.
    if (op.kind === 'create' ? op.hash !== groupId : op.group !== groupId) {
      drop(op, 'foreign-group');
      continue;
    }
    let parentFault: DropReason | null = null;
    let parentClock = 0;
    for (const p of op.parents) {
      const i = position.get(p);
      if (i === undefined) parentFault ??= 'missing-parents';
      else if (sorted[i]!.clock >= op.clock) parentFault = 'clock-not-after-parent';
      else if ((flags[i]! & JUDGED) === 0) parentFault ??= 'missing-parents';
      else parentClock = Math.max(parentClock, sorted[i]!.clock);
    }
    // Depends on the op and its parents only, so every member judges it alike in any order.
    if (parentFault === null && op.clock > parentClock + MAX_CLOCK_STEP) parentFault = 'clock-too-far';
    if (parentFault !== null) {
      drop(op, parentFault);
      continue;
    }
    flags[at]! |= JUDGED;

    // 2. The rules of the kind.
    const reason = applyRules(op);
    if (reason !== null) {
      drop(op, reason);
      continue;
    }
    flags[at]! |= APPLIED;
    for (const p of op.parents) flags[position.get(p)!]! |= NAMED;
    if (op.clock > clock) clock = op.clock;
  }

  function applyRules(op: GroupOp): DropReason | null {
    if (op.kind === 'create') {
      invariant(!founded, 'only one create op has the group hash');
      founded = true;
      agreement = op.agreement;
      members.set(op.author, {
        id: op.author,
        name: op.name,
        addresses: op.addresses,
        pledgeBytes: 0,
        sinceMs: op.atMs,
        sinceClock: op.clock,
        invitedBy: null,
      });
      return null;
    }
    if (op.kind === 'request') {
      // The first request that presents a token spends it, whatever happens next (late, already a
      // member, already waiting): a token seen in gossip can never be redeemed by someone else.
      const invite = invites.get(op.tokenHash!);
      if (invite === undefined || invite.cancelled) return 'unknown-token';
      if (invite.used) return 'token-used';
      invite.used = true;
      openInvitesBy.get(invite.by)?.delete(invite);
      if (op.atMs > invite.expiresAtMs) return 'token-expired';
      if (members.has(op.author)) return 'already-member';
      if (pending.has(op.author)) return 'duplicate-request';
      pending.set(op.author, {
        candidate: op.author,
        request: op.hash,
        name: op.name,
        addresses: op.addresses,
        invitedBy: invite.by,
        atMs: op.atMs,
        clock: op.clock,
      });
      return null;
    }
    // Every other kind: only a current member authors it.
    const author = members.get(op.author);
    if (author === undefined) {
      return 'not-a-member';
    }
    switch (op.kind) {
      case 'invite': {
        if (invites.has(op.tokenHash)) {
          return 'duplicate-token';
        }
        const invite: Invite = {
          tokenHash: op.tokenHash,
          by: op.author,
          expiresAtMs: op.expiresAtMs,
          op: op.hash,
          used: false,
          cancelled: false,
        };
        invites.set(op.tokenHash, invite);
        const open = openInvitesBy.get(op.author);
        if (open === undefined) openInvitesBy.set(op.author, new Set([invite]));
        else open.add(invite);
        return null;
      }
      case 'approve':
      case 'reject': {
        const p = pending.get(op.candidate);
        if (p === undefined || p.request !== op.request) {
          return 'no-pending-request';
        }
        if (p.invitedBy !== op.author) {
          return 'not-inviter';
        }
        pending.delete(op.candidate);
        outcomes.push({
          candidate: p.candidate,
          request: p.request,
          outcome: op.kind === 'approve' ? 'approved' : 'rejected',
          op: op.hash,
          by: op.author,
        });
        if (op.kind === 'approve') {
          removed.delete(p.candidate);
          members.set(p.candidate, {
            id: p.candidate,
            name: p.name,
            addresses: p.addresses,
            pledgeBytes: 0,
            sinceMs: op.atMs,
            sinceClock: op.clock,
            invitedBy: p.invitedBy,
          });
        }
        return null;
      }
      case 'remove': {
        const target = op.member;
        const p = pending.get(target);
        if (!members.has(target) && p === undefined) {
          return 'not-pending-or-member';
        }
        members.delete(target);
        if (p !== undefined) cancelRequest(p, op);
        removed.set(target, { id: target, by: op.author, atMs: op.atMs, clock: op.clock, op: op.hash });
        // What the removed member set in motion dies with it: its invites and the requests it must decide.
        for (const invite of openInvitesBy.get(target) ?? []) invite.cancelled = true;
        openInvitesBy.delete(target);
        for (const q of [...pending.values()]) if (q.invitedBy === target) cancelRequest(q, op);
        return null;
      }
      case 'pledge':
        author.pledgeBytes = op.pledgeBytes;
        return null;
      case 'agree':
        agreement = op.agreement;
        return null;
      case 'addresses':
        // The member's own latest word (ops apply in (clock, hash) order).
        author.addresses = op.addresses;
        return null;
      default:
        invariant(false, `unhandled op kind ${(op as GroupOp).kind}`);
    }
    return null;
  }

  const heads: string[] = [];
  /** The highest-clock head: `sorted` ascends by (clock, hash), so the last one found. */
  let topHead: GroupOp | null = null;
  for (let i = 0; i < sorted.length; i++)
    if ((flags[i]! & (APPLIED | NAMED)) === APPLIED) {
      heads.push(sorted[i]!.hash);
      if (topHead === null || sorted[i]!.clock > topHead.clock) topHead = sorted[i]!;
    }
  heads.sort();
  const memberList = [...members.values()].sort(byId).map((m) => ({ ...m }));
  const liveInvites: LiveInvite[] = [];
  for (const i of invites.values()) {
    if (!i.used && !i.cancelled && i.expiresAtMs > nowMs && members.has(i.by)) {
      liveInvites.push({ tokenHash: i.tokenHash, by: i.by, expiresAtMs: i.expiresAtMs, op: i.op });
    }
  }
  liveInvites.sort((a, b) => (a.tokenHash < b.tokenHash ? -1 : 1));
  const state: Omit<GroupState, 'placement' | 'digest'> = {
    version: GROUP_STATE_VERSION,
    groupId: founded ? groupId : null,
    agreement,
    members: memberList,
    pending: [...pending.values()].sort((a, b) => (a.candidate < b.candidate ? -1 : 1)),
    invites: liveInvites,
    removed: [...removed.values()].sort(byId),
    outcomes,
    dropped,
    heads,
    clock,
    opCount: byHash.size,
  };
  let digest: string | null = null;
  Object.defineProperty(state, 'digest', {
    enumerable: true,
    get: (): string => {
      digest ??= opSetDigest([...byHash.keys()].sort());
      return digest;
    },
  });
  const finalAgreement: Agreement | null = agreement;
  let placement: OwnerPlacement[] | null = null;
  Object.defineProperty(state, 'placement', {
    enumerable: true,
    get: (): OwnerPlacement[] => {
      placement ??= memberList.map((m) => ownerPlacement(state as GroupState, m.id));
      return placement;
    },
  });
  rememberPlacementInputs(state, memberList, finalAgreement);
  if (topHead !== null) rememberTopHead(state, topHead.hash);
  return state as GroupState;
}
