/**
 * How the engine sees a member at a moment (docs/design.md §9): shared by repair planning,
 * exposure and status so that every rule about "live" is written once.
 *
 * - `online`: seen within `onlineWindowMs` of `nowMs`; can send and receive now.
 * - `away`: unreachable for less than the grace period; its shards count as held and are not
 *   repaired around (churn must not cost bandwidth), but it cannot serve or receive now.
 * - `lost`: unreachable for the grace period or longer; repaired around.
 * - `removed`: removed from the group (or unknown); repaired around at once.
 */
import { EngineError } from './errors.ts';

export type Availability = 'online' | 'away' | 'lost' | 'removed';

export const DEFAULT_GRACE_MS = 24 * 3600 * 1000;
export const DEFAULT_ONLINE_WINDOW_MS = 15 * 60 * 1000;
/** Upper bound on members in one call: a group is small; this bounds every per-member loop. */
export const MAX_MEMBERS = 10_000;

export interface MemberSighting {
  readonly id: string;
  /** When the member was last reachable (ms since the epoch, or virtual ms in the simulator). */
  readonly lastSeenMs: number;
  readonly removed: boolean;
}

export interface AvailabilityOptions {
  readonly nowMs: number;
  readonly graceMs?: number | undefined;
  readonly onlineWindowMs?: number | undefined;
}

export interface ResolvedTimes {
  readonly nowMs: number;
  readonly graceMs: number;
  readonly onlineWindowMs: number;
}

function requireMs(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new EngineError(
      'invalid-argument',
      `${what} must be a finite number of ms >= 0, got ${String(value)}`,
    );
  }
  return value;
}

export function resolveTimes(options: AvailabilityOptions): ResolvedTimes {
  const nowMs = requireMs(options.nowMs, 'nowMs');
  const graceMs = requireMs(options.graceMs ?? DEFAULT_GRACE_MS, 'graceMs');
  const onlineWindowMs = requireMs(options.onlineWindowMs ?? DEFAULT_ONLINE_WINDOW_MS, 'onlineWindowMs');
  if (onlineWindowMs > graceMs) {
    throw new EngineError(
      'invalid-argument',
      `onlineWindowMs (${onlineWindowMs}) must not exceed graceMs (${graceMs})`,
    );
  }
  return { nowMs, graceMs, onlineWindowMs };
}

export function availabilityOf(member: MemberSighting | undefined, times: ResolvedTimes): Availability {
  if (member === undefined || member.removed) return 'removed';
  const sinceMs = times.nowMs - member.lastSeenMs;
  if (sinceMs <= times.onlineWindowMs) return 'online';
  if (sinceMs < times.graceMs) return 'away';
  return 'lost';
}

/** Validates sightings and returns each member's availability by id. */
export function availabilityMap(
  members: readonly MemberSighting[],
  times: ResolvedTimes,
): Map<string, Availability> {
  if (!Array.isArray(members)) throw new EngineError('invalid-argument', 'members must be an array');
  if (members.length > MAX_MEMBERS) {
    throw new EngineError('invalid-argument', `at most ${MAX_MEMBERS} members, got ${members.length}`);
  }
  const out = new Map<string, Availability>();
  for (const [i, m] of members.entries()) {
    if (m === null || typeof m !== 'object' || typeof m.id !== 'string' || m.id.length === 0) {
      throw new EngineError('invalid-argument', `member[${i}] needs a non-empty string id`);
    }
    if (out.has(m.id))
      throw new EngineError('duplicate-member', `member id ${JSON.stringify(m.id)} appears twice`);
    if (typeof m.lastSeenMs !== 'number' || !Number.isFinite(m.lastSeenMs)) {
      throw new EngineError(
        'invalid-argument',
        `lastSeenMs of member ${JSON.stringify(m.id)} must be a finite number`,
      );
    }
    if (typeof m.removed !== 'boolean') {
      throw new EngineError(
        'invalid-argument',
        `removed of member ${JSON.stringify(m.id)} must be a boolean`,
      );
    }
    out.set(m.id, availabilityOf(m, times));
  }
  return out;
}

/** A held shard: on a member that is not removed and not lost (online or away within grace). */
export function holds(a: Availability | undefined): boolean {
  return a === 'online' || a === 'away';
}
