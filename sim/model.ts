/**
 * The simulator's state: what a simulated member and stripe are. `holders` is what the group
 * knows (the engine's input); `exists` is the truth (a failed disk loses its shards at once).
 */
import type { MigrationTask, RepairTask } from '../engine/index.ts';
import type { Mark } from './aside.ts';
import type { Parked } from './parked.ts';

export const HOUR_MS = 3600e3;
export const DAY_MS = 24 * HOUR_MS;
export const YEAR_MS = 365 * DAY_MS;
/** Tasks the planner may hand out per round (a bound on one round's planning). */
export const MAX_TASKS_PER_ROUND = 2000;
/**
 * Tasks per member in one (hourly) round: what a daemon may queue in an hour (200 per 5-minute
 * round, runtime's DEFAULT_REPAIR_CONFIG), so that bandwidth, not a count of tasks, bounds repair
 * (a round starts only what finishes within it). With 8 an hour, repair speed depended on the
 * modelled shard size: the heavy scenario lost twice as much at 20,000 stripes as at 5,000.
 */
export const TASKS_PER_MEMBER_PER_ROUND = 2400;
/** Shards an owner keeps queued ahead of its uploads. */
export const UPLOAD_LOOKAHEAD_STRIPES = 4;
export const MIN_SHARD_BYTES = 2 ** 20;
export const MAX_SHARD_BYTES = 2 ** 32;

export type Stripe = {
  readonly stripeId: string;
  readonly owner: string;
  readonly ownerIdx: number;
  readonly dataShards: number;
  readonly parityShards: number;
  readonly shardBytes: number;
  /** What the group knows: who holds shard i (null when known gone). */
  readonly holders: (string | null)[];
  /** What is true: shard i exists on a working disk. */
  readonly exists: boolean[];
  existCount: number;
  state: 'pending' | 'stored' | 'lost' | 'deleted';
  pendingShards: number;
  busy: boolean;
  exposedBytes: number;
  /** Its place in `World.waiting` (-1 when not waiting), its mark there, how it is filed (waiting.ts). */
  waitSeq: number;
  waitMark: Mark | null;
  waitFiled: number;
  /**
   * In the repair backlog (backlog.ts): its rank in the heap (-1 when not there), a bit per rank
   * it has a heap entry for, and its entry when parked (parked.ts).
   */
  backlogRank: number;
  backlogQueued: number;
  parked: Parked | null;
  /** Scratch of a batched round (round.ts): the last round it was in the batch, and its need then. */
  batchRound: number;
  needRound: number;
  need: Need;
};

/** What a changed stripe gets from the planner: a repair, a migration, or nothing. */
export type Need = 'repair' | 'migration' | 'none';

export interface ShardUpload {
  readonly stripe: Stripe;
  readonly index: number;
  readonly target: number;
}

export interface Member {
  readonly idx: number;
  readonly id: string;
  readonly pledgeBytes: number;
  readonly joinedAtMs: number;
  online: boolean;
  failed: boolean;
  removed: boolean;
  lastSeenMs: number;
  /** Bumped whenever the member goes on or offline, fails or leaves: stale events are dropped. */
  epoch: number;
  /** Bumped when the churn cycle restarts (failure, rejoin, outage). */
  cycleEpoch: number;
  incomingBytes: number;
  upFreeAtMs: number;
  downFreeAtMs: number;
  readonly held: Set<Stripe>;
  // As an owner
  dataBytes: number;
  dataLeftBytes: number;
  deleteDebtBytes: number;
  readonly own: Stripe[];
  ownHead: number;
  readonly queues: Map<number, ShardUpload[]>;
  queuedShards: number;
  pendingStripes: number;
  uploading: boolean;
  full: boolean;
  nextSeq: number;
  firstFullBackupMs: number | null;
  backedUpBytes: number;
  exposedBytes: number;
  exposedSinceMs: number;
  exposedByteMs: number;
  repairBytesSent: number;
  migrationBytesSent: number;
  /** Stripes of this owner lost. */
  stripesLost: number;
}

export interface Job {
  readonly kind: 'repair' | 'migration';
  readonly stripe: Stripe;
  readonly repair?: RepairTask;
  readonly migration?: MigrationTask;
  /** Epochs are taken when the transfers start ('job-start'); a change by the end aborts the job. */
  readonly participants: { readonly member: Member; epoch: number }[];
  aborted: boolean;
}

export interface Transfer {
  readonly upload: ShardUpload;
  readonly ownerEpoch: number;
  readonly targetEpoch: number;
}

/** A member as it joins: online, empty, nothing owed. */
export function newMember(idx: number, id: string, pledgeBytes: number, atMs: number): Member {
  return {
    idx,
    id,
    pledgeBytes,
    joinedAtMs: atMs,
    online: true,
    failed: false,
    removed: false,
    lastSeenMs: atMs,
    epoch: 0,
    cycleEpoch: 0,
    incomingBytes: 0,
    upFreeAtMs: atMs,
    downFreeAtMs: atMs,
    held: new Set(),
    dataBytes: 0,
    dataLeftBytes: 0,
    deleteDebtBytes: 0,
    own: [],
    ownHead: 0,
    queues: new Map(),
    queuedShards: 0,
    pendingStripes: 0,
    uploading: false,
    full: false,
    nextSeq: 0,
    firstFullBackupMs: null,
    backedUpBytes: 0,
    exposedBytes: 0,
    exposedSinceMs: atMs,
    exposedByteMs: 0,
    repairBytesSent: 0,
    migrationBytesSent: 0,
    stripesLost: 0,
  };
}
