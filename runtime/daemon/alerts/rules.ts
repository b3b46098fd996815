/**
 * Alert rules (docs/design.md §11), pure: a snapshot of what the daemon knows now goes in, with the
 * previous rule state; the next state and the transitions (an episode opens, an episode clears)
 * come out. No I/O, no clock: `nowMs` is in the snapshot. The monitor (monitor.ts) gathers the
 * snapshot, persists the state and mails each transition, so every episode is mailed once when it
 * opens and once when it clears, across restarts.
 *
 * An episode is keyed by its kind, plus the candidate for join requests (each request is its own
 * episode). A condition must hold for its kind's hold time before the episode opens; a condition
 * that goes away before that opens nothing. A condition the daemon cannot judge now (`null`
 * exposure) leaves its episodes as they are.
 */
import type { AlertConfig } from './config.ts';

export type AlertKind = 'exposure' | 'no-backup' | 'pledge-nearly-full' | 'join-request' | 'empty-sources';

export const ALERT_KINDS: readonly AlertKind[] = [
  'exposure',
  'no-backup',
  'pledge-nearly-full',
  'join-request',
  'empty-sources',
];

/** Bound on episodes tracked at once (join requests are per candidate; a group is small). */
export const MAX_EPISODES = 64;
/** An open pledge alert clears only below `fraction - PLEDGE_HYSTERESIS` (no flapping at the line). */
export const PLEDGE_HYSTERESIS = 0.02;

export interface AlertSnapshot {
  nowMs: number;
  /**
   * This owner's backup in stripes below k + f held shards (engine `exposure`); null when it cannot
   * be judged now (no index yet, no group).
   */
  exposure: { exposedBytes: number; storedBytes: number; tolerance: number } | null;
  /** null: this node is not expected to back up (no directories, no group, nobody to hold shards). */
  backup: { watchSinceMs: number; lastSuccessMs: number | null; directories: string[] } | null;
  /** null: nothing pledged. */
  pledge: { pledgeBytes: number; storedBytes: number } | null;
  /** Join requests this node's operator decides (it issued the invite). */
  joinRequests: { candidate: string; name: string; sinceMs: number }[];
  /** The empty-directory rule refused the last backup. */
  emptySources: { reason: string; sinceMs: number; restoreHint: string } | null;
}

/** What a transition's mail says; plain JSON (it is persisted). */
export type AlertDetail =
  | { kind: 'exposure'; exposedBytes: number; storedBytes: number; tolerance: number }
  | { kind: 'no-backup'; lastSuccessMs: number | null; watchSinceMs: number; directories: string[] }
  | { kind: 'pledge-nearly-full'; pledgeBytes: number; storedBytes: number; fraction: number }
  | { kind: 'join-request'; candidate: string; name: string; sinceMs: number }
  | { kind: 'empty-sources'; reason: string; restoreHint: string };

export interface Episode {
  key: string;
  kind: AlertKind;
  /** When the condition was first seen true (the hold time counts from here). */
  conditionSinceMs: number;
  /** When the open mail was made; null while the hold time runs. */
  openedAtMs: number | null;
  detail: AlertDetail;
}

export interface AlertState {
  version: 1;
  episodes: Episode[];
}

export interface Transition {
  type: 'open' | 'clear';
  key: string;
  kind: AlertKind;
  atMs: number;
  /** When the condition began (open) / when the episode was opened (clear). */
  sinceMs: number;
  detail: AlertDetail;
}

export const EMPTY_ALERT_STATE: AlertState = { version: 1, episodes: [] };

function holdMs(kind: AlertKind, config: AlertConfig): number {
  if (kind === 'exposure') return config.exposureGraceMs;
  if (kind === 'join-request') return config.joinRequestAfterMs;
  return 0;
}

interface Condition {
  key: string;
  kind: AlertKind;
  detail: AlertDetail;
  /** When the condition began, when the data says so (a request's time); else first seen. */
  sinceMs?: number;
}

function assertSnapshot(s: AlertSnapshot): void {
  if (!Number.isFinite(s.nowMs) || s.nowMs < 0) throw new Error(`alert snapshot: bad nowMs ${s.nowMs}`);
  const bytes = (v: number, what: string): void => {
    if (!Number.isSafeInteger(v) || v < 0)
      throw new Error(`alert snapshot: ${what} must be bytes >= 0, got ${v}`);
  };
  if (s.exposure !== null) {
    bytes(s.exposure.exposedBytes, 'exposedBytes');
    bytes(s.exposure.storedBytes, 'storedBytes');
  }
  if (s.pledge !== null) {
    bytes(s.pledge.pledgeBytes, 'pledgeBytes');
    bytes(s.pledge.storedBytes, 'pledge storedBytes');
  }
}

