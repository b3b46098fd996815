/**
 * The group's state as the fold leaves it (docs/group-log.md section 4): its members, requests,
 * invites, removals, dropped ops and each owner's placement. Types and bounds only; fold.ts
 * computes it, fold-rules.ts applies each op kind to it.
 */
import type { Agreement } from '../capacity.ts';
import type { PlacementPlan } from '../placement.ts';
import type { OpKind } from './ops.ts';

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
