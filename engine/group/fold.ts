/**
 * The fold: a set of verified ops -> the group's state (docs/design.md §5, docs/group-log.md;
 * the rules per kind in fold-rules.ts).
 *
 * Ops are deduplicated by hash and applied in (clock, hash) order. An op applies only when every
 * parent it names is present, has a smaller clock and itself applied or was judged (causal
 * completeness), and when the rules of its kind hold at that point; otherwise it is dropped and
 * listed in `dropped` with the reason. The same op set gives the same state in any delivery order.
 * `nowMs` decides only which invites are still live; members, removals, the agreement and the
 * placement never depend on it.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { invariant } from '../errors.ts';
import { GroupError } from './errors.ts';
import { GroupRules } from './fold-rules.ts';
import { rememberTopHead } from './next-header.ts';
import { type GroupOp, toHex } from './ops.ts';
import {
  type DroppedOp,
  type DropReason,
  GROUP_STATE_VERSION,
  type GroupState,
  type LiveInvite,
  MAX_CLOCK_STEP,
  MAX_FOLD_OPS,
  type OwnerPlacement,
} from './state.ts';
import { byId, ownerPlacement, rememberPlacementInputs } from './state-placement.ts';

export { nextHeader } from './next-header.ts';
export {
  type DroppedOp,
  type DropReason,
  GROUP_STATE_VERSION,
  type GroupMember,
  type GroupState,
  type LiveInvite,
  MAX_CLOCK_STEP,
  MAX_FOLD_OPS,
  type OwnerPlacement,
  type PendingRequest,
  type RemovedMember,
  type RequestOutcome,
} from './state.ts';
export { ownerPlacement, ownerPlacements } from './state-placement.ts';

export interface FoldOptions {
  /** The group to fold (hash of its create op). Pass it for ops from the network; without it the
   * first create op in (clock, hash) order founds the group. */
  readonly groupId?: string;
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
  if (options.groupId !== undefined && !/^[0-9a-f]{64}$/.test(options.groupId)) {
    throw new GroupError('invalid-argument', 'groupId must be an op hash: 64 lowercase hex characters');
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
  const groupId = options.groupId ?? sorted.find((op) => op.kind === 'create')?.hash ?? null;
  const run = foldSorted(sorted, groupId);
  const state = finishState(run, sorted, nowMs, groupId, byHash);
  invariant(
    state.members.every((m, i) => i === 0 || state.members[i - 1]!.id < m.id),
    'members sorted',
  );
  return state;
}

interface FoldRun {
  readonly rules: GroupRules;
  /** Per position in the sorted ops: JUDGED, APPLIED, NAMED flags. */
  readonly flags: Uint8Array;
  readonly dropped: DroppedOp[];
  readonly clock: number;
}

/** Judges and applies the sorted ops in order; see the module comment for the rules. */
function foldSorted(sorted: readonly GroupOp[], groupId: string | null): FoldRun {
  const position = new Map<string, number>();
  for (let i = 0; i < sorted.length; i++) position.set(sorted[i]!.hash, i);
  const flags = new Uint8Array(sorted.length);
  const rules = new GroupRules();
  const dropped: DroppedOp[] = [];
  let clock = 0;
  for (let at = 0; at < sorted.length; at++) {
    const op = sorted[at]!;
    // 1. Group and causal completeness; 2. the rules of the kind.
    let reason = causalFault(op, groupId, sorted, position, flags);
    if (reason === null) {
      flags[at]! |= JUDGED;
      reason = rules.apply(op);
    } else if (op.kind === 'request' && reason !== 'foreign-group') {
      rules.spendToken(op.tokenHash!);
    }
    if (reason !== null) {
      dropped.push({ hash: op.hash, kind: op.kind, author: op.author, clock: op.clock, reason });
      continue;
    }
    flags[at]! |= APPLIED;
    for (const p of op.parents) flags[position.get(p)!]! |= NAMED;
    if (op.clock > clock) clock = op.clock;
  }
  return { rules, flags, dropped, clock };
}

/** Why `op` cannot be judged: another group, a parent missing, unjudged or not before it, a clock too far. */
function causalFault(
  op: GroupOp,
  groupId: string | null,
  sorted: readonly GroupOp[],
  position: ReadonlyMap<string, number>,
  flags: Uint8Array,
): DropReason | null {
  if (op.kind === 'create' ? op.hash !== groupId : op.group !== groupId) return 'foreign-group';
  let fault: DropReason | null = null;
  let parentClock = 0;
  for (const p of op.parents) {
    const i = position.get(p);
    if (i === undefined) fault ??= 'missing-parents';
    else if (sorted[i]!.clock >= op.clock) fault = 'clock-not-after-parent';
    else if ((flags[i]! & JUDGED) === 0) fault ??= 'missing-parents';
    else parentClock = Math.max(parentClock, sorted[i]!.clock);
  }
  // Depends on the op and its parents only, so every member judges it alike in any order.
  if (fault === null && op.clock > parentClock + MAX_CLOCK_STEP) fault = 'clock-too-far';
  return fault;
}

/** The state a fold run leaves: sorted lists, live invites at `nowMs`, heads, lazy digest and placement. */
function finishState(
  run: FoldRun,
  sorted: readonly GroupOp[],
  nowMs: number,
  groupId: string | null,
  byHash: ReadonlyMap<string, GroupOp>,
): GroupState {
  const { rules, flags } = run;
  const heads: string[] = [];
  /** The highest-clock head: `sorted` ascends by (clock, hash), so the last one found. */
  let topHead: GroupOp | null = null;
  for (let i = 0; i < sorted.length; i++)
    if ((flags[i]! & (APPLIED | NAMED)) === APPLIED) {
      heads.push(sorted[i]!.hash);
      if (topHead === null || sorted[i]!.clock > topHead.clock) topHead = sorted[i]!;
    }
  heads.sort();
  const memberList = [...rules.members.values()].sort(byId).map((m) => ({ ...m }));
  const liveInvites: LiveInvite[] = [];
  for (const i of rules.invites.values()) {
    if (!i.used && !i.cancelled && i.expiresAtMs > nowMs && rules.members.has(i.by)) {
      liveInvites.push({ tokenHash: i.tokenHash, by: i.by, expiresAtMs: i.expiresAtMs, op: i.op });
    }
  }
  liveInvites.sort((a, b) => (a.tokenHash < b.tokenHash ? -1 : 1));
  const state: Omit<GroupState, 'placement' | 'digest'> = {
    version: GROUP_STATE_VERSION,
    groupId: rules.founded ? groupId : null,
    agreement: rules.agreement,
    members: memberList,
    pending: [...rules.pending.values()].sort((a, b) => (a.candidate < b.candidate ? -1 : 1)),
    invites: liveInvites,
    removed: [...rules.removed.values()].sort(byId),
    outcomes: rules.outcomes,
    dropped: run.dropped,
    heads,
    clock: run.clock,
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
  let placement: OwnerPlacement[] | null = null;
  Object.defineProperty(state, 'placement', {
    enumerable: true,
    get: (): OwnerPlacement[] => {
      placement ??= memberList.map((m) => ownerPlacement(state as GroupState, m.id));
      return placement;
    },
  });
  rememberPlacementInputs(state, memberList, rules.agreement);
  if (topHead !== null) rememberTopHead(state, topHead.hash);
  return state as GroupState;
}
