/**
 * What the simulator's event queue carries: one discriminated union, one variant per kind of event.
 * `member` is a member index; an epoch is the member's (cycle) epoch when the event was scheduled,
 * so an event the member has since moved past is dropped.
 */
import type { Job, Transfer } from './model.ts';

export type SimEventBody =
  /** The member's churn cycle flips it on or offline (`cycleEpoch` as scheduled). */
  | { readonly kind: 'online' | 'offline'; readonly member: number; readonly cycleEpoch: number }
  /** A scripted outage: offline now for `forMs`. */
  | { readonly kind: 'outage'; readonly member: number; readonly forMs: number }
  /** The grace period of an absence runs out (`epoch` as scheduled). */
  | { readonly kind: 'grace'; readonly member: number; readonly epoch: number }
  /** A disk failure; `cycleEpoch` null for a scripted one (never stale). */
  | { readonly kind: 'fail'; readonly member: number; readonly cycleEpoch: number | null }
  /** A failed member comes back with an empty disk. */
  | { readonly kind: 'rejoin'; readonly member: number }
  /** An owner's daily change. */
  | { readonly kind: 'daily'; readonly member: number }
  /** One shard upload by owner `member` ends. */
  | { readonly kind: 'upload-done'; readonly member: number; readonly transfer: Transfer }
  /** A repair or migration's transfers begin / end. */
  | { readonly kind: 'job-start' | 'job-done'; readonly job: Job }
  /** A repair planning round, a time-series sample, a random join. */
  | { readonly kind: 'plan' | 'sample' | 'join' }
  /** A removal: a given member, or (null) one chosen at random when it happens. */
  | { readonly kind: 'remove'; readonly member: number | null };

export type SimEventKind = SimEventBody['kind'];

/**
 * A queued event: its time and sequence number beside the body, not spread into a copy of it
 * (one shape for every entry, so the queue's comparisons and the push stay monomorphic).
 */
export interface SimEvent {
  readonly timeMs: number;
  /** Scheduling order: breaks ties between events at the same virtual time. */
  readonly seq: number;
  readonly body: SimEventBody;
}