/** The conditions that hold now; `unknown` lists kinds the snapshot cannot judge. */
function conditions(
  s: AlertSnapshot,
  config: AlertConfig,
  prev: AlertState,
): { active: Condition[]; unknown: Set<AlertKind> } {
  const active: Condition[] = [];
  const unknown = new Set<AlertKind>();
  if (s.exposure === null) unknown.add('exposure');
  else if (s.exposure.exposedBytes > 0) {
    active.push({ key: 'exposure', kind: 'exposure', detail: { kind: 'exposure', ...s.exposure } });
  }
  if (s.backup !== null) {
    const ref = s.backup.lastSuccessMs ?? s.backup.watchSinceMs;
    if (s.nowMs - ref >= config.noBackupMs) {
      active.push({
        key: 'no-backup',
        kind: 'no-backup',
        detail: {
          kind: 'no-backup',
          lastSuccessMs: s.backup.lastSuccessMs,
          watchSinceMs: s.backup.watchSinceMs,
          directories: s.backup.directories,
        },
      });
    }
  }
  if (s.pledge !== null && s.pledge.pledgeBytes > 0) {
    const fraction = s.pledge.storedBytes / s.pledge.pledgeBytes;
    const open = prev.episodes.some((e) => e.kind === 'pledge-nearly-full' && e.openedAtMs !== null);
    const line = config.pledgeNearlyFullFraction - (open ? PLEDGE_HYSTERESIS : 0);
    if (fraction >= line) {
      active.push({
        key: 'pledge-nearly-full',
        kind: 'pledge-nearly-full',
        detail: { kind: 'pledge-nearly-full', ...s.pledge, fraction },
      });
    }
  }
  for (const r of s.joinRequests) {
    active.push({
      key: `join-request:${r.candidate}`,
      kind: 'join-request',
      detail: { kind: 'join-request', ...r },
      sinceMs: r.sinceMs,
    });
  }
  if (s.emptySources !== null) {
    active.push({
      key: 'empty-sources',
      kind: 'empty-sources',
      detail: {
        kind: 'empty-sources',
        reason: s.emptySources.reason,
        restoreHint: s.emptySources.restoreHint,
      },
      sinceMs: s.emptySources.sinceMs,
    });
  }
  return { active, unknown };
}

/**
 * One step of the rules. The returned state is new (the input is not changed); `transitions` are
 * in a stable order (existing episodes first, then new ones in condition order).
 */
export function evaluateAlerts(
  prev: AlertState,
  snapshot: AlertSnapshot,
  config: AlertConfig,
): { state: AlertState; transitions: Transition[] } {
  if (prev.version !== 1) throw new Error(`alert state version ${String(prev.version)} is not 1`);
  assertSnapshot(snapshot);
  const now = snapshot.nowMs;
  const { active, unknown } = conditions(snapshot, config, prev);
  const byKey = new Map(active.map((c) => [c.key, c]));
  const transitions: Transition[] = [];
  const next: Episode[] = [];
  const maybeOpen = (e: Episode): Episode => {
    if (e.openedAtMs !== null || now - e.conditionSinceMs < holdMs(e.kind, config)) return e;
    transitions.push({
      type: 'open',
      key: e.key,
      kind: e.kind,
      atMs: now,
      sinceMs: e.conditionSinceMs,
      detail: e.detail,
    });
    return { ...e, openedAtMs: now };
  };
  for (const e of prev.episodes) {
    const c = byKey.get(e.key);
    byKey.delete(e.key);
    if (c !== undefined) next.push(maybeOpen({ ...e, detail: c.detail }));
    else if (unknown.has(e.kind)) next.push(e);
    else if (e.openedAtMs !== null)
      transitions.push({
        type: 'clear',
        key: e.key,
        kind: e.kind,
        atMs: now,
        sinceMs: e.openedAtMs,
        detail: e.detail,
      });
  }
  for (const c of byKey.values()) {
    if (next.length >= MAX_EPISODES) break; // bounded; the rest are seen on a later step
    const since = Math.min(now, c.sinceMs ?? now);
    next.push(
      maybeOpen({ key: c.key, kind: c.kind, conditionSinceMs: since, openedAtMs: null, detail: c.detail }),
    );
  }
  return { state: { version: 1, episodes: next }, transitions };
}

/** Defensive decode of a persisted state (a bad file starts fresh rather than crash the daemon). */
export function decodeAlertState(value: unknown): AlertState {
  const v = value as { version?: unknown; episodes?: unknown };
  if (v === null || typeof v !== 'object' || v.version !== 1 || !Array.isArray(v.episodes))
    throw new Error('not an alert state of version 1');
  if (v.episodes.length > MAX_EPISODES) throw new Error(`more than ${MAX_EPISODES} episodes`);
  const episodes = v.episodes.map((e: unknown, i: number): Episode => {
    const x = e as Partial<Episode>;
    const ok =
      x !== null &&
      typeof x === 'object' &&
      typeof x.key === 'string' &&
      x.key.length <= 256 &&
      ALERT_KINDS.includes(x.kind as AlertKind) &&
      typeof x.conditionSinceMs === 'number' &&
      (x.openedAtMs === null || typeof x.openedAtMs === 'number') &&
      x.detail !== null &&
      typeof x.detail === 'object' &&
      (x.detail as AlertDetail).kind === x.kind;
    if (!ok) throw new Error(`episode ${i} is malformed`);
    return x as Episode;
  });
  return { version: 1, episodes };
}
