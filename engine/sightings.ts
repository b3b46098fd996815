/**
 * The availability inputs (docs/status.md, "Sightings"): when each member counts as last seen,
 * built once here for repair planning, status and alerts so the three agree.
 *
 * - A member heard from (a group sync, a usage answer, a repair listing) counts from its latest
 *   sighting, in this run or recorded in an earlier one.
 * - A member never heard from counts from the later of its join and the day this data directory
 *   began keeping sightings (`trackingSinceMs`), and never as online: at most just before the
 *   online window (its shards count as held, not as readable now). It is lost once the grace has
 *   passed since then, the same moment in every caller.
 */
import type { MemberSighting } from './availability.ts';
import { EngineError } from './errors.ts';

export interface SightingFacts {
  readonly id: string;
  /** The latest sighting (ms); null when never heard from. */
  readonly seenMs: number | null;
  /** When the member joined the group (its admission op); null when unknown. */
  readonly joinedAtMs: number | null;
  readonly removed?: boolean | undefined;
}

export interface SightingClock {
  readonly nowMs: number;
  /** When this data directory began keeping sightings. */
  readonly trackingSinceMs: number;
  /** The online window of the caller (0 for the repair planner). */
  readonly onlineWindowMs: number;
}

function requireMs(value: number, what: string): void {
  if (!Number.isFinite(value) || value < 0)
    throw new EngineError('invalid-argument', `${what} must be a finite number of ms >= 0, got ${value}`);
}

/** When `member` counts as last seen (see the module comment). */
export function lastSeenOf(member: SightingFacts, clock: SightingClock): number {
  if (member.seenMs !== null) {
    requireMs(member.seenMs, `the sighting of ${member.id}`);
    return Math.min(member.seenMs, clock.nowMs);
  }
  const since = Math.max(member.joinedAtMs ?? 0, clock.trackingSinceMs);
  return Math.max(0, Math.min(since, clock.nowMs - clock.onlineWindowMs - 1));
}

/** Every member's sighting for `availabilityOf` and `exposure`; `self` is seen now. */
export function memberSightings(
  members: readonly SightingFacts[],
  self: string | null,
  clock: SightingClock,
): MemberSighting[] {
  requireMs(clock.nowMs, 'nowMs');
  requireMs(clock.trackingSinceMs, 'trackingSinceMs');
  requireMs(clock.onlineWindowMs, 'onlineWindowMs');
  return members.map((m) => ({
    id: m.id,
    lastSeenMs: m.id === self ? clock.nowMs : lastSeenOf(m, clock),
    removed: m.removed === true,
  }));
}
